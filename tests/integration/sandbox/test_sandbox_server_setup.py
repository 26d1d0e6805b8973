"""Start-up: the sandbox's certificate from the dev PKI, the provider registry, the bind."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sandbox import registry
from sandbox.config import SandboxConfig
from sandbox.registry import UnknownProvider, load_factories
from sandbox.server import start_sandbox
from sandbox.testing import ECHO, EchoSim, SandboxHandle
from sandbox.tls import ensure_pki_cert
from svc_kit.pki import cert_info, generate_ca, issue_cert, write_atomically, write_dev_pki


@pytest.fixture
def sandbox_providers() -> list[str]:
    """The echo simulator only: these tests are about the host, not any provider."""
    return []


def test_the_sandbox_certificate_is_issued_from_the_dev_ca(tmp_path: Path) -> None:
    write_dev_pki(tmp_path, workloads=())
    cert, key = ensure_pki_cert(tmp_path)
    info = cert_info(cert.read_bytes())
    assert (cert.name, key.name) == ("sandbox.pem", "sandbox-key.pem")
    assert info.dns_names == ("localhost",)
    assert info.ip_addresses == ("127.0.0.1",)
    assert key.stat().st_mode & 0o777 == 0o600


def test_a_good_certificate_is_kept(tmp_path: Path) -> None:
    write_dev_pki(tmp_path, workloads=())
    first = ensure_pki_cert(tmp_path)[0].read_bytes()
    assert ensure_pki_cert(tmp_path)[0].read_bytes() == first


def test_a_certificate_of_another_ca_is_reissued(tmp_path: Path) -> None:
    write_dev_pki(tmp_path, workloads=())
    old = ensure_pki_cert(tmp_path)[0].read_bytes()
    ca_pem, ca_key = generate_ca("another CA")
    write_atomically(tmp_path / "ca-key.pem", ca_key, secret=True)
    write_atomically(tmp_path / "ca.pem", ca_pem, secret=False)
    assert ensure_pki_cert(tmp_path)[0].read_bytes() != old


def test_a_certificate_about_to_expire_is_reissued(tmp_path: Path) -> None:
    write_dev_pki(tmp_path, workloads=())
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    cert_pem, key_pem = issue_cert(
        (tmp_path / "ca.pem").read_bytes(),
        (tmp_path / "ca-key.pem").read_bytes(),
        "sandbox",
        valid_until=soon,
    )
    (tmp_path / "sandbox.pem").write_bytes(cert_pem)
    (tmp_path / "sandbox-key.pem").write_bytes(key_pem)
    renewed = cert_info(ensure_pki_cert(tmp_path)[0].read_bytes())
    assert renewed.not_after > soon + dt.timedelta(days=30)


def test_a_pki_dir_without_a_ca_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"svc_kit\.pki init"):
        ensure_pki_cert(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_provider_without_a_package_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half_written_sim").mkdir()  # a directory, no __init__.py yet
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.PROVIDERS, "ghost", "no_such_sim_pkg_zz:make_sim")
    monkeypatch.setitem(registry.PROVIDERS, "half", "half_written_sim:make_sim")
    factories, missing = load_factories(["ghost", "half", "echo"])
    assert missing == ["ghost", "half"]
    assert factories == {"echo": EchoSim}


def test_a_provider_package_that_fails_to_import_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "broken_sim_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import a_module_that_is_not_there_zz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.PROVIDERS, "broken", "broken_sim_pkg:make_sim")
    with pytest.raises(ModuleNotFoundError, match="a_module_that_is_not_there_zz"):
        load_factories(["broken"])


def test_an_unknown_provider_name_is_refused() -> None:
    with pytest.raises(UnknownProvider, match="'nobody'"):
        load_factories(["echo", "nobody"])


def test_test_providers_are_not_mounted_by_default() -> None:
    factories, missing = load_factories()
    assert "echo" not in factories
    assert "echo" not in missing


def test_sims_are_built_with_the_bound_public_url(sandbox_server: SandboxHandle) -> None:
    sim = sandbox_server.sim("echo")
    assert isinstance(sim, EchoSim)
    assert sim.config.public_url == sandbox_server.url == sandbox_server.config.public_url
    assert sandbox_server.url == f"https://127.0.0.1:{sandbox_server.running.port}"
    assert sandbox_server.base_url("echo") == f"{sandbox_server.url}/echo"


async def test_a_sim_registered_under_another_name_is_refused() -> None:
    with pytest.raises(ValueError, match="calls itself 'echo'"):
        await start_sandbox({"stripe": EchoSim}, SandboxConfig())


async def test_the_wildcard_bind_advertises_loopback() -> None:
    running = await start_sandbox({ECHO: EchoSim}, SandboxConfig(), host="0.0.0.0")  # noqa: S104
    try:
        assert running.url == f"http://127.0.0.1:{running.port}"
    finally:
        await running.close()
