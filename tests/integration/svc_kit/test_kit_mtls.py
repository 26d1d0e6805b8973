"""Mutual TLS with the development PKI: who may connect, and who the server sees."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from pydantic_settings import SettingsConfigDict

from svc_kit.grpc_errors import ErrorMapper
from svc_kit.pki import main as pki_main
from svc_kit.pki import write_dev_pki
from svc_kit.server import ServiceBinding, ServiceHost
from svc_kit.settings import ServiceSettings
from svc_kit.tls import channel_credentials, peer_spiffe_id

SERVICE = "kit.test.v1.WhoAmI"
METHOD = f"/{SERVICE}/Get"


class KitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_TEST_", extra="forbid")


async def who_am_i(request: bytes, context: Any) -> bytes:
    return (peer_spiffe_id(context) or "anonymous").encode()


def _add(server: grpc.aio.Server) -> None:
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Get": grpc.unary_unary_rpc_method_handler(who_am_i)
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    write_dev_pki(directory, ["ledger", "gateway"])
    return directory


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("other-pki")
    write_dev_pki(directory, ["gateway"])
    return directory


@pytest.fixture
async def port(pki: Path) -> AsyncIterator[int]:
    settings = KitSettings(
        listen_addr="127.0.0.1:0",
        tls_cert_file=str(pki / "ledger.pem"),
        tls_key_file=str(pki / "ledger-key.pem"),
        tls_ca_file=str(pki / "ca.pem"),
        allowed_peers=["spiffe://paymesh.local/gateway"],  # the client these tests use
    )
    host = ServiceHost(
        name="kit-mtls",
        settings=settings,
        bindings=[ServiceBinding(SERVICE, _add)],
        error_mapper=ErrorMapper({}, domain="kit.paymesh.local"),
    )
    yield await host.start()
    await host.stop(0)


async def _call(port: int, credentials: grpc.ChannelCredentials) -> bytes:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        get: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
        return await get(b"", timeout=3)


def _client(directory: Path, workload: str, ca_dir: Path) -> grpc.ChannelCredentials:
    return channel_credentials(
        str(directory / f"{workload}.pem"),
        str(directory / f"{workload}-key.pem"),
        str(ca_dir / "ca.pem"),
    )


async def test_a_client_with_a_dev_ca_certificate_connects_and_is_known_by_spiffe_id(
    port: int, pki: Path
) -> None:
    assert await _call(port, _client(pki, "gateway", pki)) == b"spiffe://paymesh.local/gateway"


async def test_a_client_without_a_certificate_is_refused(port: int, pki: Path) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(port, credentials)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_with_a_certificate_from_another_ca_is_refused(
    port: int, pki: Path, other_pki: Path
) -> None:
    # It trusts our server, but its own certificate chains to a CA the server does not know.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(port, _client(other_pki, "gateway", pki))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_plaintext_client_is_refused(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        get: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get(b"", timeout=3)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_dev_pki_keeps_existing_files_and_keys_are_private(tmp_path: Path) -> None:
    write_dev_pki(tmp_path, ["ledger"])
    first = (tmp_path / "ledger.pem").read_bytes()
    for key in ("ca-key.pem", "ledger-key.pem"):
        assert stat.S_IMODE((tmp_path / key).stat().st_mode) == 0o600
    write_dev_pki(tmp_path, ["ledger", "identity"])
    assert (tmp_path / "ledger.pem").read_bytes() == first
    assert (tmp_path / "identity.pem").exists()
    write_dev_pki(tmp_path, ["ledger"], force=True)
    assert (tmp_path / "ledger.pem").read_bytes() != first


def test_pki_cli_init_writes_the_files_and_reports_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pki_main(["init", "--dir", str(tmp_path / "pki"), "--workload", "ledger"]) == 0
    assert sorted(p.name for p in (tmp_path / "pki").iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "ledger-key.pem",
        "ledger.pem",
    ]
    out = capsys.readouterr().out
    assert "wrote" in out and "spiffe://paymesh.local/ledger" in out
