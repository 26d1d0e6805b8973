"""The health probes docker-compose.yml declares, run for real with the file's own argv.

The services' probe (docker/healthcheck.py) asks grpc.health.v1 over mTLS of a real
ServiceHost, presenting Envoy's certificate as the allow-list requires; the sandbox's asks
a real sandbox's /healthz over TLS; Envoy's probe (bash, /dev/tcp, /ready) asks a real
Envoy's admin API. Each must pass on a healthy target and fail on every other.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import SettingsConfigDict

from identity_svc.app import create_app as create_identity
from identity_svc.settings import IdentitySettings
from sandbox.config import SandboxConfig
from sandbox.registry import load_factories
from sandbox.testing import SandboxHandle, running_sandbox
from sandbox.tls import ensure_pki_cert
from svc_kit.grpc_errors import ErrorMapper
from svc_kit.pki import write_dev_pki
from svc_kit.server import ServiceHost
from svc_kit.settings import ServiceSettings
from tests.e2e.envoy_support import run_envoy
from tests.e2e.envoy_support import socket_address as loopback
from tests.integration.edge.compose_support import (
    REPO,
    SANDBOX,
    local_argv,
    resolved_services,
)


class _KitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_TEST_", extra="forbid")


class _Health:
    """What the host's health probe answers; a test flips it."""

    def __init__(self) -> None:
        self.ok = True

    async def __call__(self) -> bool:
        return self.ok


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return resolved_services()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("compose-pki")
    write_dev_pki(directory, ["identity", "envoy", "client"])
    return directory


@pytest.fixture
async def served(pki: Path) -> AsyncIterator[tuple[int, _Health]]:
    """A ServiceHost over mTLS with the identity certificate, on a port the kernel picks."""
    health = _Health()
    settings = _KitSettings(
        listen_addr="127.0.0.1:0",
        tls_cert_file=str(pki / "identity.pem"),
        tls_key_file=str(pki / "identity-key.pem"),
        tls_ca_file=str(pki / "ca.pem"),
        health_probe_interval_s=0.05,
    )
    host = ServiceHost(
        name="compose-probe",
        settings=settings,
        bindings=[],
        error_mapper=ErrorMapper({}, domain="kit.paymesh.local"),
        health_probe=health,
    )
    yield await host.start(), health
    await host.stop(0)


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    # Bound but never listening: connections are refused, and no one else can take it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def _probe(service: dict[str, Any], env: dict[str, str]) -> tuple[int, str]:
    """Run ``service``'s healthcheck as Docker would (minus "CMD"); (exit code, output)."""
    argv = local_argv(service["healthcheck"]["test"][1:], {})
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.fixture
async def identity(pki: Path, tmp_path: Path) -> AsyncIterator[ServiceHost]:
    """The real identity service: IdentityService on gRPC, the ext_authz check on HTTP."""
    settings = IdentitySettings(
        listen_addr="127.0.0.1:0",
        authz_http_listen_addr="127.0.0.1:0",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}",
        key_pepper_file=str(tmp_path / "pepper"),
        tls_cert_file=str(pki / "identity.pem"),
        tls_key_file=str(pki / "identity-key.pem"),
        tls_ca_file=str(pki / "ca.pem"),
    )
    host = await create_identity(settings)
    await host.start()
    yield host
    await host.stop(0)


async def test_the_identity_probe_passes_when_both_listeners_serve(
    services: dict[str, Any], identity: ServiceHost, pki: Path
) -> None:
    # 0.0.0.0 and an empty host are how a service listens in its container: dialled on loopback.
    env = {
        "IDENTITY_TLS_CA_FILE": str(pki / "ca.pem"),
        "IDENTITY_LISTEN_ADDR": f"0.0.0.0:{identity.port}",
        "IDENTITY_AUTHZ_HTTP_LISTEN_ADDR": f":{identity.side_ports['authz_http']}",
    }
    rc, out = await _probe(services["identity"], env)
    assert (rc, out) == (
        0,
        "healthcheck: IDENTITY SERVING on LISTEN_ADDR, AUTHZ_HTTP_LISTEN_ADDR\n",
    )


async def test_the_identity_probe_names_the_listener_that_does_not_answer(
    services: dict[str, Any], identity: ServiceHost, pki: Path
) -> None:
    with _closed_port() as closed:
        env = {
            "IDENTITY_TLS_CA_FILE": str(pki / "ca.pem"),
            "IDENTITY_LISTEN_ADDR": f"127.0.0.1:{identity.port}",
            "IDENTITY_AUTHZ_HTTP_LISTEN_ADDR": f"127.0.0.1:{closed}",
        }
        rc, out = await _probe(services["identity"], env)
    assert rc == 1
    assert "IDENTITY_AUTHZ_HTTP_LISTEN_ADDR" in out and "ConnectionRefusedError" in out
    assert "IDENTITY_LISTEN_ADDR" not in out.replace("IDENTITY_AUTHZ_HTTP_LISTEN_ADDR", "")


async def test_the_probe_fails_while_the_service_reports_not_serving(
    services: dict[str, Any], served: tuple[int, _Health], pki: Path
) -> None:
    port, health = served
    health.ok = False
    await asyncio.sleep(0.3)  # a few of the host's 0.05 s probe intervals
    env = {"LEDGER_TLS_CA_FILE": str(pki / "ca.pem"), "LEDGER_LISTEN_ADDR": f"0.0.0.0:{port}"}
    rc, out = await _probe(services["ledger"], env)
    assert rc == 1 and "LEDGER_LISTEN_ADDR" in out and "NOT_SERVING" in out


