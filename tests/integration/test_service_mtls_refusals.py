"""Every service port refuses every caller but Envoy: the real ledger and identity over mTLS.

Three ports: the ledger, identity's main listener, and identity's hot ext_authz listener (no
interceptors; Check checks its caller itself). Each one, with the default allow-list:

- plaintext fails, and so do a certificate of another CA and an expired one of ours (the
  handshake: UNAVAILABLE);
- our CA's certificates for other workloads get PERMISSION_DENIED / PEER_NOT_ALLOWED, on the
  service's own RPC and on health alike;
- Envoy's certificate is served;
- TLS 1.3 is what clients negotiate, but TLS 1.2 cannot be refused by a grpc Python server
  (svc_kit.tls); the last test records that, and that TLS 1.2 still gets only ECDHE AEAD.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2

from identity_svc.app import create_app as create_identity
from identity_svc.settings import IdentitySettings
from ledger_svc.app import create_app as create_ledger
from ledger_svc.settings import LedgerSettings
from paymesh.identity.v1 import identity_pb2, identity_pb2_grpc
from paymesh.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from paymesh.third_party.envoy import external_auth_pb2_grpc
from svc_kit.pki import issue_cert, write_atomically, write_dev_pki
from svc_kit.tls import channel_credentials
from tests.integration.identity.support import check_request
from tests.integration.svc_kit.tls_support import error_info, handshake, health_status

pytestmark = pytest.mark.asyncio(loop_scope="module")
PORTS = ("ledger", "identity", "identity-authz")
DOMAINS = {
    "ledger": "ledger.paymesh.local",
    "identity": "identity.paymesh.local",
    "identity-authz": "identity.paymesh.local",
}
Call = Callable[[grpc.aio.Channel], Awaitable[Any]]


@dataclass
class Stack:
    pki: Path
    ports: dict[str, int]


def _tls(pki: Path, workload: str) -> dict[str, Any]:
    return {
        "tls_cert_file": str(pki / f"{workload}.pem"),
        "tls_key_file": str(pki / f"{workload}-key.pem"),
        "tls_ca_file": str(pki / "ca.pem"),
    }


def _client_certs(pki: Path, other: Path) -> None:
    """mallory (ours, unknown id), envoy-expired (ours, expired), other/envoy (another CA)."""
    ca = (pki / "ca.pem").read_bytes(), (pki / "ca-key.pem").read_bytes()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    certs = {
        "mallory": issue_cert(*ca, "mallory"),
        "envoy-expired": issue_cert(
            *ca, "envoy", valid_from=past - dt.timedelta(days=1), valid_until=past
        ),
    }
    for name, (cert, key) in certs.items():
        write_atomically(pki / f"{name}.pem", cert, secret=False)
        write_atomically(pki / f"{name}-key.pem", key, secret=True)
    write_dev_pki(other, ["envoy"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("mtls-refusals")
    pki = root / "pki"
    write_dev_pki(pki)
    _client_certs(pki, root / "other")
    ledger = await create_ledger(
        LedgerSettings(
            listen_addr="127.0.0.1:0",
            database_url=f"sqlite+aiosqlite:///{root / 'ledger.db'}",
            **_tls(pki, "ledger"),
        )
    )
    identity = await create_identity(
        IdentitySettings(
            listen_addr="127.0.0.1:0",
            authz_listen_addr="127.0.0.1:0",
            database_url=f"sqlite+aiosqlite:///{root / 'identity.db'}",
            key_pepper_file=str(root / "pepper"),
            **_tls(pki, "identity"),
        )
    )
    await ledger.start()
    await identity.start()
    try:
        assert identity.hot_port is not None
        ports = {"ledger": ledger.port, "identity": identity.port}
        yield Stack(pki, {**ports, "identity-authz": identity.hot_port})
    finally:
        await identity.stop(0)
        await ledger.stop(0)


async def _own_rpc(port: str, channel: grpc.aio.Channel) -> Any:
    """The port's own service, as Envoy would call it."""
    if port == "ledger":
        ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        return await ledger.GetTrialBalance(ledger_pb2.GetTrialBalanceRequest(), timeout=5)
    if port == "identity":
        identity = identity_pb2_grpc.IdentityServiceStub(channel)
        return await identity.WhoAmI(identity_pb2.WhoAmIRequest(), timeout=5)
    authz = external_auth_pb2_grpc.AuthorizationStub(channel)
    return await authz.Check(check_request("GET", "/v1/me", {}), timeout=5)


