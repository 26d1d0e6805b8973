"""The gateway's issue-6 services at the edge: FxService, BeneficiaryService, PayoutService.

The config tests read identity's route table and the rendered bootstrap: every REST route of
the issue's contract resolves to its RPC and the permission it declares, and is routed to the
gateway with a timeout that outlasts a throttled Currencycloud call (no workload may call them
on the internal listener: test_edge_internal_config.py).

The wire tests run the real Envoy and identity in front of a stand-in gateway, a ServiceHost
with the gateway's certificate that serves only GetQuote and CreatePayout, as the gateway does
before its FX servicers are registered: a served RPC gets what the REST client meant (Money and
enums from the query string, the Idempotency-Key header as metadata), and every other route
answers 501 with a JSON google.rpc.Status (UNIMPLEMENTED), never a reset or a crash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from gateway_svc.adapters.providers.currencycloud_transport import RetryPolicy
from gateway_svc.settings import GatewaySettings, ProviderSettings
from identity_svc.domain.permissions import Permission, Role
from identity_svc.entrypoints.routes import RouteTable
from paymesh.common.v1 import money_pb2
from paymesh.gateway.v1 import beneficiaries_pb2, fx_pb2, payouts_pb2
from scripts import envoy_config as ec
from svc_kit.principal import PRINCIPAL_HEADER
from svc_kit.server import ServiceBinding, ServiceHost
from tests.e2e.stack_fixture import Edge, Services
from tests.integration.edge.config_support import (
    BENEFICIARIES,
    CURRENCYCLOUD_SERVICES,
    FX,
    PAYOUTS,
    hcm,
)
from tests.integration.edge.stand_in_support import gateway_stand_in, unary_binding

P = Permission
BEN = BENEFICIARIES
QUOTE = "/v1/fx/quote?buy_currency=EUR&sell_currency=USD&fixed_side=FIXED_SIDE_SELL"
CONTRACT = [
    ("GET", f"{QUOTE}&amount.minor_units=10000", FX, "GetQuote", P.FX_READ),
    ("POST", "/v1/fx/conversions", FX, "CreateConversion", P.FX_WRITE),
    ("GET", "/v1/fx/conversions/conv_1", FX, "GetConversion", P.FX_READ),
    ("GET", "/v1/fx/conversions", FX, "ListConversions", P.FX_READ),
    ("POST", "/v1/beneficiaries:validate", BEN, "ValidateBeneficiary", P.BENEFICIARIES_WRITE),
    ("POST", "/v1/beneficiaries", BEN, "CreateBeneficiary", P.BENEFICIARIES_WRITE),
    ("GET", "/v1/beneficiaries/ben_1", BEN, "GetBeneficiary", P.BENEFICIARIES_READ),
    ("GET", "/v1/beneficiaries", BEN, "ListBeneficiaries", P.BENEFICIARIES_READ),
    ("DELETE", "/v1/beneficiaries/ben_1", BEN, "DeleteBeneficiary", P.BENEFICIARIES_WRITE),
    ("POST", "/v1/payouts", PAYOUTS, "CreatePayout", P.PAYOUTS_WRITE),
    ("GET", "/v1/payouts/po_1", PAYOUTS, "GetPayout", P.PAYOUTS_READ),
    ("GET", "/v1/payouts", PAYOUTS, "ListPayouts", P.PAYOUTS_READ),
    ("POST", "/v1/payouts/po_1:cancel", PAYOUTS, "CancelPayout", P.PAYOUTS_WRITE),
    ("GET", "/v1/balances", PAYOUTS, "GetBalances", P.BALANCES_READ),
]  # fmt: skip
"""The issue's Contract table: (HTTP method, sample path, service, RPC, permission)."""
SERVED = {"GetQuote", "CreatePayout"}
PAYOUT_BODY = {
    "beneficiary_id": "ben_1",
    "amount": {"currency_code": "GBP", "minor_units": "2500"},
    "reason": "Invoice 7",
    "reference": "INV-7",
    "payment_type": "PAYOUT_TYPE_PRIORITY",
}


# --- the contract and the rendered config -----------------------------------------------


@pytest.mark.parametrize(("method", "path", "service", "rpc", "permission"), CONTRACT)
def test_each_rest_route_of_the_contract_resolves_to_its_rpc_and_permission(
    method: str, path: str, service: str, rpc: str, permission: Permission
) -> None:
    route = RouteTable.for_paymesh().lookup(method, path.partition("?")[0])

    assert route is not None
    assert (route.full_method, route.access) == (f"/{service}/{rpc}", permission)


