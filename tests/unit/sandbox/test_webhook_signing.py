"""Each provider's callback signer against a re-computation written here with hmac/hashlib."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from dataclasses import dataclass

import pytest

from sandbox.config import SandboxConfig
from sandbox.webhooks import authorizenet, currencycloud, paypal, razorpay, stripe
from sandbox.webhooks.wire import Signing

CONFIG = SandboxConfig(public_url="https://127.0.0.1:9999")
NOW = int(time.time())


def _hmac_hex(key: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(key.encode(), message, getattr(hashlib, digest)).hexdigest()


def _t_v1(header: str) -> tuple[int, str]:
    fields = dict(part.split("=", 1) for part in header.split(","))
    return int(fields["t"]), fields["v1"]


def _signing(*, corrupt: bool = False, unix_s: int = NOW) -> Signing:
    return Signing(CONFIG, unix_s, corrupt)


@dataclass
class _Trans:
    trans_id: str = "40000000123"
    response_code: int = 1
    auth_code: str = "A1B2C3"
    currency: str = "USD"
    invoice_number: str = "inv-0001"


def test_a_stripe_signature_is_hmac_sha256_of_the_timestamp_dot_body() -> None:
    event = stripe.stripe_event(stripe.SUCCEEDED, {"id": "pi_1", "object": "payment_intent"})
    header = stripe.sign(event, _signing())["stripe-signature"]
    t, v1 = _t_v1(header)
    assert t == NOW
    expected = _hmac_hex("whsec_paymesh_sandbox_stripe_5d1f0c7a9b", f"{NOW}.".encode() + event.body)
    assert v1 == expected
    body = json.loads(event.body)
    assert body["id"] == event.event_id and body["id"].startswith("evt_")
    assert (body["object"], body["type"], body["api_version"]) == (
        "event",
        "payment_intent.succeeded",
        "2024-06-20",
    )
    assert body["data"]["object"] == {"id": "pi_1", "object": "payment_intent"}


def test_a_corrupted_stripe_signature_keeps_its_shape_but_not_its_value() -> None:
    event = stripe.stripe_event(stripe.CANCELED, {"id": "pi_2"})
    _, good = _t_v1(stripe.sign(event, _signing())["stripe-signature"])
    _, bad = _t_v1(stripe.sign(event, _signing(corrupt=True))["stripe-signature"])
    assert bad != good and len(bad) == len(good)
    assert bytes.fromhex(bad)[:-1] == bytes.fromhex(good)[:-1]


def test_a_stale_signature_carries_the_old_time_and_is_valid_for_it() -> None:
    event = currencycloud.cc_event("payment", currencycloud.PAYMENT_COMPLETED, {"id": "p"})
    old = NOW - 600
    t, v1 = _t_v1(currencycloud.sign(event, _signing(unix_s=old))["x-cc-signature"])
    assert t == old
    assert v1 == _hmac_hex("cc_whsec_paymesh_sandbox", f"{old}.".encode() + event.body)


def test_an_authorizenet_signature_is_upper_case_hmac_sha512_of_the_body() -> None:
    event = authorizenet.anet_event(authorizenet.CAPTURE_CREATED, _Trans(), 1234)
    header = authorizenet.sign(event, _signing())["x-anet-signature"]
    expected = _hmac_hex("7A3F" * 32, event.body, "sha512").upper()
    assert header == f"sha512={expected}"
    body = json.loads(event.body)
    assert body["notificationId"] == event.event_id
    assert body["eventType"] == "net.authorize.payment.capture.created"
    assert body["payload"] == {
        "responseCode": 1,
        "authCode": "A1B2C3",
        "avsResponse": "Y",
        "authAmount": 12.34,
        "entityName": "transaction",
        "id": "40000000123",
        "merchantReferenceId": "inv-0001",
    }
    assert b'"authAmount":12.34,' in event.body


def test_a_razorpay_signature_is_hex_hmac_sha256_of_the_body_with_the_event_id() -> None:
    payment = {"id": "pay_1", "entity": "payment", "amount": 5000}
    refund = {"id": "rfnd_1", "entity": "refund", "amount": 5000}
    event = razorpay.razorpay_event(razorpay.REFUND_PROCESSED, payment, refund)
    headers = razorpay.sign(event, _signing())
    assert headers["x-razorpay-signature"] == _hmac_hex("rzp_whsec_paymesh_sandbox", event.body)
    assert headers["x-razorpay-event-id"] == event.event_id
    body = json.loads(event.body)
    assert (body["entity"], body["event"], body["contains"]) == (
        "event",
        "refund.processed",
        ["refund", "payment"],
    )
    assert body["payload"] == {"refund": {"entity": refund}, "payment": {"entity": payment}}


def test_a_razorpay_payment_event_contains_only_the_payment() -> None:
    event = razorpay.razorpay_event(razorpay.PAYMENT_CAPTURED, {"id": "pay_2"})
    body = json.loads(event.body)
    assert body["contains"] == ["payment"] and set(body["payload"]) == {"payment"}


def test_a_currencycloud_signature_is_the_t_v1_scheme_with_the_notification_id() -> None:
    conversion = {"id": "c1", "status": "trade_settled"}
    event = currencycloud.cc_event("conversion", currencycloud.CONVERSION_COMPLETED, conversion)
    headers = currencycloud.sign(event, _signing())
    t, v1 = _t_v1(headers["x-cc-signature"])
    assert v1 == _hmac_hex("cc_whsec_paymesh_sandbox", f"{t}.".encode() + event.body)
    body = json.loads(event.body)
    assert headers["x-cc-notification-id"] == body["header"]["notification_id"] == event.event_id
    assert body == {
        "header": {
            "message_type": "conversion",
            "notification_type": "conversion_completed",
            "notification_id": event.event_id,
        },
        "body": conversion,
    }


def _paypal_event() -> tuple[bytes, dict[str, str]]:
    resource = {
        "id": "CAP123",
        "status": "COMPLETED",
        "amount": {"currency_code": "EUR", "value": "10.50"},
        "note": "caf\u00e9",
    }
    event = paypal.paypal_event(paypal.CAPTURE_COMPLETED, resource)
    return event.body, paypal.sign(event, _signing())


def test_a_paypal_body_is_canonical_json() -> None:
    body, _ = _paypal_event()
    parsed = json.loads(body)
    canonical = json.dumps(parsed, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert body == canonical.encode()
    assert (parsed["resource_type"], parsed["event_type"], parsed["event_version"]) == (
        "capture",
        "PAYMENT.CAPTURE.COMPLETED",
        "1.0",
    )
    assert parsed["summary"] == "Payment completed for 10.50 EUR"
    assert parsed["id"].startswith("WH-")


def test_a_paypal_transmission_signature_matches_the_documented_construction() -> None:
    body, headers = _paypal_event()
    key = hashlib.sha256(b"paymesh-sandbox/paypal-transmission:paymesh-sandbox-secret").digest()
    message = "|".join(
        (
            headers["paypal-transmission-id"],
            headers["paypal-transmission-time"],
            "WH-PAYMESH-SANDBOX-0001",
            str(zlib.crc32(body)),
        )
    ).encode()
    expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    assert headers["paypal-transmission-sig"] == expected
    assert headers["paypal-auth-algo"] == "SHA256withRSA"
    assert headers["paypal-cert-url"] == (
        "https://127.0.0.1:9999/paypal/v1/notifications/certs/CERT-360caa42-fca2a594-paymesh"
    )
    assert headers["paypal-transmission-time"].endswith("Z")


@pytest.mark.parametrize(
    ("change", "genuine"),
    [
        ({}, True),
        ({"webhook_id": "WH-SOMEONE-ELSE"}, False),
        ({"event": {"tampered": True}}, False),
        ({"now": NOW + 301}, False),
        ({"sig": "AAAA"}, False),
    ],
)
def test_paypal_verification_accepts_only_the_genuine_delivery(
    change: dict[str, object], genuine: bool
) -> None:
    body, headers = _paypal_event()
    now = change.get("now", NOW)
    assert isinstance(now, int)
    verdict = paypal.verify(
        CONFIG,
        headers["paypal-transmission-id"],
        headers["paypal-transmission-time"],
        str(change.get("sig", headers["paypal-transmission-sig"])),
        str(change.get("webhook_id", "WH-PAYMESH-SANDBOX-0001")),
        change.get("event", json.loads(body)),
        now,
    )
    assert verdict is genuine
