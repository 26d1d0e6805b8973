"""Provider callbacks end to end: the sandbox sends its real signed callbacks through the real
Envoy (REST listener, the public route, HttpBody) to the gateway under test.

For each provider, a payment made through the gateway's REST API makes the sandbox call back,
and every callback is verified, recorded in the inbound table and changes nothing the gateway
did not already know. The sandbox's fault modes then prove the rest of the contract: forged
and stale signatures are refused with 401 and leave no trace, duplicates have one effect,
events out of order end in the right state with the real ledger (read through its REST API)
matching, and a capture made at the provider directly reaches the gateway only by its
callback. Callbacks are on only for this module's tests (``callbacks``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway_svc.adapters.webhook_records import InboundOutcome
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from sandbox.testing import SandboxHandle
from tests.integration.gateway.fx_support import CONVERSIONS, FxMerchant, fund, ok
from tests.integration.gateway.payments_support import (
    ERROR_INFO,
    Merchant,
    Totals,
    books,
    card,
    minor,
    money,
    payment_body,
    token,
)
from tests.integration.gateway.support import GatewayStack, point_callbacks
from tests.integration.sandbox.test_currencycloud_adapter_support import control

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")
METHODS = {
    "stripe": ("USD", VISA),
    "authorizenet": ("USD", card("4111111111111111")),
    "razorpay": ("INR", VISA),
    "paypal": ("USD", token("PAYPAL-VAULT-1")),
}
"""A method and currency each provider takes (as the payment tests use them)."""
AMOUNT = 10_000


@pytest_asyncio.fixture(loop_scope="package")
async def callbacks(stack: GatewayStack, sandbox: SandboxHandle) -> AsyncIterator[SandboxHandle]:
    """The sandbox sending its callbacks to the edge for one test, every mode normal; after
    it, whatever is pending is flushed, and sending stops again."""
    await sandbox.control.webhook_mode("normal")
    await point_callbacks(stack.services, stack.edge, enabled=True)
    yield sandbox
    await sandbox.control.flush_webhooks()
    await sandbox.control.webhook_mode("normal")
    await point_callbacks(stack.services, stack.edge, enabled=False)


async def last_seq(sandbox: SandboxHandle) -> int:
    """Once every pending callback was sent: the newest delivery's number (0 before any)."""
    await sandbox.control.flush_webhooks()
    sent = await sandbox.control.webhooks_sent()
    return max((int(r["seq"]) for r in sent), default=0)


async def flushed(sandbox: SandboxHandle, after: int, provider: str) -> list[dict[str, Any]]:
    """Every delivery of ``provider`` finished after ``after``, once nothing is pending."""
    await sandbox.control.flush_webhooks()
    sent = await sandbox.control.webhooks_sent(provider)
    return [r for r in sent if int(r["seq"]) > after]


async def outcome(stack: GatewayStack, provider: str, event_id: str) -> InboundOutcome | None:
    """The gateway's inbound record of one callback; None when it kept none."""
    async with GatewayUnitOfWork(stack.parts.engine, read_only=True) as uow:
        found = await uow.provider_events.get(provider, event_id)
    return None if found is None else found.outcome


async def paid(merchant: Merchant, provider: str, *, manual: bool = True) -> dict[str, Any]:
    currency, method = METHODS[provider]
    return await merchant.pay(
        payment_body(AMOUNT, currency, method, provider=provider, manual=manual)
    )


def stripe_api(sandbox: SandboxHandle) -> httpx.AsyncClient:
    """Stripe's API at the sandbox, signed in: what a merchant's dashboard would call."""
    secret = sandbox.config.stripe_secret_key
    return sandbox.client("stripe", headers={"authorization": f"Bearer {secret}"})


