"""PayPal's webhooks, and the verify-webhook-signature call a receiver checks them with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxHandle
from tests.integration.sandbox.webhook_receiver import Hooked, Received, hooked

VERIFY = "/v1/notifications/verify-webhook-signature"
FULL = {"prefer": "return=representation"}


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["paypal"]


@pytest.fixture
async def hooks(
    sandbox_server: SandboxHandle, sandbox_pki: tuple[Path, Path, Path]
) -> AsyncIterator[Hooked]:
    async with hooked(sandbox_server, sandbox_pki, "paypal") as running:
        yield running


async def _order(paypal: httpx.AsyncClient, intent: str, name: str = "") -> dict[str, Any]:
    """A completed card order; its purchase unit's ``payments``."""
    card = {"number": "4242424242424242", "expiry": "2030-12", "security_code": "123"}
    body = {
        "intent": intent,
        "purchase_units": [
            {"custom_id": "att_1", "amount": {"currency_code": "USD", "value": "10.00"}}
        ],
        "payment_source": {"card": {**card, "name": name} if name else card},
    }
    reply = await paypal.post("/v2/checkout/orders", json=body, headers=FULL)
    order: dict[str, Any] = reply.json()
    payments: dict[str, Any] = order["purchase_units"][0]["payments"]
    return {"order_id": order["id"], **payments}


def _verification(callback: Received, **changes: Any) -> dict[str, Any]:
    headers = callback.headers
    return {
        "auth_algo": headers["paypal-auth-algo"],
        "cert_url": headers["paypal-cert-url"],
        "transmission_id": headers["paypal-transmission-id"],
        "transmission_sig": headers["paypal-transmission-sig"],
        "transmission_time": headers["paypal-transmission-time"],
        "webhook_id": "WH-PAYMESH-SANDBOX-0001",
        "webhook_event": callback.json(),
        **changes,
    }


async def _verdict(paypal: httpx.AsyncClient, request: dict[str, Any]) -> str:
    reply = await paypal.post(VERIFY, json=request)
    assert reply.status_code == 200, reply.text
    status: str = reply.json()["verification_status"]
    return status


async def test_a_capture_and_its_refund_send_completed_then_refunded(hooks: Hooked) -> None:
    paypal = hooks.api
    payments = await _order(paypal, "CAPTURE")
    capture_id = payments["captures"][0]["id"]
    refund = await paypal.post(
        f"/v2/payments/captures/{capture_id}/refund",
        json={"amount": {"currency_code": "USD", "value": "4.00"}},
    )
    events = [c.json() for c in await hooks.callbacks()]
    assert [(e["event_type"], e["resource_type"]) for e in events] == [
        ("PAYMENT.CAPTURE.COMPLETED", "capture"),
        ("PAYMENT.CAPTURE.REFUNDED", "refund"),
    ]
    capture, refunded = events[0]["resource"], events[1]["resource"]
    assert (capture["id"], capture["status"], capture["amount"]) == (
        capture_id,
        "COMPLETED",
        {"currency_code": "USD", "value": "10.00"},
    )
    assert capture["supplementary_data"]["related_ids"] == {"order_id": payments["order_id"]}
    assert (refunded["id"], refunded["amount"]["value"]) == (refund.json()["id"], "4.00")
    assert events[0]["id"].startswith("WH-") and events[0]["event_version"] == "1.0"


async def test_an_authorization_captured_and_another_voided_send_theirs(hooks: Hooked) -> None:
    paypal = hooks.api
    first = (await _order(paypal, "AUTHORIZE"))["authorizations"][0]["id"]
    second = (await _order(paypal, "AUTHORIZE"))["authorizations"][0]["id"]
    await paypal.post(f"/v2/payments/authorizations/{first}/capture", json={})
    await paypal.post(f"/v2/payments/authorizations/{second}/void")
    events = [c.json() for c in await hooks.callbacks()]
    assert [(e["event_type"], e["resource"]["status"]) for e in events] == [
        ("PAYMENT.AUTHORIZATION.CREATED", "CREATED"),
        ("PAYMENT.AUTHORIZATION.CREATED", "CREATED"),
        ("PAYMENT.CAPTURE.COMPLETED", "COMPLETED"),
        ("PAYMENT.AUTHORIZATION.VOIDED", "VOIDED"),
    ]
    related = events[2]["resource"]["supplementary_data"]["related_ids"]
    assert related["authorization_id"] == first
    assert events[3]["resource"]["id"] == second


async def test_a_declined_card_sends_capture_denied(hooks: Hooked) -> None:
    paypal = hooks.api
    await _order(paypal, "CAPTURE", name="CCREJECT-REFUSED")
    [callback] = await hooks.callbacks()
    event = callback.json()
    assert (event["event_type"], event["resource"]["status"]) == (
        "PAYMENT.CAPTURE.DENIED",
        "DECLINED",
    )
    assert event["resource"]["processor_response"]["response_code"] == "0500"


async def test_verification_succeeds_for_a_genuine_delivery_only(hooks: Hooked) -> None:
    paypal = hooks.api
    await _order(paypal, "CAPTURE")
    [callback] = await hooks.callbacks()
    assert await _verdict(paypal, _verification(callback)) == "SUCCESS"
    tampered = {**callback.json(), "summary": "Payment completed for 1000000.00 USD"}
    assert await _verdict(paypal, _verification(callback, webhook_event=tampered)) == "FAILURE"
    wrong_id = _verification(callback, webhook_id="WH-SOMEONE-ELSE")
    assert await _verdict(paypal, wrong_id) == "FAILURE"
    moved = _verification(callback, transmission_time="2020-01-01T00:00:00Z")
    assert await _verdict(paypal, moved) == "FAILURE"


@pytest.mark.parametrize("mode", ["stale", "bad_signature"])
async def test_a_stale_or_corrupted_delivery_fails_verification(hooks: Hooked, mode: str) -> None:
    """Stale: signed right, for a time ten minutes old; bad_signature: the MAC corrupted."""
    paypal = hooks.api
    await hooks.sandbox.control.webhook_mode(mode, provider="paypal")
    await _order(paypal, "CAPTURE")
    [callback] = await hooks.callbacks()
    assert await _verdict(paypal, _verification(callback)) == "FAILURE"


async def test_verification_needs_a_token_and_every_field(hooks: Hooked) -> None:
    paypal = hooks.api
    await _order(paypal, "CAPTURE")
    [callback] = await hooks.callbacks()
    async with hooks.sandbox.client("paypal") as anonymous:
        refused = await anonymous.post(VERIFY, json=_verification(callback))
    assert refused.status_code == 401
    assert refused.json()["name"] == "AUTHENTICATION_FAILURE"
    request = _verification(callback)
    del request["transmission_id"]
    missing = await paypal.post(VERIFY, json=request)
    assert missing.status_code == 400
    assert missing.json()["name"] == "VALIDATION_ERROR"
    assert missing.json()["details"][0]["field"] == "transmission_id"


async def test_the_cert_url_serves_a_pem_certificate(hooks: Hooked) -> None:
    paypal = hooks.api
    await _order(paypal, "CAPTURE")
    [callback] = await hooks.callbacks()
    url = callback.headers["paypal-cert-url"]
    assert url.startswith(hooks.sandbox.base_url("paypal"))
    async with hooks.sandbox.client() as anonymous:
        cert = await anonymous.get(url)
        unknown = await anonymous.get(url.replace("CERT-", "NOT-"))
    assert cert.status_code == 200
    assert cert.text.startswith("-----BEGIN CERTIFICATE-----")
    assert unknown.status_code == 404
