"""The internal gRPC listener, and client certificates on both listeners, through a real Envoy.

Workloads call services through Envoy's internal listener with their own
certificate; Envoy authorizes each call by the caller's SPIFFE id
(scripts/envoy_config INTERNAL_ACCESS, applied to the RPCs' proto options).
The services are the real ledger and identity, which accept only Envoy's
certificate. One set of services and two Envoys (client certificates optional
and required on the REST listener) serve the whole module.
"""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
import pytest_asyncio
from grpc_health.v1 import health, health_pb2_grpc

from paymesh.identity.v1 import identity_pb2, identity_pb2_grpc
from paymesh.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from svc_kit.pki import generate_ca, issue_cert
from svc_kit.tls import server_credentials
from tests.e2e.stack_fixture import Edge, Services, start_edge, start_services

pytestmark = pytest.mark.asyncio(loop_scope="module")
CALL_TIMEOUT_S = 5.0
LEDGER = "paymesh.ledger.v1.LedgerService"


@dataclass(frozen=True)
class Certs:
    """Certificate pairs by name, as path prefixes (``<prefix>.pem``, ``<prefix>-key.pem``)."""

    directory: Path
    ca: Path

    def prefix(self, name: str) -> str:
        return str(self.directory / name)

    def credentials(self, name: str) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=Path(f"{self.prefix(name)}-key.pem").read_bytes(),
            certificate_chain=Path(f"{self.prefix(name)}.pem").read_bytes(),
        )


def _write_pair(directory: Path, name: str, pair: tuple[bytes, bytes]) -> None:
    (directory / f"{name}.pem").write_bytes(pair[0])
    (directory / f"{name}-key.pem").write_bytes(pair[1])


def _make_certs(pki: Path, directory: Path) -> Certs:
    """Our workloads' pairs, and three our edge must refuse."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("gateway", "identity", "client"):
        _write_pair(
            directory,
            name,
            ((pki / f"{name}.pem").read_bytes(), (pki / f"{name}-key.pem").read_bytes()),
        )
    ca, ca_key = (pki / "ca.pem").read_bytes(), (pki / "ca-key.pem").read_bytes()
    other_ca, other_key = generate_ca("not paymesh")
    _write_pair(directory, "foreign", issue_cert(other_ca, other_key, "gateway"))
    _write_pair(directory, "outsider", issue_cert(ca, ca_key, "gateway", trust_domain="evil.test"))
    now = dt.datetime.now(dt.UTC)
    expired = issue_cert(
        ca,
        ca_key,
        "gateway",
        valid_from=now - dt.timedelta(days=2),
        valid_until=now - dt.timedelta(days=1),
    )
    _write_pair(directory, "expired", expired)
    return Certs(directory, pki / "ca.pem")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    async with start_services(tmp_path_factory.mktemp("internal")) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge(services: Services) -> AsyncIterator[Edge]:
    workdir = services.pki.parent / "edge"
    async with start_edge(services, workdir, access_log_path=str(workdir / "access.log")) as e:
        yield e


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def strict_edge(services: Services) -> AsyncIterator[Edge]:
    async with start_edge(services, services.pki.parent / "strict", require_client_cert=True) as e:
        yield e


@pytest.fixture(scope="module")
def certs(services: Services) -> Certs:
    return _make_certs(services.pki, services.pki.parent / "certs")


def _channel(edge: Edge, certs: Certs, name: str) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(edge.internal_target, certs.credentials(name))


def _new_account() -> ledger_pb2.CreateAccountRequest:
    code = f"platform/cash/{uuid.uuid4().hex[:12]}"
    account = ledger_pb2.Account(code=code, currency_code="EUR", type=ledger_pb2.ACCOUNT_TYPE_ASSET)
    return ledger_pb2.CreateAccountRequest(account=account)


async def _create_account(edge: Edge, certs: Certs, name: str) -> ledger_pb2.CreateAccountResponse:
    async with _channel(edge, certs, name) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        return await stub.CreateAccount(_new_account(), timeout=CALL_TIMEOUT_S)


async def _refusal(edge: Edge, certs: Certs, name: str, path: str) -> grpc.aio.AioRpcError:
    """The error a call of ``path`` with ``name``'s certificate gets (empty request body)."""
    async with _channel(edge, certs, name) as channel:
        call = channel.unary_unary(path, request_serializer=bytes, response_deserializer=bytes)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(b"", timeout=CALL_TIMEOUT_S)
    return refused.value


async def test_the_gateway_may_open_an_account_through_the_internal_listener(
    edge: Edge, certs: Certs
) -> None:
    reply = await _create_account(edge, certs, "gateway")

    assert reply.account.id.startswith("acct_")
    assert reply.account.currency_code == "EUR"