async def _health(channel: grpc.aio.Channel) -> int:
    return await health_status(channel)


async def _call_as(
    stack: Stack, port: str, call: Call, *, cert_dir: Path | None = None, name: str = "envoy"
) -> Any:
    cert_dir = cert_dir or stack.pki
    creds = channel_credentials(
        str(cert_dir / f"{name}.pem"), str(cert_dir / f"{name}-key.pem"), str(stack.pki / "ca.pem")
    )
    async with grpc.aio.secure_channel(f"127.0.0.1:{stack.ports[port]}", creds) as channel:
        return await call(channel)


@pytest.mark.parametrize("port", PORTS)
async def test_a_plaintext_connection_fails(stack: Stack, port: str) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.ports[port]}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _health(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("case", ["another-ca", "expired"])
async def test_a_certificate_of_another_ca_or_an_expired_one_fails_the_handshake(
    stack: Stack, port: str, case: str
) -> None:
    # Both carry Envoy's own SPIFFE id: the certificate itself is what gets refused.
    cert_dir = stack.pki.parent / "other" if case == "another-ca" else stack.pki
    name = "envoy" if case == "another-ca" else "envoy-expired"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call_as(stack, port, _health, cert_dir=cert_dir, name=name)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("workload", ["mallory", "client"])
@pytest.mark.parametrize("rpc", ["own", "health"])
async def test_our_ca_with_another_spiffe_id_is_denied_with_error_info(
    stack: Stack, port: str, workload: str, rpc: str
) -> None:
    call: Call = _health if rpc == "health" else lambda channel: _own_rpc(port, channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call_as(stack, port, call, name=workload)

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(caught.value)
    assert (info.reason, info.domain) == ("PEER_NOT_ALLOWED", DOMAINS[port])
    assert info.metadata["peer"] == f"spiffe://paymesh.local/{workload}"


@pytest.mark.parametrize("port", PORTS)
async def test_envoys_certificate_is_served(stack: Stack, port: str) -> None:
    assert await _call_as(stack, port, _health) == health_pb2.HealthCheckResponse.SERVING
    if port == "identity":
        # Past the peer check; WhoAmI then wants a principal Envoy did not attach.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call_as(stack, port, lambda channel: _own_rpc(port, channel))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    elif port == "identity-authz":
        reply = await _call_as(stack, port, lambda channel: _own_rpc(port, channel))
        assert reply.denied_response.status.code == 401  # Check's answer: no API key
    else:
        reply = await _call_as(stack, port, lambda channel: _own_rpc(port, channel))
        assert list(reply.currencies) == []  # an empty ledger, answered


@pytest.mark.parametrize("port", PORTS)
async def test_clients_negotiate_tls13_but_tls12_cannot_be_refused_and_gets_only_ecdhe_aead(
    stack: Stack, port: str
) -> None:
    """grpcio 1.85 has no minimum TLS version for servers (svc_kit.tls): when it gets one and
    the services require TLS 1.3, the TLS 1.2 half of this test must become a refusal."""
    as_envoy = functools.partial(
        handshake,
        stack.ports[port],
        ca_file=stack.pki / "ca.pem",
        cert_file=stack.pki / "envoy.pem",
        key_file=stack.pki / "envoy-key.pem",
    )
    default = await asyncio.to_thread(as_envoy)
    tls12 = await asyncio.to_thread(as_envoy, maximum_version=ssl.TLSVersion.TLSv1_2)

    assert (default.version, default.alpn) == ("TLSv1.3", "h2")
    assert tls12.version == "TLSv1.2"
    assert tls12.cipher.startswith("ECDHE-") and ("GCM" in tls12.cipher or "CHACHA" in tls12.cipher)
