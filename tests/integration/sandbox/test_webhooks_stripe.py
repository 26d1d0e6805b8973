"""Stripe's signed Events for PaymentIntent and refund changes, received over real TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxHandle
from tests.integration.sandbox.webhook_receiver import Hooked, hooked, stripe_signature_ok


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["stripe"]


@pytest.fixture
async def hooks(
    sandbox_server: SandboxHandle, sandbox_pki: tuple[Path, Path, Path]
) -> AsyncIterator[Hooked]:
    async with hooked(sandbox_server, sandbox_pki, "stripe") as running:
        yield running


async def _intent(stripe: httpx.AsyncClient, **fields: str) -> dict[str, Any]:
    form = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa"}
    reply = await stripe.post("/v1/payment_intents", data={**form, "confirm": "true", **fields})
    intent: dict[str, Any] = reply.json()
    return intent


async def _events(hooks: Hooked) -> list[dict[str, Any]]:
    """Every Stripe callback once the queue is empty, each checked for its signature."""
    callbacks = await hooks.callbacks()
    assert all(stripe_signature_ok(callback) for callback in callbacks)
    return [callback.json() for callback in callbacks]


async def test_a_manual_capture_sends_the_authorization_then_the_capture(hooks: Hooked) -> None:
    stripe = hooks.api
    intent = await _intent(stripe, capture_method="manual")
    await stripe.post(f"/v1/payment_intents/{intent['id']}/capture")
    [authorized, captured] = await hooks.callbacks()
    assert stripe_signature_ok(authorized) and stripe_signature_ok(captured)
    assert authorized.path == "/v1/provider-webhooks/stripe"
    assert authorized.headers["content-type"] == "application/json"
    first, second = authorized.json(), captured.json()
    assert first["type"] == "payment_intent.amount_capturable_updated"
    assert first["data"]["object"]["id"] == intent["id"]
    assert first["data"]["object"]["status"] == "requires_capture"
    assert first["data"]["object"]["amount_capturable"] == 2000
    assert second["type"] == "payment_intent.succeeded"
    assert second["data"]["object"]["amount_received"] == 2000
    assert first["id"] != second["id"] and first["object"] == "event"
    sent = await hooks.sandbox.control.webhooks_sent("stripe")
    assert [(r["event_id"], r["status"], r["tries"]) for r in sent] == [
        (first["id"], 200, 1),
        (second["id"], 200, 1),
    ]


async def test_an_automatic_capture_sends_succeeded_only(hooks: Hooked) -> None:
    stripe = hooks.api
    intent = await _intent(stripe)
    [event] = await _events(hooks)
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == intent["id"]
    assert event["data"]["object"]["latest_charge"] == intent["latest_charge"]


async def test_a_decline_sends_payment_failed_with_the_error(hooks: Hooked) -> None:
    stripe = hooks.api
    await _intent(stripe, payment_method="pm_card_chargeDeclined")
    [event] = await _events(hooks)
    assert event["type"] == "payment_intent.payment_failed"
    assert event["data"]["object"]["last_payment_error"]["code"] == "card_declined"


async def test_a_cancel_sends_canceled(hooks: Hooked) -> None:
    stripe = hooks.api
    intent = await _intent(stripe, capture_method="manual")
    await stripe.post(f"/v1/payment_intents/{intent['id']}/cancel")
    events = await _events(hooks)
    assert [e["type"] for e in events] == [
        "payment_intent.amount_capturable_updated",
        "payment_intent.canceled",
    ]
    assert events[1]["data"]["object"]["status"] == "canceled"


async def test_a_refund_sends_charge_refunded_with_the_charge(hooks: Hooked) -> None:
    stripe = hooks.api
    intent = await _intent(stripe)
    await stripe.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": "500"})
    events = await _events(hooks)
    assert [e["type"] for e in events] == ["payment_intent.succeeded", "charge.refunded"]
    charge = events[1]["data"]["object"]
    assert (charge["object"], charge["id"], charge["payment_intent"]) == (
        "charge",
        intent["latest_charge"],
        intent["id"],
    )
    assert (charge["amount"], charge["amount_captured"], charge["amount_refunded"]) == (
        2000,
        2000,
        500,
    )
    assert (charge["currency"], charge["refunded"]) == ("usd", False)


async def test_a_refund_fail_card_sends_the_refund_failing_after_it_succeeded(
    hooks: Hooked,
) -> None:
    stripe = hooks.api
    intent = await _intent(stripe, payment_method="pm_card_refundFail")
    created = (await stripe.post("/v1/refunds", data={"payment_intent": intent["id"]})).json()
    assert created["status"] == "succeeded"
    events = await _events(hooks)
    assert [e["type"] for e in events] == [
        "payment_intent.succeeded",
        "charge.refunded",
        "refund.updated",
        "refund.failed",
    ]
    failed = events[3]["data"]["object"]
    assert (failed["id"], failed["object"], failed["status"]) == (created["id"], "refund", "failed")
    assert (failed["payment_intent"], failed["amount"], failed["currency"]) == (
        intent["id"],
        2000,
        "usd",
    )
    later = (await stripe.get(f"/v1/refunds/{created['id']}")).json()
    assert (later["status"], later["failure_reason"]) == ("failed", "expired_or_canceled_card")