@pytest.mark.parametrize("provider", sorted(METHODS))
async def test_a_payments_callbacks_arrive_verified_recorded_and_change_nothing_known(
    stack: GatewayStack, callbacks: SandboxHandle, merchant: Merchant, provider: str
) -> None:
    start = await last_seq(callbacks)
    payment = await paid(merchant, provider)
    assert (await merchant.capture(payment["id"])).status_code == 200
    assert (await merchant.refund(payment["id"], money(1_000, METHODS[provider][0]))).is_success

    sent = await flushed(callbacks, start, provider)

    assert len(sent) >= 3, sent  # authorized, captured, refunded (and more for some)
    assert {(r["status"], r["delivered"]) for r in sent} == {(200, True)}
    assert all(r["url"].endswith(f"/v1/provider-webhooks/{provider}") for r in sent)
    recorded = {await outcome(stack, provider, r["event_id"]) for r in sent}
    assert recorded == {InboundOutcome.IGNORED}  # the gateway already knew every change
    after = (await merchant.get(payment["id"])).json()["payment"]
    assert after["status"] == "PAYMENT_STATUS_CAPTURED"
    assert minor(after["amount_refunded"]) == 1_000


@pytest.mark.parametrize("mode", ["bad_signature", "stale"])
async def test_a_forged_or_stale_callback_is_refused_401_and_leaves_no_trace(
    stack: GatewayStack, callbacks: SandboxHandle, merchant: Merchant, mode: str
) -> None:
    await callbacks.control.webhook_mode(mode, "stripe")
    start = await last_seq(callbacks)
    payment = await paid(merchant, "stripe", manual=False)

    [refused] = await flushed(callbacks, start, "stripe")

    assert (refused["status"], refused["delivered"], refused["mode"]) == (401, False, mode)
    assert await outcome(stack, "stripe", refused["event_id"]) is None
    kept = (await merchant.get(payment["id"])).json()["payment"]
    assert kept["status"] == "PAYMENT_STATUS_CAPTURED"


async def test_a_refusal_reaches_the_provider_as_a_json_error_with_its_reason(
    rest: httpx.AsyncClient,
) -> None:
    body = b'{"id":"evt_forged","object":"event","type":"payment_intent.succeeded"}'
    headers = {"stripe-signature": "t=1700000000,v1=" + "0" * 64}

    forged = await rest.post("/v1/provider-webhooks/stripe", content=body, headers=headers)
    unknown = await rest.post("/v1/provider-webhooks/adyen", content=body, headers=headers)

    assert forged.status_code == 401, forged.text
    [info] = [d for d in forged.json()["details"] if d["@type"] == ERROR_INFO]
    assert info["reason"] == "WEBHOOK_SIGNATURE_INVALID"
    assert unknown.status_code == 404, unknown.text


async def test_duplicated_callbacks_have_one_effect(
    stack: GatewayStack, callbacks: SandboxHandle, merchant: Merchant, rest: httpx.AsyncClient
) -> None:
    payment = await paid(merchant, "stripe")
    start = await last_seq(callbacks)
    await callbacks.control.webhook_mode("duplicate", "stripe")
    async with stripe_api(callbacks) as api:
        captured = await api.post(f"/v1/payment_intents/{payment['provider_reference']}/capture")
        assert captured.status_code == 200, captured.text

    sent = await flushed(callbacks, start, "stripe")

    assert len(sent) == 2 and len({r["event_id"] for r in sent}) == 1
    assert {r["status"] for r in sent} == {200}
    assert await outcome(stack, "stripe", sent[0]["event_id"]) is InboundOutcome.PROCESSED
    after = (await merchant.get(payment["id"])).json()["payment"]
    assert after["status"] == "PAYMENT_STATUS_CAPTURED"
    await stack.parts.payments.relay.drain()
    usd = (await books(stack.edge, rest, merchant.merchant_id))[
        f"gw/{merchant.merchant_id}/USD/clearing"
    ]
    assert (usd.debits_posted, usd.debits_pending) == (AMOUNT, 0)