def test_the_three_services_have_exactly_the_contracts_rpcs(descriptor_set: Path) -> None:
    declared = {
        (rpc.path, rpc.access)
        for rpc in ec.grpc_rpcs(descriptor_set)
        if rpc.service in CURRENCYCLOUD_SERVICES
    }

    assert declared == {(f"/{s}/{rpc}", p.value) for _, _, s, rpc, p in CONTRACT}


def test_they_are_routed_to_the_gateway_and_wait_75_s(config: dict[str, Any]) -> None:
    (host,) = hcm(config, ec.REST_LISTENER)["route_config"]["virtual_hosts"]
    routes = {r["match"]["prefix"]: r["route"] for r in host["routes"] if "route" in r}

    for service in CURRENCYCLOUD_SERVICES:
        assert (routes[f"/{service}/"]["cluster"], routes[f"/{service}/"]["timeout"]) == (
            "gateway",
            "75s",
        )


def test_75_s_outlasts_a_throttled_currencycloud_call_and_stays_under_the_key_lock() -> None:
    # The bound _rest.py's ROUTE_TIMEOUTS comment derives from the defaults: a login, one
    # call that the adapter retries on 429 (each try up to the provider's timeout, each
    # Retry-After slept on up to max_wait_s), and the ledger hold before it and the post or
    # void after it.
    policy, provider = RetryPolicy(), ProviderSettings()
    fields = GatewaySettings.model_fields
    tries = policy.rate_limit_attempts
    throttled_s = tries * provider.timeout_s + (tries - 1) * policy.max_wait_s
    worst_s = provider.timeout_s + throttled_s + 2 * fields["internal_timeout_s"].default

    for service in CURRENCYCLOUD_SERVICES:
        route_s = int(ec.ROUTE_TIMEOUTS[service].removesuffix("s"))
        assert worst_s < route_s < fields["idempotency_lock_timeout_s"].default


# --- the wire ----------------------------------------------------------------------------


