"""PaymentService's REST route: its timeout, and the Idempotency-Key that must reach the gateway.

The config tests read the rendered bootstrap. The wire tests run the real Envoy with the
generated config in front of the real identity (ext_authz) and a stand-in PaymentService: a
ServiceHost presenting the gateway's certificate, whose servicer records what arrives. So
they prove what the REST edge hands the gateway, whatever state the real servicer is in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest
import pytest_asyncio

from gateway_svc.domain.retry import RetryPolicy
from gateway_svc.settings import GatewaySettings, StripeSettings
from paymesh.gateway.v1 import payments_pb2
from scripts import envoy_config as ec
from scripts.stack.smoke import PAYMENT_PATH, PAYMENT_SKIPPED, payment_through_edge
from svc_kit.principal import PRINCIPAL_HEADER
from svc_kit.server import ServiceBinding
from tests.e2e.stack_fixture import Edge, Services
from tests.integration.edge.config_support import (
    CURRENCYCLOUD_SERVICES,
    PAYMENTS,
    hcm,
    http_filter,
)
from tests.integration.edge.stand_in_support import gateway_stand_in, unary_binding

KEY = "order-4711-attempt-1"
BODY = {
    "amount": {"currency_code": "EUR", "minor_units": "1050"},
    "payment_method": {"token": "pm_card_visa"},
    "provider": "stripe",
}


# --- the rendered config ----------------------------------------------------------------


def _rest_routes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (host,) = hcm(config, ec.REST_LISTENER)["route_config"]["virtual_hosts"]
    return {r["match"]["prefix"]: r for r in host["routes"] if "route" in r}


def test_payment_routes_wait_60_s_currencycloud_ones_75_s_and_every_other_rest_route_15_s(
    config: dict[str, Any],
) -> None:
    timeouts = {prefix: r["route"]["timeout"] for prefix, r in _rest_routes(config).items()}

    assert timeouts.pop(f"/{PAYMENTS}/") == "60s"
    # Derived in test_edge_fx_routes.py.
    assert [timeouts.pop(f"/{s}/") for s in CURRENCYCLOUD_SERVICES] == ["75s"] * 3
    assert timeouts and set(timeouts.values()) == {ec.DEFAULT_ROUTE_TIMEOUT}


def test_the_payment_timeout_outlasts_the_gateways_worst_case_and_its_key_lock() -> None:
    # The bound _rest.py's ROUTE_TIMEOUTS comment derives, from the gateway's own defaults:
    # one provider unreachable (connect timeouts, then failover), the next one reached with
    # every call timing out or rate limited, and the ledger and audit calls.
    policy, provider = RetryPolicy(), StripeSettings()
    fields = GatewaySettings.model_fields
    waits = [min(policy.cap_s, policy.base_s * 2**n) for n in range(policy.max_attempts - 1)]
    # Each wait follows a failed call: a timed-out one and its backoff, or an immediate 429
    # and its Retry-After (at most max_wait_s).
    reached_s = provider.timeout_s + sum(
        max(provider.timeout_s + w, policy.max_wait_s) for w in waits
    )
    unreachable_s = provider.connect_timeout_s * policy.max_attempts + sum(waits)
    internal_s = 2 * fields["internal_timeout_s"].default
    route_s = int(ec.ROUTE_TIMEOUTS[PAYMENTS].removesuffix("s"))

    assert reached_s + unreachable_s + internal_s < route_s
    # A client retrying after a 504 finds its key still locked (ABORTED, "in use"): the
    # first request is not taken over while it may still be running.
    assert route_s < fields["idempotency_lock_timeout_s"].default


def test_nothing_on_the_rest_path_removes_the_idempotency_key(config: dict[str, Any]) -> None:
    manager = hcm(config, ec.REST_LISTENER)
    removed = [
        m["remove"]
        for f in manager["http_filters"]
        if f["name"] == "envoy.filters.http.header_mutation"
        for m in f["typed_config"]["mutations"].get("request_mutations", [])
    ]
    authz = http_filter(config, ec.REST_LISTENER, "envoy.filters.http.ext_authz")

    assert removed and "idempotency-key" not in removed
    assert "request_headers_to_remove" not in manager["route_config"]
    # On allow, identity's reply adds only these to the request (and removes credentials).
    allowed = authz["http_service"]["authorization_response"]["allowed_upstream_headers"]
    assert {p["exact"] for p in allowed["patterns"]} == {PRINCIPAL_HEADER, "x-request-id"}


# --- the wire ----------------------------------------------------------------------------


@dataclass
class _Recorder:
    """CreatePayment answers CAPTURED and keeps each request and its metadata; the other
    RPCs are not served (UNIMPLEMENTED)."""

    calls: list[tuple[payments_pb2.CreatePaymentRequest, dict[str, str]]] = field(
        default_factory=list
    )
    serving: bool = True
    """False: CreatePayment answers UNIMPLEMENTED, as a gateway without the servicer does."""

    def binding(self) -> ServiceBinding:
        """PaymentService with CreatePayment only."""
        create = (payments_pb2.CreatePaymentRequest, self.create_payment)
        return unary_binding(PAYMENTS, {"CreatePayment": create})

    async def create_payment(
        self,
        request: payments_pb2.CreatePaymentRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> payments_pb2.CreatePaymentResponse:
        if not self.serving:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        metadata = {str(k): str(v) for k, v in context.invocation_metadata() or ()}
        self.calls.append((request, metadata))
        payment = payments_pb2.Payment(
            id=f"pay_stand_in_{len(self.calls)}",
            amount=request.amount,
            status=payments_pb2.PAYMENT_STATUS_CAPTURED,
        )
        return payments_pb2.CreatePaymentResponse(payment=payment)


@dataclass
class _Wire:
    services: Services
    edge: Edge
    recorder: _Recorder


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wire(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[_Wire]:
    """The real services (identity answers ext_authz); an Envoy whose gateway is the stand-in."""
    recorder = _Recorder()
    workdir = tmp_path_factory.mktemp("payment-route")
    async with gateway_stand_in(workdir, [recorder.binding()]) as running:
        yield _Wire(running.services, running.edge, recorder)


def _calls_with(recorder: _Recorder, key: str) -> list[tuple[Any, dict[str, str]]]:
    return [(r, m) for r, m in recorder.calls if m.get("idempotency-key") == key]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_rest_payment_reaches_the_gateway_with_its_idempotency_key_as_metadata(
    wire: _Wire,
) -> None:
    headers = {**wire.edge.auth(), "Idempotency-Key": KEY}
    async with wire.edge.rest_client() as rest:
        reply = await rest.post(PAYMENT_PATH, headers=headers, json=BODY)

    ((request, metadata),) = _calls_with(wire.recorder, KEY)
    assert reply.status_code == 200, reply.text
    assert reply.json()["payment"]["status"] == "PAYMENT_STATUS_CAPTURED"
    assert (request.amount.currency_code, request.amount.minor_units) == ("EUR", 1050)
    assert (request.provider, request.payment_method.token) == ("stripe", "pm_card_visa")
    # The header is not copied into the body's request_id: the gateway reconciles the two.
    assert request.request_id == ""
    # identity vouched for the caller, and the API key itself stopped at the edge.
    assert metadata[PRINCIPAL_HEADER]
    assert "authorization" not in metadata


@pytest.mark.asyncio(loop_scope="module")
async def test_make_runs_smoke_payment_is_one_payment_with_a_fresh_idempotency_key(
    wire: _Wire,
) -> None:
    before = len(wire.recorder.calls)

    done = await payment_through_edge(
        wire.edge.rest_url, wire.services.pki, wire.services.admin_token, "stripe"
    )

    ((request, metadata),) = wire.recorder.calls[before:]
    assert done == f"pay_stand_in_{before + 1} CAPTURED"
    assert metadata["idempotency-key"].startswith("make-run-")
    assert (request.provider, request.payment_method.token) == ("stripe", "pm_card_visa")
    assert (request.amount.currency_code, request.amount.minor_units) == ("USD", 100)


@pytest.mark.asyncio(loop_scope="module")
async def test_make_runs_smoke_payment_is_skipped_visibly_when_the_gateway_does_not_serve_it(
    wire: _Wire,
) -> None:
    before = len(wire.recorder.calls)
    wire.recorder.serving = False
    try:
        done = await payment_through_edge(
            wire.edge.rest_url, wire.services.pki, wire.services.admin_token, "stripe"
        )
    finally:
        wire.recorder.serving = True

    assert done == PAYMENT_SKIPPED
    assert wire.recorder.calls[before:] == []
