"""The start-up steps, each reported as ``[n/total] what (seconds)``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from scripts.stack import databases, edge, sandbox, smoke, stackfile
from scripts.stack.children import Child, Console, describe_exit, run_once
from scripts.stack.databases import ServiceDatabase
from scripts.stack.fleet import Fleet, Replica
from scripts.stack.ports import split_addr
from scripts.stack.probes import mtls
from scripts.stack.services import ServiceSpec, command
from scripts.stack.settings import StackSettings

# The supervisor's own health probes present Envoy's certificate: see probes.py.
PROBE_WORKLOAD = "envoy"
ADMIN_SERVICE = "identity"

Watch = Callable[[Child, Replica | None], None]


class StartupError(RuntimeError):
    """A step failed; the message says which and why."""


class Steps:
    """One start-up of the stack, and what it learned on the way."""

    def __init__(
        self,
        settings: StackSettings,
        console: Console,
        specs: Sequence[ServiceSpec],
        dbs: Mapping[str, ServiceDatabase],
        fleet: Fleet,
    ) -> None:
        self._s = settings
        self._console = console
        self._specs = tuple(specs)
        self._dbs = dict(dbs)
        self._fleet = fleet
        self._waiting: set[str] = set()
        self._done = 0
        self._creates_db = any(db.create and db.postgres for db in self._dbs.values())
        admin = self._dbs.get(ADMIN_SERVICE)
        self._admin_key_file = (
            None
            if admin is None
            else settings.var_dir / ADMIN_SERVICE / databases.admin_key_name(admin, settings)
        )
        # pki, [databases], sandbox, migrate and ready per service, envoy, [admin key],
        # through the edge.
        extra = int(self._creates_db) + int(self._admin_key_file is not None)
        self._total = 4 + 2 * len(self._specs) + extra
        self._started = time.monotonic()
        self.sandbox = sandbox.child(settings, console)
        self._sandbox: sandbox.SandboxReady | None = None
        self.envoy: Child | None = None
        self._edge: edge.EdgeReady | None = None
        self._admin_key = ""
        self._callbacks_to = ""
        """Where the sandbox sends its provider callbacks ("" for nowhere)."""

    @property
    def edge_admin_url(self) -> str | None:
        """Envoy's admin URL once Envoy is ready, else None."""
        return None if self._edge is None else self._edge.admin_url

    def names(self) -> list[str]:
        """Names the start-up's own processes print under."""
        names = ["pki", "identity-bootstrap", *(f"{s.name}-migrate" for s in self._specs)]
        return [*names, sandbox.NAME]

    def probe_creds(self) -> grpc.ChannelCredentials:
        return mtls(self._s.pki_dir, PROBE_WORKLOAD)

    async def run(self, watch: Watch) -> None:
        """Every step in order; raises ``StartupError`` naming what failed or timed out."""
        self._started = time.monotonic()
        deadline = asyncio.timeout(self._s.start_timeout_s)
        try:
            async with deadline:
                await self._pki()
                # protoc runs while the databases are prepared and the services start;
                # the sandbox starts up meanwhile too.
                descriptors = asyncio.create_task(edge.build_descriptors(self._s))
                try:
                    sandbox_started = await self._start_sandbox(watch)
                    await self._databases()
                    await self._sandbox_ready(sandbox_started)
                    await self._services(watch)
                    with self._awaiting("the proto descriptor set"):
                        descriptor_set = await descriptors
                finally:
                    descriptors.cancel()
                await self._envoy(descriptor_set, watch)
                await self._admin()
                await self._through_edge()
        except TimeoutError:
            if not deadline.expired():
                raise
            waiting = ", ".join(sorted(self._waiting)) or "nothing in particular"
            raise StartupError(
                f"not ready after {self._s.start_timeout_s:g} s (PAYMESH_START_TIMEOUT_S);"
                f" still waiting for: {waiting}"
            ) from None

    @contextlib.contextmanager
    def _awaiting(self, what: str) -> Iterator[None]:
        self._waiting.add(what)
        yield
        # Not in a finally: when the deadline cancels the wait, the label must
        # still be there for the timeout message to name it.
        self._waiting.discard(what)

    def _step(self, text: str, started: float) -> None:
        self._done += 1
        elapsed = time.monotonic() - started
        self._console.say(f"[{self._done}/{self._total}] {text} ({elapsed:.1f} s)")

    def _shown(self, path: Path) -> str:
        return stackfile.shown_path(path, self._s.repo_root)

    async def _once(self, name: str, argv: list[str], env: Mapping[str, str], shown: bool) -> None:
        child = Child(name, argv, env, cwd=self._s.repo_root, console=self._console, shown=shown)
        with self._awaiting(name):
            returncode = await run_once(child)
        if returncode != 0:
            # Output already shown above needs only its end (the exception) repeated here.
            lines = list(child.tail)[-3:] if shown else list(child.tail)
            tail = "\n".join(f"    {line}" for line in lines)
            raise StartupError(f"{name} failed ({describe_exit(returncode)}):\n{tail}")

    async def _pki(self) -> None:
        started, pki = time.monotonic(), self._s.pki_dir
        fresh = not (pki / "ca.pem").exists()
        argv = [sys.executable, "-m", "svc_kit.pki", "init", "--dir", str(pki)]
        await self._once("pki", argv, os.environ, shown=False)
        what = "new development CA and certificates in" if fresh else "development PKI in"
        self._step(f"{what} {self._shown(pki)}", started)

    async def _databases(self) -> None:
        if self._creates_db:
            started = time.monotonic()
            with self._awaiting("PostgreSQL"):
                created = await databases.create_missing(self._dbs)
            names = ", ".join(self._dbs[s.name].label(self._s.repo_root) for s in self._specs)
            news = f"; created {', '.join(created)}" if created else ", all there"
            self._step(f"databases: {names}{news}", started)

        sqlite = [
            s.name
            for s in self._specs
            if not self._dbs[s.name].postgres and self._s.count(s.name) > 1
        ]
        if sqlite:
            self._console.say(
                f"note: the {', '.join(sqlite)} replicas share one SQLite file each: safe"
                " (scripts/stack/databases.py says why), but their writes take turns;"
                " set PAYMESH_DATABASE_URL to measure scaling"
            )

        async def migrate(spec: ServiceSpec) -> None:
            started = time.monotonic()
            argv = command(spec, "migrate")
            await self._once(f"{spec.name}-migrate", argv, self._fleet.env(spec), shown=True)
            where = self._dbs[spec.name].label(self._s.repo_root)
            self._step(f"{spec.name} schema up to date ({where})", started)

        await asyncio.gather(*(migrate(s) for s in self._specs))

    async def _start_sandbox(self, watch: Watch) -> float:
        started = time.monotonic()
        await sandbox.start(self._s, self.sandbox)
        watch(self.sandbox, None)
        return started

    async def _sandbox_ready(self, started: float) -> None:
        """Wait for the sandbox, then point each spec that uses it at its simulators."""
        with self._awaiting("sandbox: its ports file and GET /healthz over the dev CA"):
            self._sandbox = ready = await sandbox.wait_ready(self._s, self.sandbox)
        elsewhere: list[str] = []
        for spec in self._specs:
            if spec.uses_sandbox:
                env = self._fleet.env(spec)
                ca_file = self._s.pki_dir / "ca.pem"
                self._fleet.add_defaults(
                    spec, sandbox.provider_env(ready, spec.prefix, ca_file, env)
                )
                elsewhere += [
                    f"{spec.prefix}_{p.upper()}__BASE_URL"
                    for p in sandbox.redirected(ready, spec.prefix, env)
                ]
        note = f"; {', '.join(elsewhere)} set: not the sandbox" if elsewhere else ""
        self._step(f"sandbox ready at {ready.url}: {', '.join(ready.providers)}{note}", started)

    async def _services(self, watch: Watch) -> None:
        for replica in self._fleet.replicas:
            await self._fleet.start(replica)
            watch(replica.child, replica)
        creds = self.probe_creds()

        async def ready(spec: ServiceSpec) -> None:
            started = time.monotonic()
            replicas = self._fleet.of(spec)

            async def one(replica: Replica) -> None:
                with self._awaiting(f"{replica.name} health (SERVING)"):
                    await self._fleet.ready(replica, creds)

            await asyncio.gather(*(one(r) for r in replicas))
            count = f": {len(replicas)} replicas" if len(replicas) > 1 else ""
            self._step(f"{spec.name} ready{count}", started)

        await asyncio.gather(*(ready(s) for s in self._specs))

    async def _envoy(self, descriptor_set: Path, watch: Watch) -> None:
        started = time.monotonic()
        upstreams = self._fleet.upstreams()
        config = edge.write_bootstrap(self._s, descriptor_set, upstreams)
        self.envoy = edge.envoy_child(self._s, config, self._console)
        await self.envoy.start()
        watch(self.envoy, None)
        with self._awaiting("envoy: listeners bound and every upstream healthy"):
            self._edge = await edge.wait_ready(
                self._s, self.envoy, {name: len(addrs) for name, addrs in upstreams.items()}
            )
        hosts = sum(len(a) for a in upstreams.values())
        callbacks = await self._point_callbacks()
        self._step(
            f"envoy ready: REST :{self._edge.rest_port}, gRPC :{self._edge.grpc_port},"
            f" {hosts} upstream hosts healthy in {len(upstreams)} clusters; {callbacks}",
            started,
        )

    async def _point_callbacks(self) -> str:
        """The sandbox's provider callbacks to Envoy's REST listener (the gateway's public
        route), now that it listens; what the envoy step says about it."""
        assert self._sandbox is not None
        with self._awaiting("the sandbox: its callback target (POST /_control/webhooks)"):
            self._callbacks_to = await sandbox.point_callbacks(
                self._s, self._sandbox, self._urls()[0], os.environ
            )
        if not self._callbacks_to:
            return f"sandbox callbacks off ({sandbox.WEBHOOK_TARGET_ENV} is empty)"
        return f"sandbox callbacks to {self._callbacks_to}/v1/provider-webhooks/<provider>"

    async def _admin(self) -> None:
        key_file = self._admin_key_file
        if key_file is None:
            return
        started = time.monotonic()
        spec = next(s for s in self._specs if s.name == ADMIN_SERVICE)
        verb = "kept"
        if not key_file.exists():
            argv = command(spec, "bootstrap-admin", "--output", str(key_file))
            await self._once("identity-bootstrap", argv, self._fleet.env(spec), shown=True)
            verb = "created"
        self._admin_key = key_file.read_text(encoding="utf-8").strip()
        self._step(f"platform admin key {verb}: {self._shown(key_file)}", started)

    async def _through_edge(self) -> None:
        assert self._edge is not None
        started = time.monotonic()
        with self._awaiting("a REST and a gRPC call through envoy"):
            rest_url, grpc_url = self._urls()
            grpc_target = grpc_url.removeprefix("https://")
            done = await smoke.through_edge(
                rest_url, grpc_target, self._s.pki_dir, self._admin_key, self._smoke_provider()
            )
        self._step(f"through envoy: {done}", started)

    def _smoke_provider(self) -> str | None:
        """The provider of the smoke payment: the sandbox's, never one the caller pointed
        at a real host; None while ``smoke.PAYMENT_SMOKE`` is off (see smoke.py)."""
        ready = self._sandbox
        gateway = next((s for s in self._specs if s.uses_sandbox), None)
        if not smoke.PAYMENT_SMOKE or ready is None or gateway is None:
            return None
        elsewhere = sandbox.redirected(ready, gateway.prefix, self._fleet.env(gateway))
        if smoke.PAYMENT_PROVIDER in elsewhere or smoke.PAYMENT_PROVIDER not in ready.providers:
            return None
        return smoke.PAYMENT_PROVIDER

    def _urls(self) -> tuple[str, str]:
        assert self._edge is not None
        rest_host = stackfile.url_host(split_addr(self._s.rest_addr)[0])
        grpc_host = stackfile.url_host(split_addr(self._s.grpc_addr)[0])
        return (
            f"https://{rest_host}:{self._edge.rest_port}",
            f"https://{grpc_host}:{self._edge.grpc_port}",
        )

    def stack(self) -> dict[str, Any]:
        """What stack.json holds: every path absolute."""
        assert self._edge is not None and self.envoy is not None and self._sandbox is not None
        rest_url, grpc_url = self._urls()
        pki, envoy_dir = self._s.pki_dir, self._s.envoy_dir
        return {
            "rest_url": rest_url,
            "grpc_url": grpc_url,
            "envoy_admin_url": self._edge.admin_url,
            "sandbox_url": self._sandbox.url,
            "ca_cert": str(pki / "ca.pem"),
            "client_cert": str(pki / "client.pem"),
            "client_key": str(pki / "client-key.pem"),
            "admin_api_key": self._admin_key,
            "admin_api_key_file": str(self._admin_key_file or ""),
            "supervisor_pid": os.getpid(),
            "var_dir": str(self._s.var_dir),
            "sandbox": {
                **sandbox.describe(self._sandbox, self.sandbox),
                "webhook_target": self._callbacks_to,
            },
            "envoy": {
                "pid": self.envoy.pid,
                "config": str(envoy_dir / "envoy.json"),
                "access_log": str(envoy_dir / edge.ACCESS_LOG),
            },
            "services": {
                spec.name: {
                    "database": self._dbs[spec.name].shown,
                    "replicas": [r.describe() for r in self._fleet.of(spec)],
                }
                for spec in self._specs
            },
        }

    def write_stack_file(self) -> None:
        stackfile.write(self._s.stack_file, self.stack())

    def announce(self) -> None:
        """stack.json, then the banner with commands to paste."""
        self.write_stack_file()
        stack, say = self.stack(), self._console.say
        counts = ", ".join(f"{s.name} x{len(self._fleet.of(s))}" for s in self._specs)
        elapsed = time.monotonic() - self._started
        say(f"paymesh is up in {elapsed:.1f} s: {counts} behind envoy. Ctrl-C stops everything.")
        for line in stackfile.where(stack, self._s.repo_root, self._s.stack_file):
            say(line)
        say("Try:")
        self._console.raw(stackfile.try_it(stack, self._s.repo_root))
