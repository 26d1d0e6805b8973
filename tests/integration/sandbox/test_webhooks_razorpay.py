"""Razorpay's signed webhooks for payment and refund changes, received over real TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxHandle
from tests.integration.sandbox.webhook_receiver import Hooked, hooked, razorpay_signature_ok

CARD = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvv": "123"}
DECLINED = "4000000000000002"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["razorpay"]


@pytest.fixture
async def hooks(
    sandbox_server: SandboxHandle, sandbox_pki: tuple[Path, Path, Path]
) -> AsyncIterator[Hooked]:
    async with hooked(sandbox_server, sandbox_pki, "razorpay") as running:
        yield running


async def _pay(razorpay: httpx.AsyncClient, *, capture: bool, number: str = CARD["number"]) -> str:
    """A payment on a new order of 500.00 INR; its id."""
    order = await razorpay.post(
        "/v1/orders", json={"amount": 50_000, "currency": "INR", "payment_capture": capture}
    )
    body = {
        "amount": 50_000,
        "currency": "INR",
        "order_id": order.json()["id"],
        "email": "payer@example.com",
        "contact": "+919000090000",
        "method": "card",
        "card": {**CARD, "number": number},
    }
    reply = (await razorpay.post("/v1/payments/create/json", json=body)).json()
    if "error" in reply:  # a declined card: the failed payment is named in the error
        return str(reply["error"]["metadata"]["payment_id"])
    return str(reply["razorpay_payment_id"])


async def _events(hooks: Hooked) -> list[dict[str, Any]]:
    callbacks = await hooks.callbacks()
    assert all(razorpay_signature_ok(callback) for callback in callbacks)
    ids = [callback.headers["x-razorpay-event-id"] for callback in callbacks]
    assert len(set(ids)) == len(ids)
    return [callback.json() for callback in callbacks]


async def test_an_auto_captured_payment_and_its_refunds_send_every_change(hooks: Hooked) -> None:
    razorpay = hooks.api
    payment_id = await _pay(razorpay, capture=True)
    refund = (await razorpay.post(f"/v1/payments/{payment_id}/refund", json={"amount": 100})).json()
    failed = await razorpay.post(f"/_sandbox/refunds/{refund['id']}/fail")
    assert failed.json()["status"] == "failed"
    events = await _events(hooks)
    assert [(e["event"], e["contains"]) for e in events] == [
        ("payment.authorized", ["payment"]),
        ("payment.captured", ["payment"]),
        ("refund.processed", ["refund", "payment"]),
        ("refund.failed", ["refund", "payment"]),
    ]
    payments = [e["payload"]["payment"]["entity"] for e in events]
    assert {p["id"] for p in payments} == {payment_id}
    assert [p["status"] for p in payments] == ["authorized", "captured", "captured", "captured"]
    assert [p["amount_refunded"] for p in payments] == [0, 0, 100, 0]
    refunds = [e["payload"]["refund"]["entity"] for e in events[2:]]
    assert [(r["id"], r["status"]) for r in refunds] == [
        (refund["id"], "processed"),
        (refund["id"], "failed"),
    ]
    assert events[0]["entity"] == "event" and events[0]["account_id"].startswith("acc_")


async def test_a_manual_capture_sends_authorized_then_captured(hooks: Hooked) -> None:
    razorpay = hooks.api
    payment_id = await _pay(razorpay, capture=False)
    await razorpay.post(
        f"/v1/payments/{payment_id}/capture", json={"amount": 50_000, "currency": "INR"}
    )
    events = await _events(hooks)
    assert [e["event"] for e in events] == ["payment.authorized", "payment.captured"]
    assert events[1]["payload"]["payment"]["entity"]["fee"] == 1180


async def test_a_lapsed_authorization_sends_its_automatic_refund(hooks: Hooked) -> None:
    razorpay = hooks.api
    payment_id = await _pay(razorpay, capture=False)
    await razorpay.post(f"/_sandbox/payments/{payment_id}/lapse")
    events = await _events(hooks)
    assert [e["event"] for e in events] == ["payment.authorized", "refund.processed"]
    payment = events[1]["payload"]["payment"]["entity"]
    assert (payment["status"], payment["captured"]) == ("refunded", False)


async def test_a_declined_card_sends_payment_failed(hooks: Hooked) -> None:
    razorpay = hooks.api
    payment_id = await _pay(razorpay, capture=True, number=DECLINED)
    [event] = await _events(hooks)
    payment = event["payload"]["payment"]["entity"]
    assert (event["event"], payment["id"], payment["status"]) == (
        "payment.failed",
        payment_id,
        "failed",
    )
    assert payment["error_code"] == "BAD_REQUEST_ERROR"


async def test_only_a_processed_refund_of_a_captured_payment_can_fail(hooks: Hooked) -> None:
    razorpay = hooks.api
    payment_id = await _pay(razorpay, capture=True)
    refund = (await razorpay.post(f"/v1/payments/{payment_id}/refund", json={})).json()
    assert (await razorpay.post(f"/_sandbox/refunds/{refund['id']}/fail")).status_code == 200
    again = await razorpay.post(f"/_sandbox/refunds/{refund['id']}/fail")
    assert again.status_code == 400
    assert "processed refund" in again.json()["error"]["description"]
    unknown = await razorpay.post("/_sandbox/refunds/rfnd_nothing/fail")
    assert unknown.status_code == 400