async def test_the_probe_fails_when_the_service_does_not_trust_its_certificate(
    services: dict[str, Any], served: tuple[int, _Health], pki: Path, tmp_path: Path
) -> None:
    # It trusts the service's CA, but presents an envoy certificate of another CA.
    write_dev_pki(tmp_path / "other", ["envoy"])
    (tmp_path / "probe").mkdir()
    shutil.copy(pki / "ca.pem", tmp_path / "probe" / "ca.pem")
    for name in ("envoy.pem", "envoy-key.pem"):
        shutil.copy(tmp_path / "other" / name, tmp_path / "probe" / name)
    port, _ = served
    env = {
        "LEDGER_TLS_CA_FILE": str(tmp_path / "probe" / "ca.pem"),
        "LEDGER_LISTEN_ADDR": f"127.0.0.1:{port}",
    }
    rc, out = await _probe(services["ledger"], env)
    assert rc == 1 and "UNAVAILABLE" in out


async def test_only_envoys_certificate_passes_the_services_allow_list(
    services: dict[str, Any], served: tuple[int, _Health], pki: Path
) -> None:
    # Why the probe presents envoy.pem: a valid certificate of another workload is refused.
    port, _ = served
    probe = {
        "healthcheck": {"test": [*services["ledger"]["healthcheck"]["test"], "--as", "client"]}
    }
    env = {"LEDGER_TLS_CA_FILE": str(pki / "ca.pem"), "LEDGER_LISTEN_ADDR": f"127.0.0.1:{port}"}
    rc, out = await _probe(probe, env)
    assert rc == 1 and "PERMISSION_DENIED" in out


@pytest.fixture
async def provider_sandbox(pki: Path) -> AsyncIterator[SandboxHandle]:
    """A real sandbox serving its dev-PKI certificate, as `python -m sandbox --pki-dir`."""
    factories, _ = load_factories(["stripe"])
    async with running_sandbox(
        factories, SandboxConfig(), cert=ensure_pki_cert(pki), ca_file=pki / "ca.pem"
    ) as handle:
        yield handle


async def test_the_sandbox_probe_passes_on_a_serving_sandbox_without_a_client_certificate(
    services: dict[str, Any], provider_sandbox: SandboxHandle, pki: Path, tmp_path: Path
) -> None:
    # Only the CA in the directory: the probe must not need a workload key to ask the sandbox.
    (tmp_path / "ca").mkdir()
    shutil.copy(pki / "ca.pem", tmp_path / "ca" / "ca.pem")
    env = {
        "SANDBOX_TLS_CA_FILE": str(tmp_path / "ca" / "ca.pem"),
        "SANDBOX_LISTEN_ADDR": f"0.0.0.0:{provider_sandbox.running.port}",
    }
    rc, out = await _probe(services[SANDBOX], env)
    assert (rc, out) == (0, "healthcheck: SANDBOX SERVING on LISTEN_ADDR\n")


async def test_the_sandbox_probe_fails_when_nothing_listens_or_another_ca_signed_it(
    services: dict[str, Any], provider_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    write_dev_pki(tmp_path / "other", [])
    strange = {
        "SANDBOX_TLS_CA_FILE": str(tmp_path / "other" / "ca.pem"),
        "SANDBOX_LISTEN_ADDR": f"127.0.0.1:{provider_sandbox.running.port}",
    }
    with _closed_port() as closed:
        closed_env = {**strange, "SANDBOX_LISTEN_ADDR": f"127.0.0.1:{closed}"}
        refused = await _probe(services[SANDBOX], closed_env)
    untrusted = await _probe(services[SANDBOX], strange)

    assert refused[0] == 1 and "ConnectionRefusedError" in refused[1]
    assert untrusted[0] == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted[1]


class _NotReady(BaseHTTPRequestHandler):
    """An admin API that is up but not LIVE: /ready answers 503."""

    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _envoy_probe(services: dict[str, Any], admin_port: int) -> int:
    # docker-compose config writes $ escaped as $$, as in the file; the container gets $.
    argv = [a.replace("$$", "$") for a in services["envoy"]["healthcheck"]["test"][1:]]
    assert argv[-1] == "9901"  # the admin port the envoy-config job gives Envoy
    argv[-1] = str(admin_port)
    return subprocess.run(argv, capture_output=True, check=False, timeout=10).returncode  # noqa: S603


def test_envoys_probe_passes_on_a_live_envoy(services: dict[str, Any], tmp_path: Path) -> None:
    config = {"admin": {"address": loopback(0)}, "static_resources": {"listeners": []}}
    with run_envoy(config, tmp_path) as envoy:
        assert _envoy_probe(services, int(envoy.admin_url.rpartition(":")[2])) == 0


def test_envoys_probe_fails_when_not_ready_or_not_listening(services: dict[str, Any]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotReady)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _envoy_probe(services, server.server_address[1]) == 1
    finally:
        server.shutdown()
        server.server_close()
    with _closed_port() as closed:
        assert _envoy_probe(services, closed) != 0