@pytest.mark.parametrize("workload", ["identity", "client"])
async def test_other_workloads_are_refused_ledger_writes_with_permission_denied(
    edge: Edge, certs: Certs, workload: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _create_account(edge, certs, workload)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == "RBAC: access denied"


@pytest.mark.parametrize("workload", ["gateway", "identity", "client"])
async def test_every_workload_of_ours_may_read_the_ledger(
    edge: Edge, certs: Certs, workload: str
) -> None:
    async with _channel(edge, certs, workload) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        reply = await stub.GetTrialBalance(
            ledger_pb2.GetTrialBalanceRequest(), timeout=CALL_TIMEOUT_S
        )

    assert isinstance(reply, ledger_pb2.GetTrialBalanceResponse)


async def test_identity_is_open_to_our_workloads_and_checks_the_api_key_itself(
    edge: Edge, certs: Certs
) -> None:
    async with _channel(edge, certs, "client") as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        me = await stub.WhoAmI(
            identity_pb2.WhoAmIRequest(),
            metadata=tuple(edge.auth().items()),
            timeout=CALL_TIMEOUT_S,
        )
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.WhoAmI(identity_pb2.WhoAmIRequest(), timeout=CALL_TIMEOUT_S)

    assert me.principal.role == identity_pb2.ROLE_ADMIN
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "path",
    [
        "/paymesh.ledger.v1.LedgerService/NoSuchMethod",
        "/no.such.v1.Service/Call",
        "/envoy.service.auth.v3.Authorization/Check",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.health.v1.Health/Check",
    ],
)
async def test_paths_no_rule_grants_are_refused_with_permission_denied(
    edge: Edge, certs: Certs, path: str
) -> None:
    refused = await _refusal(edge, certs, "gateway", path)

    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_internal_access_log_names_the_callers_spiffe_id(
    edge: Edge, certs: Certs
) -> None:
    await _create_account(edge, certs, "gateway")

    line = await edge.access_log_line(
        lambda line: (
            line["listener"] == "internal"
            and line["path"] == "/paymesh.ledger.v1.LedgerService/CreateAccount"
            and line["grpc_status"] == 0
        )
    )
    assert line["downstream_peer_uri_san"] == "spiffe://paymesh.local/gateway"
    assert line["upstream_cluster"] == "ledger"
    assert line["protocol"] == "HTTP/2"


@pytest.mark.parametrize("cert", ["foreign", "outsider", "expired"])
async def test_the_internal_listener_refuses_certificates_that_are_not_ours(
    edge: Edge, certs: Certs, cert: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _create_account(edge, certs, cert)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_internal_listener_refuses_a_plaintext_connection(edge: Edge) -> None:
    async with grpc.aio.insecure_channel(edge.internal_target) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetTrialBalance(ledger_pb2.GetTrialBalanceRequest(), timeout=CALL_TIMEOUT_S)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_internal_listener_refuses_a_caller_without_a_certificate(
    edge: Edge, certs: Certs
) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
    async with grpc.aio.secure_channel(edge.internal_target, credentials) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetTrialBalance(ledger_pb2.GetTrialBalanceRequest(), timeout=CALL_TIMEOUT_S)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


class _Recorder:
    """A stand-in ledger that answers GetTrialBalance and keeps the metadata it got."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    async def trial_balance(
        self,
        request: ledger_pb2.GetTrialBalanceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> ledger_pb2.GetTrialBalanceResponse:
        self.seen.append({k: str(v) for k, v in context.invocation_metadata() or ()})
        return ledger_pb2.GetTrialBalanceResponse()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recorded(services: Services) -> AsyncIterator[tuple[Edge, _Recorder]]:
    """An Envoy whose ledger cluster is the recorder, over real mTLS (the ledger's certificate)."""
    recorder = _Recorder()
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        recorder.trial_balance,
        request_deserializer=ledger_pb2.GetTrialBalanceRequest.FromString,
        response_serializer=ledger_pb2.GetTrialBalanceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(LEDGER, {"GetTrialBalance": handler})]
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    pki = services.pki
    credentials = server_credentials(
        str(pki / "ledger.pem"), str(pki / "ledger-key.pem"), str(pki / "ca.pem")
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    upstreams = {**services.upstreams(), "ledger": [f"127.0.0.1:{port}"]}
    try:
        async with start_edge(services, pki.parent / "recorded", upstreams=upstreams) as e:
            yield e, recorder
    finally:
        await server.stop(0)


async def test_the_service_sees_the_callers_spiffe_id_and_never_a_workloads_principal(
    recorded: tuple[Edge, _Recorder], certs: Certs
) -> None:
    edge, recorder = recorded
    forged = (("x-paymesh-principal", "merchant_id=mer_x&role=admin"),)

    async with _channel(edge, certs, "client") as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        await stub.GetTrialBalance(
            ledger_pb2.GetTrialBalanceRequest(), metadata=forged, timeout=CALL_TIMEOUT_S
        )

    seen = recorder.seen[-1]
    assert "x-paymesh-principal" not in seen
    # SANITIZE_SET: Envoy's own id (By), then the caller's certificate (URI).
    assert seen["x-forwarded-client-cert"].startswith("By=spiffe://paymesh.local/envoy;Hash=")
    assert seen["x-forwarded-client-cert"].endswith(";URI=spiffe://paymesh.local/client")


def _rest_client(edge: Edge, certs: Certs, cert: str | None) -> httpx.AsyncClient:
    return edge.rest_client(certs.prefix(cert) if cert else None)


async def _rest_refused(edge: Edge, certs: Certs, cert: str | None) -> bool:
    """True when the REST listener refuses the TLS handshake (or the first read after it)."""
    async with _rest_client(edge, certs, cert) as client:
        try:
            await client.get("/v1/me", headers=edge.auth())
        except (httpx.TransportError, ssl.SSLError):
            return True
    return False


async def test_rest_without_a_required_certificate_needs_one_of_ours(
    strict_edge: Edge, certs: Certs
) -> None:
    async with _rest_client(strict_edge, certs, "client") as client:
        allowed = await client.get("/v1/me", headers=strict_edge.auth())

    assert allowed.status_code == 200
    assert {
        cert: await _rest_refused(strict_edge, certs, cert)
        for cert in (None, "foreign", "outsider", "expired")
    } == {None: True, "foreign": True, "outsider": True, "expired": True}


async def test_rest_with_an_optional_certificate_still_refuses_a_bad_one(
    edge: Edge, certs: Certs
) -> None:
    async with _rest_client(edge, certs, "client") as client:
        with_ours = await client.get("/v1/me", headers=edge.auth())

    assert with_ours.status_code == 200
    assert {
        cert: await _rest_refused(edge, certs, cert) for cert in (None, "foreign", "expired")
    } == {None: False, "foreign": True, "expired": True}
