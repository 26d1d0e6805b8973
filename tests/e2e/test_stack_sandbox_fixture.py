"""The e2e stack fixture's gateway pays at its in-process sandbox, through the real Envoy.

One stack for the module (tests/e2e/stack_fixture.py): the services, the sandbox and an
Envoy, whose internal listener is where the gateway posts to the ledger. Each test makes its
own merchant key and payments; a test that scripts a fault clears it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from identity_svc.domain.permissions import Role
from tests.e2e.stack_fixture import Edge, start_edge, start_services

pytestmark = pytest.mark.asyncio(loop_scope="module")

INTENTS = "POST /v1/payment_intents"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Edge]:
    workdir = tmp_path_factory.mktemp("sandbox-fixture")
    async with start_services(workdir) as services, start_edge(services, workdir / "edge") as e:
        yield e


async def _pay(edge: Edge, token: str, key: str) -> httpx.Response:
    body = {
        "amount": {"currency_code": "USD", "minor_units": "1250"},
        "payment_method": {"token": "pm_card_visa"},
        "provider": "stripe",
    }
    headers = {**edge.auth(token), "idempotency-key": key}
    async with edge.rest_client() as rest:
        rest.timeout = httpx.Timeout(30.0)
        return await rest.post("/v1/payments", headers=headers, json=body)


async def _stripe_counts(edge: Edge) -> tuple[int, int]:
    """(PaymentIntent creations the sandbox saw, scripted Stripe errors it answered)."""
    stats: dict[str, Any] = await edge.services.sandbox_control.stats()
    posts: int = stats["requests"].get("stripe", {}).get("paths", {}).get(INTENTS, 0)
    errors: int = stats["faults_fired"].get("stripe", {}).get("error", 0)
    return posts, errors


async def _ledger_codes_naming(edge: Edge, merchant_id: str) -> list[str]:
    """The codes of ledger accounts that name ``merchant_id``, waiting up to 5 s for one."""
    deadline = asyncio.get_running_loop().time() + 5.0
    async with edge.rest_client() as rest:
        while True:
            reply = await rest.get(
                "/v1/ledger/accounts", params={"page_size": 1000}, headers=edge.auth()
            )
            accounts = reply.json().get("accounts", [])
            codes = [a["code"] for a in accounts if merchant_id in a["code"]]
            if codes or asyncio.get_running_loop().time() > deadline:
                return codes
            await asyncio.sleep(0.05)


async def test_the_fixture_points_every_gateway_provider_at_its_sandbox(edge: Edge) -> None:
    services = edge.services
    async with httpx.AsyncClient(
        base_url=services.sandbox_url, verify=services.sandbox.ssl_context()
    ) as client:
        health = (await client.get("/healthz")).json()

    assert services.sandbox_url.startswith("https://127.0.0.1:")
    assert services.sandbox_ca == services.pki / "ca.pem"
    assert {"stripe", "authorizenet", "razorpay", "paypal"} <= set(health["providers"])


async def test_a_rest_payment_is_charged_at_the_sandbox_once_per_idempotency_key(
    edge: Edge,
) -> None:
    token = await edge.services.key(Role.DEVELOPER)
    key = f"order-{uuid.uuid4().hex}"
    posts, _ = await _stripe_counts(edge)

    first = await _pay(edge, token, key)
    again = await _pay(edge, token, key)

    assert first.status_code == 200, first.text
    assert first.json()["payment"]["status"] == "PAYMENT_STATUS_CAPTURED"
    assert again.json()["payment"]["id"] == first.json()["payment"]["id"]
    assert await _stripe_counts(edge) == (posts + 1, 0)


async def test_the_gateway_posts_to_the_ledger_through_the_edges_internal_listener(
    edge: Edge,
) -> None:
    token = await edge.services.key(Role.DEVELOPER)
    async with edge.rest_client() as rest:
        merchant = (await rest.get("/v1/me", headers=edge.auth(token))).json()["principal"]
    paid = await _pay(edge, token, f"order-{uuid.uuid4().hex}")

    # The postings leave through the gateway's outbox, moments after the reply.
    codes = await _ledger_codes_naming(edge, merchant["merchant_id"])

    assert paid.status_code == 200, paid.text
    assert codes, "no ledger account of the merchant appeared"


async def test_a_fault_scripted_at_the_sandbox_is_what_the_gateway_meets(edge: Edge) -> None:
    control = edge.services.sandbox_control
    token = await edge.services.key(Role.DEVELOPER)
    posts, errors = await _stripe_counts(edge)
    await control.add_fault(provider="stripe", kind="error", status=500, count=1)
    try:
        reply = await _pay(edge, token, f"order-{uuid.uuid4().hex}")
    finally:
        await control.clear_faults("stripe")

    # The 500 came back to a call carrying Stripe's idempotency key: the gateway retried it.
    assert await _stripe_counts(edge) == (posts + 2, errors + 1)
    assert reply.status_code == 200, reply.text
    assert reply.json()["payment"]["status"] == "PAYMENT_STATUS_CAPTURED"
