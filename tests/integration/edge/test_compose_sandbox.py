"""docker-compose.yml's provider sandbox, and the gateway's view of it, checked with no engine.

The gateway must dial the sandbox by its compose host name and its listen port, trust the CA
that issued its certificate, and that certificate must name "sandbox"; the sandbox's probe
must read the address and CA the sandbox itself runs with. The probe against a live sandbox:
test_compose_healthchecks.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sandbox.registry import PROVIDERS
from sandbox.tls import ensure_pki_cert
from tests.integration.edge.compose_support import (
    REPO,
    SANDBOX,
    env,
    flags,
    local_argv,
    mounts,
    port,
    resolved_services,
)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return resolved_services()


def _sandbox_flags(services: dict[str, Any]) -> dict[str, str]:
    argv: list[str] = services[SANDBOX]["command"]
    assert argv[:3] == ["python", "-m", "sandbox"]
    return flags(argv)


def test_the_gateway_calls_every_provider_at_the_sandbox_trusting_the_dev_ca(
    services: dict[str, Any],
) -> None:
    gateway = env(services["gateway"])
    listen = port(_sandbox_flags(services)["--listen"])
    pki_dir = flags(services["pki"]["command"])["--dir"]

    urls = {p: gateway.get(f"GATEWAY_{p.upper()}__BASE_URL") for p in PROVIDERS}
    cas = {p: gateway.get(f"GATEWAY_{p.upper()}__CA_FILE") for p in PROVIDERS}

    assert urls == {p: f"https://{SANDBOX}:{listen}/{p}" for p in PROVIDERS}
    assert cas == dict.fromkeys(PROVIDERS, f"{pki_dir}/ca.pem")
    assert gateway["GATEWAY_TLS_CA_FILE"] == f"{pki_dir}/ca.pem"


def test_the_gateway_reaches_the_ledger_and_audit_through_envoys_internal_listener(
    services: dict[str, Any],
) -> None:
    gateway = env(services["gateway"])
    internal = port(flags(services["envoy-config"]["command"])["--internal-addr"])

    assert gateway["GATEWAY_LEDGER_ADDR"] == f"envoy:{internal}"
    assert gateway["GATEWAY_IDENTITY_ADDR"] == f"envoy:{internal}"


def test_the_sandbox_serves_the_pki_jobs_certificate_from_the_shared_volume_read_only(
    services: dict[str, Any],
) -> None:
    pki_dir = flags(services["pki"]["command"])["--dir"]

    assert _sandbox_flags(services)["--pki-dir"] == pki_dir
    assert mounts(services[SANDBOX])[pki_dir] == mounts(services["pki"])[pki_dir]
    assert f"pki:{pki_dir}:ro" in services[SANDBOX]["volumes"]


def test_the_sandbox_keeps_the_certificate_the_pki_job_issued_for_its_host_name(
    services: dict[str, Any], tmp_path: Path
) -> None:
    job = local_argv(services["pki"]["command"], {"--dir": str(tmp_path)})
    done = subprocess.run(job, cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr
    issued = (tmp_path / "sandbox.pem").read_bytes()

    cert_path, _ = ensure_pki_cert(tmp_path)  # what `python -m sandbox --pki-dir` serves

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert cert_path.read_bytes() == issued  # kept, not re-issued without "sandbox"
    assert {SANDBOX, "localhost"} <= set(sans.get_values_for_type(x509.DNSName))


def test_the_sandbox_probe_reads_the_address_and_ca_the_sandbox_runs_with(
    services: dict[str, Any],
) -> None:
    sandbox = services[SANDBOX]
    settings, command = env(sandbox), _sandbox_flags(services)

    assert sandbox["healthcheck"]["test"] == [
        "CMD", "python", "docker/healthcheck.py", "SANDBOX", "--https-listener", "LISTEN_ADDR",
    ]  # fmt: skip
    assert settings["SANDBOX_LISTEN_ADDR"] == command["--listen"]
    assert settings["SANDBOX_TLS_CA_FILE"] == f"{command['--pki-dir']}/ca.pem"


def test_the_payer_pages_point_at_the_port_the_host_reaches(services: dict[str, Any]) -> None:
    sandbox = services[SANDBOX]
    (published,) = sandbox["ports"]
    host_port = int(published.split(":")[1])

    assert env(sandbox)["SANDBOX_PUBLIC_URL"] == f"https://localhost:{host_port}"