@dataclass
class _Recorder:
    """GetQuote and CreatePayout keep each request and its metadata; nothing else is
    served, so every other RPC of the three services answers UNIMPLEMENTED."""

    calls: list[tuple[Message, dict[str, str]]] = field(default_factory=list)

    def bindings(self) -> list[ServiceBinding]:
        """FxService with GetQuote only, PayoutService with CreatePayout only."""
        quote = (fx_pb2.GetQuoteRequest, self.get_quote)
        payout = (payouts_pb2.CreatePayoutRequest, self.payout)
        return [
            unary_binding(FX, {"GetQuote": quote}),
            unary_binding(PAYOUTS, {"CreatePayout": payout}),
        ]

    def _keep(self, request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.calls.append(
            (request, {str(k): str(v) for k, v in context.invocation_metadata() or ()})
        )

    async def get_quote(
        self, request: fx_pb2.GetQuoteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> fx_pb2.GetQuoteResponse:
        self._keep(request, context)
        sold = money_pb2.Money(
            currency_code=request.sell_currency, minor_units=request.amount.minor_units
        )
        quote = fx_pb2.Quote(
            id="quote_stand_in",
            buy_currency=request.buy_currency,
            sell_currency=request.sell_currency,
            fixed_side=request.fixed_side,
            sell_amount=sold,
            client_rate="0.92170000",
        )
        return fx_pb2.GetQuoteResponse(quote=quote)

    async def payout(
        self, request: payouts_pb2.CreatePayoutRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> payouts_pb2.CreatePayoutResponse:
        self._keep(request, context)
        payout = payouts_pb2.Payout(
            id="po_stand_in", amount=request.amount, status=payouts_pb2.PAYOUT_STATUS_PENDING
        )
        return payouts_pb2.CreatePayoutResponse(payout=payout)


@dataclass
class _Wire:
    services: Services
    edge: Edge
    recorder: _Recorder
    stand_in: ServiceHost
    keys: dict[Role, str] = field(default_factory=dict)

    async def auth(self, role: Role) -> dict[str, str]:
        """A key of ``role`` (of a merchant of its own), made once per role."""
        if role not in self.keys:
            self.keys[role] = await self.services.key(role)
        return self.edge.auth(self.keys[role])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wire(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[_Wire]:
    """The real services (identity answers ext_authz); an Envoy whose gateway is the stand-in."""
    recorder = _Recorder()
    workdir = tmp_path_factory.mktemp("fx-routes")
    async with gateway_stand_in(workdir, recorder.bindings()) as running:
        yield _Wire(running.services, running.edge, recorder, running.gateway)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_rest_quote_reaches_the_gateway_with_money_and_an_enum_from_the_query(
    wire: _Wire,
) -> None:
    before = len(wire.recorder.calls)
    async with wire.edge.rest_client() as rest:
        reply = await rest.get(f"{QUOTE}&amount.minor_units=10000", headers=wire.edge.auth())

    ((request, metadata),) = wire.recorder.calls[before:]
    assert isinstance(request, fx_pb2.GetQuoteRequest)
    assert (request.buy_currency, request.sell_currency) == ("EUR", "USD")
    assert request.fixed_side == fx_pb2.FIXED_SIDE_SELL
    assert (request.amount.currency_code, request.amount.minor_units) == ("", 10000)
    assert metadata[PRINCIPAL_HEADER]
    quote = reply.json()["quote"]
    assert reply.status_code == 200, reply.text
    # Enums by name, int64 as a string, a rate as the exact decimal string it was.
    assert quote["fixed_side"] == "FIXED_SIDE_SELL"
    assert quote["sell_amount"] == {"currency_code": "USD", "minor_units": "10000"}
    assert quote["client_rate"] == "0.92170000"


@pytest.mark.asyncio(loop_scope="module")
async def test_a_rest_payout_reaches_the_gateway_with_its_idempotency_key_as_metadata(
    wire: _Wire,
) -> None:
    before = len(wire.recorder.calls)
    headers = {**wire.edge.auth(), "Idempotency-Key": "payout-inv-7"}
    async with wire.edge.rest_client() as rest:
        reply = await rest.post("/v1/payouts", headers=headers, json=PAYOUT_BODY)

    ((request, metadata),) = wire.recorder.calls[before:]
    assert isinstance(request, payouts_pb2.CreatePayoutRequest)
    assert reply.status_code == 200, reply.text
    assert reply.json()["payout"]["status"] == "PAYOUT_STATUS_PENDING"
    assert (request.beneficiary_id, request.reason, request.reference) == (
        "ben_1",
        "Invoice 7",
        "INV-7",
    )
    assert (request.amount.currency_code, request.amount.minor_units) == ("GBP", 2500)
    assert request.payment_type == beneficiaries_pb2.PAYOUT_TYPE_PRIORITY
    # The header is not copied into request_id: the gateway reconciles the two.
    assert (request.request_id, metadata["idempotency-key"]) == ("", "payout-inv-7")
    assert "authorization" not in metadata


@pytest.mark.asyncio(loop_scope="module")
async def test_every_route_the_gateway_does_not_serve_yet_answers_501_json_unimplemented(
    wire: _Wire,
) -> None:
    unserved = [(m, p) for m, p, _, rpc, _ in CONTRACT if rpc not in SERVED]
    async with wire.edge.rest_client() as rest:
        replies = {
            (m, p): await rest.request(m, p, headers=wire.edge.auth(), json={}) for m, p in unserved
        }

    assert len(replies) == 12
    for key, reply in replies.items():
        assert reply.status_code == 501, (key, reply.text)
        assert reply.headers["content-type"] == "application/json", key
        assert reply.json()["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0], key
    assert wire.stand_in.is_serving()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        (Role.VIEWER, "GET", f"{QUOTE}&amount.minor_units=500", 200),
        (Role.VIEWER, "GET", "/v1/balances", 501),
        (Role.VIEWER, "POST", "/v1/payouts", 403),
        (Role.DEVELOPER, "GET", "/v1/balances", 501),
        (Role.DEVELOPER, "POST", "/v1/beneficiaries", 403),
        (Role.DEVELOPER, "POST", "/v1/fx/conversions", 403),
        (Role.FINANCE, "POST", "/v1/payouts", 200),
        (Role.OWNER, "DELETE", "/v1/beneficiaries/ben_1", 501),
    ],
)
async def test_identity_lets_each_role_through_only_to_what_it_grants(
    wire: _Wire, role: Role, method: str, path: str, status: int
) -> None:
    body = PAYOUT_BODY if method == "POST" else None
    async with wire.edge.rest_client() as rest:
        reply = await rest.request(method, path, headers=await wire.auth(role), json=body)

    assert reply.status_code == status, reply.text
    if status == 403:
        assert reply.json()["details"][0]["reason"] == "PERMISSION_MISSING"
