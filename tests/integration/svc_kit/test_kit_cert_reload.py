"""A running server picks up rotated certificate files for new connections, without a restart."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2
from pydantic_settings import SettingsConfigDict

from svc_kit.grpc_errors import ErrorMapper
from svc_kit.pki import cert_info, issue_cert, rotate_dev_pki, write_atomically, write_dev_pki
from svc_kit.server import ServiceHost
from svc_kit.settings import ServiceSettings
from svc_kit.tls import channel_credentials
from tests.integration.svc_kit.tls_support import handshake, health_status


class KitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_RELOAD_", extra="forbid")


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    write_dev_pki(directory, ["ledger", "envoy"])
    return directory


@pytest.fixture
async def port(pki: Path) -> AsyncIterator[int]:
    settings = KitSettings(
        listen_addr="127.0.0.1:0",
        tls_cert_file=str(pki / "ledger.pem"),
        tls_key_file=str(pki / "ledger-key.pem"),
        tls_ca_file=str(pki / "ca.pem"),
    )
    host = ServiceHost(
        name="kit-reload", settings=settings, bindings=[], error_mapper=ErrorMapper({}, "k.local")
    )
    yield await host.start()
    await host.stop(0)


def _serial(path: Path) -> int:
    return cert_info(path.read_bytes()).serial


async def _served_serial(port: int, pki: Path, client: Path | None = None) -> int:
    """The serial of the certificate the server presents to a new connection."""
    client = client or pki
    shake = await asyncio.to_thread(
        handshake,
        port,
        ca_file=pki / "ca.pem",
        cert_file=client / "envoy.pem",
        key_file=client / "envoy-key.pem",
    )
    return shake.server_serial


def _envoy(directory: Path, ca_dir: Path) -> grpc.ChannelCredentials:
    return channel_credentials(
        str(directory / "envoy.pem"), str(directory / "envoy-key.pem"), str(ca_dir / "ca.pem")
    )


async def _health(channel: grpc.aio.Channel) -> int:
    return await health_status(channel)


async def test_a_rotated_leaf_is_served_to_new_connections_and_open_ones_keep_working(
    port: int, pki: Path
) -> None:
    before = _serial(pki / "ledger.pem")
    assert await _served_serial(port, pki) == before
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", _envoy(pki, pki)) as opened_before:
        await _health(opened_before)

        rotate_dev_pki(pki)

        after = _serial(pki / "ledger.pem")
        assert after != before
        assert await _served_serial(port, pki) == after
        # The connection made before the rotation is untouched by it.
        assert await _health(opened_before) == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", _envoy(pki, pki)) as new:
        assert await _health(new) == health_pb2.HealthCheckResponse.SERVING


async def test_after_a_new_ca_only_certificates_of_the_new_ca_are_accepted(
    port: int, pki: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    shutil.copytree(pki, old)

    rotate_dev_pki(pki, new_ca=True)

    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", _envoy(pki, pki)) as channel:
        assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING
    # Trusts both CAs, so only the server's refusal of the old client certificate can fail it.
    both = tmp_path / "both"
    both.mkdir()
    (both / "ca.pem").write_bytes((pki / "ca.pem").read_bytes() + (old / "ca.pem").read_bytes())
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", _envoy(old, both)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _health(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_without_its_key_is_not_picked_up_until_the_pair_matches(
    port: int, pki: Path
) -> None:
    before = _serial(pki / "ledger.pem")
    ca = (pki / "ca.pem").read_bytes(), (pki / "ca-key.pem").read_bytes()
    cert_pem, key_pem = issue_cert(*ca, "ledger")

    write_atomically(pki / "ledger.pem", cert_pem, secret=False)  # as if caught mid-rotation
    half_way = await _served_serial(port, pki)
    write_atomically(pki / "ledger-key.pem", key_pem, secret=True)
    done = await _served_serial(port, pki)

    assert half_way == before
    assert done == cert_info(cert_pem).serial != before
