"""Every replica of every service: start, wait for health, restart, stop.

A replica that dies while others of its service still serve is restarted on
the ports it had (Envoy's clusters list those ports, and its active health
check brings the replica back into rotation), at most ``MAX_RESTARTS`` times.
The supervisor decides when that applies; this module only knows how.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from scripts.stack import probes
from scripts.stack.children import Child, Console
from scripts.stack.databases import ServiceDatabase
from scripts.stack.services import (
    ServiceSpec,
    base_env,
    command,
    replica_env,
    replica_names,
    shutdown_grace_s,
)
from scripts.stack.settings import StackSettings

MAX_RESTARTS = 3
# Beyond the service's own drain time: interpreter exit, pool disposal.
_STOP_MARGIN_S = 3.0


@dataclass
class Replica:
    """One process of a service, and where it listens once it has said so."""

    spec: ServiceSpec
    name: str
    child: Child
    ports: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0

    def port(self, key: str) -> int:
        value = self.ports.get(key)
        if not isinstance(value, int) or value <= 0:
            raise RuntimeError(f"{self.name} published no {key!r} port: {self.ports}")
        return value

    def describe(self) -> dict[str, Any]:
        """This replica in stack.json."""
        listeners = {key: self.ports.get(key) for key in self.spec.listeners}
        return {"name": self.name, "pid": self.child.pid, "restarts": self.restarts, **listeners}


class Fleet:
    """The replicas of ``specs``, as many of each as the settings say (``count``)."""

    def __init__(
        self,
        settings: StackSettings,
        console: Console,
        specs: Sequence[ServiceSpec],
        databases: Mapping[str, ServiceDatabase],
    ) -> None:
        self._settings = settings
        self._console = console
        self._envs = {s.name: base_env(s, settings, databases[s.name].url) for s in specs}
        self.replicas = [
            Replica(spec, name, self._child(spec, name))
            for spec in specs
            for name in replica_names(spec, settings.count(spec.name))
        ]

    def _ports_file(self, name: str) -> Path:
        return self._settings.run_dir / f"{name}.ports.json"

    def _child(self, spec: ServiceSpec, name: str, bind: Mapping[str, int] | None = None) -> Child:
        env = replica_env(spec, self._envs[spec.name], self._ports_file(name), bind)
        return Child(
            name, command(spec, "serve"), env, cwd=self._settings.repo_root, console=self._console
        )

    def of(self, spec: ServiceSpec) -> list[Replica]:
        return [r for r in self.replicas if r.spec is spec]

    def env(self, spec: ServiceSpec) -> dict[str, str]:
        """The environment the stack gives ``spec``'s processes (migrate, bootstrap, serve)."""
        return dict(self._envs[spec.name])

    def add_defaults(self, spec: ServiceSpec, values: Mapping[str, str]) -> None:
        """Settings learnt during start-up (the sandbox's URL), for replicas not started yet.

        Defaults only: a variable the environment already sets keeps its value.
        """
        env = self._envs[spec.name]
        for name, value in values.items():
            env.setdefault(name, value)
        for replica in self.of(spec):
            if not replica.child.started:
                replica.child = self._child(spec, replica.name)

    async def start(self, replica: Replica) -> None:
        # A previous run's file would announce ports nobody listens on.
        self._ports_file(replica.name).unlink(missing_ok=True)
        replica.ports = {}
        await replica.child.start()

    async def ready(self, replica: Replica, creds: grpc.ChannelCredentials) -> None:
        """Return once ``replica`` has published its ports and each listener serves."""
        replica.ports = await probes.ports_file(self._ports_file(replica.name), replica.child)
        # HTTP listeners (identity's check listener) are proven by Envoy's own
        # active health check, which the stack waits for before it is ready.
        for key in replica.spec.listeners:
            if key not in replica.spec.http_listeners:
                await probes.serving(replica.port(key), creds, replica.child)

    async def restart(self, replica: Replica, creds: grpc.ChannelCredentials) -> None:
        """Start ``replica`` again on the ports it had; return once it serves there."""
        before = {key: replica.port(key) for key in replica.spec.listeners}
        replica.restarts += 1
        replica.child = self._child(replica.spec, replica.name, bind=before)
        await self.start(replica)
        await self.ready(replica, creds)
        after = {key: replica.port(key) for key in replica.spec.listeners}
        if after != before:  # Envoy would keep sending to the old ports
            raise RuntimeError(f"{replica.name} came back on {after}, not on {before}")

    def upstreams(self) -> dict[str, list[str]]:
        """Envoy cluster -> the host:port of every replica serving it."""
        clusters: dict[str, list[str]] = {}
        for replica in self.replicas:
            for cluster, key in replica.spec.clusters.items():
                clusters.setdefault(cluster, []).append(f"127.0.0.1:{replica.port(key)}")
        return clusters

    def started(self) -> list[Replica]:
        """The replicas whose process was started (running or not)."""
        return [r for r in self.replicas if r.child.started]

    async def stop(self, force: asyncio.Event) -> list[str]:
        """Stop every replica at once, each within its grace; the names that had to be killed."""
        started = self.started()

        async def one(replica: Replica) -> bool:
            grace = shutdown_grace_s(replica.spec, self._envs[replica.spec.name])
            return await replica.child.stop(grace + _STOP_MARGIN_S, force)

        clean = await asyncio.gather(*(one(r) for r in started))
        return [r.name for r, ok in zip(started, clean, strict=True) if not ok]
