"""The edge Envoy: its bootstrap from the running replicas, its process, its readiness."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.envoy_config import EdgeConfig, build_descriptor_set, write_config
from scripts.stack import probes
from scripts.stack.children import Child, Console
from scripts.stack.settings import StackSettings

ENVOY = Path(sys.executable).parent / "envoy"
REST_LISTENER = "rest"
GRPC_LISTENER = "internal"
DESCRIPTOR_SET = "paymesh.pb"
ADMIN_ADDRESS_FILE = "admin-address"
# A file, not stdout: under load the access log would flood the terminal, and a
# pipe the supervisor reads slower than Envoy writes would slow Envoy down.
ACCESS_LOG = "access.log"


@dataclass(frozen=True)
class EdgeReady:
    """Where the running Envoy listens."""

    admin_url: str
    rest_port: int
    grpc_port: int


async def build_descriptors(settings: StackSettings) -> Path:
    """Compile the protos into the descriptor set the transcoder reads (protoc, about 1 s)."""
    path = settings.envoy_dir / DESCRIPTOR_SET
    # protoc runs as a subprocess inside; a thread keeps the event loop (and the
    # children's output) moving meanwhile.
    await asyncio.to_thread(build_descriptor_set, path)
    return path


def write_bootstrap(
    settings: StackSettings, descriptor_set: Path, upstreams: Mapping[str, Sequence[str]]
) -> Path:
    """Write <var>/envoy/envoy.json for ``upstreams`` (cluster -> host:port of every replica)."""
    config = EdgeConfig(
        rest_addr=settings.rest_addr,
        internal_addr=settings.grpc_addr,
        admin_addr=settings.admin_addr,
        upstreams={name: list(addrs) for name, addrs in upstreams.items()},
        pki_dir=settings.pki_dir,
        descriptor_set=descriptor_set,
        access_log_path=str(settings.envoy_dir / ACCESS_LOG),
        require_client_cert=settings.require_client_cert,
    )
    return write_config(config, settings.envoy_dir)


def envoy_child(settings: StackSettings, config: Path, console: Console) -> Child:
    """The Envoy process (not started yet); its admin address goes to a file."""
    admin_file = settings.envoy_dir / ADMIN_ADDRESS_FILE
    admin_file.unlink(missing_ok=True)  # a previous run's address must not be read
    argv = [
        str(ENVOY),
        "-c", str(config),
        "--admin-address-path", str(admin_file),
        # Tests and other stacks may run Envoys on this machine; each needs its own
        # shared-memory base id.
        "--use-dynamic-base-id",
        "--log-level", "warning",
        # Access log lines reach the file within a second (Envoy's default is 10 s),
        # so `tail -f var/envoy/access.log` follows the requests as they happen.
        "--file-flush-interval-msec", "1000",
        # A drain (see ``drain``) closes idle connections at once instead of over 600 s.
        "--drain-time-s", "1",
        "--drain-strategy", "immediate",
    ]  # fmt: skip
    return Child("envoy", argv, os.environ, cwd=settings.repo_root, console=console)


# Requests in flight on both listeners' connection managers (their stat_prefix is the
# listener's name). Not "http.admin.": the admin API counts the very /stats request asking,
# so a drain matching it never saw zero and always waited its full time.
_ACTIVE_REQUESTS = {
    "filter": rf"^http\.({REST_LISTENER}|{GRPC_LISTENER})\.downstream_rq_active$",
    "format": "json",
}


async def drain(admin_url: str, timeout_s: float) -> int:
    """Stop accepting connections and wait for in-flight requests; returns those left.

    Envoy exits at once on SIGTERM, cutting requests in flight. Draining the
    listeners first (admin ``/drain_listeners?graceful``) refuses new connections
    and lets active requests finish, for at most ``timeout_s``.
    """
    async with httpx.AsyncClient(base_url=admin_url, timeout=1.0) as client:
        try:
            await client.post("/drain_listeners", params={"graceful": ""})
        except httpx.HTTPError:
            return -1  # Envoy is already gone or wedged: the caller stops it anyway
        deadline = asyncio.get_running_loop().time() + timeout_s
        active = 0
        while True:
            try:
                reply = await client.get("/stats", params=_ACTIVE_REQUESTS)
                active = sum(int(s.get("value", 0)) for s in reply.json().get("stats", []))
            except (httpx.HTTPError, ValueError):
                return -1
            if active == 0 or asyncio.get_running_loop().time() >= deadline:
                return active
            await asyncio.sleep(0.05)


async def wait_ready(
    settings: StackSettings, envoy: Child, expected_hosts: Mapping[str, int]
) -> EdgeReady:
    """Return once Envoy is LIVE, both listeners are bound and every upstream host is healthy."""
    admin_url = await probes.envoy_admin_url(settings.envoy_dir / ADMIN_ADDRESS_FILE, envoy)
    async with httpx.AsyncClient(base_url=admin_url, timeout=2.0) as client:
        ports = await probes.envoy_listeners(client, (REST_LISTENER, GRPC_LISTENER), envoy)
        await probes.envoy_upstreams(client, expected_hosts, envoy)
    return EdgeReady(admin_url, ports[REST_LISTENER], ports[GRPC_LISTENER])