async def test_callbacks_out_of_order_end_captured_and_refunded_with_the_ledger_matching(
    stack: GatewayStack, callbacks: SandboxHandle, merchant: Merchant, rest: httpx.AsyncClient
) -> None:
    payment = await paid(merchant, "stripe")
    intent = payment["provider_reference"]
    start = await last_seq(callbacks)
    await callbacks.control.webhook_mode("reverse", "stripe")
    async with stripe_api(callbacks) as api:
        assert (await api.post(f"/v1/payment_intents/{intent}/capture")).is_success
        refunded = await api.post("/v1/refunds", data={"payment_intent": intent, "amount": "2500"})
        assert refunded.is_success, refunded.text

    sent = await flushed(callbacks, start, "stripe")

    assert [r["type"] for r in sent] == ["charge.refunded", "payment_intent.succeeded"]
    assert {r["status"] for r in sent} == {200}
    after = (await merchant.get(payment["id"])).json()["payment"]
    assert after["status"] == "PAYMENT_STATUS_CAPTURED"
    assert (minor(after["amount_captured"]), minor(after["amount_refunded"])) == (AMOUNT, 2_500)
    [made] = (await merchant.refunds(payment["id"])).json()["refunds"]
    assert made["status"] == "REFUND_STATUS_SUCCEEDED"
    await stack.parts.payments.relay.drain()
    ledger = await books(stack.edge, rest, merchant.merchant_id)
    base = f"gw/{merchant.merchant_id}/USD"
    assert ledger[f"{base}/clearing"] == Totals(AMOUNT, 2_500, 0, 0)
    assert ledger[f"{base}/payable"] == Totals(2_500, AMOUNT, 0, 0)
    assert ledger[f"{base}/refunds"] == Totals(2_500, 2_500, 0, 0)


async def test_a_capture_made_at_the_sandbox_reaches_the_gateway_only_by_its_callback(
    stack: GatewayStack, callbacks: SandboxHandle, merchant: Merchant, rest: httpx.AsyncClient
) -> None:
    payment = await paid(merchant, "stripe")
    start = await last_seq(callbacks)
    async with stripe_api(callbacks) as api:
        reply = await api.post(f"/v1/payment_intents/{payment['provider_reference']}/capture")
        assert reply.status_code == 200, reply.text

    [sent] = await flushed(callbacks, start, "stripe")

    assert (sent["type"], sent["status"]) == ("payment_intent.succeeded", 200)
    after = (await merchant.get(payment["id"])).json()["payment"]
    assert after["status"] == "PAYMENT_STATUS_CAPTURED"
    assert minor(after["amount_captured"]) == AMOUNT
    await stack.parts.payments.relay.drain()
    ledger = await books(stack.edge, rest, merchant.merchant_id)
    clearing = ledger[f"gw/{merchant.merchant_id}/USD/clearing"]
    assert (clearing.debits_posted, clearing.debits_pending) == (AMOUNT, 0)


async def test_a_settled_conversion_completes_by_its_notification(
    stack: GatewayStack, callbacks: SandboxHandle, fx_merchant: FxMerchant
) -> None:
    await fund(stack.parts, fx_merchant, 100_000, "GBP")
    quote = ok(await fx_merchant.quote("EUR", "GBP", "SELL", 50_000), "quote")
    conversion = ok(await fx_merchant.post(CONVERSIONS, {"quote_id": quote["id"]}), "conversion")
    start = await last_seq(callbacks)
    for _ in range(2):  # funds arrive, then the trade settles
        await control(callbacks, f"conversions/{conversion['provider_reference']}/advance")

    [sent] = await flushed(callbacks, start, "currencycloud")

    assert (sent["type"], sent["status"]) == ("conversion_completed", 200)
    assert await outcome(stack, "currencycloud", sent["event_id"]) is InboundOutcome.PROCESSED
    done = ok(await fx_merchant.get(f"{CONVERSIONS}/{conversion['id']}"), "conversion")
    assert done["status"] == "CONVERSION_STATUS_COMPLETED"
