"""Standard Webhooks signing, proven with the reference receiver (the ``standardwebhooks``
package from PyPI), plus secrets, rotation, event types and the event document's bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway_svc.domain import webhooks as wh
from gateway_svc.domain.errors import ValidationFailed

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
OLD = wh.new_secret(bytes(range(32)))
NEW = wh.new_secret(bytes(range(100, 132)))
OTHER = wh.new_secret(b"\xff" * 32)


def document() -> bytes:
    return wh.event_document(
        "evt_01JC0000000000000000000000",
        wh.EventType.PAYMENT_CAPTURED,
        NOW,
        {"payment_id": "pay_1", "amount": {"minor_units": 1999, "currency_code": "EUR"}},
    )


def signed(secrets: list[str], body: bytes | None = None) -> tuple[bytes, dict[str, str]]:
    """A delivery signed now (the reference receiver refuses timestamps 5 min away)."""
    body = document() if body is None else body
    return body, wh.headers("evt_01JC0000000000000000000000", int(time.time()), body, secrets)


# -- the reference receiver ------------------------------------------------------------------


def test_the_reference_receiver_verifies_a_delivery_and_gets_the_document_back():
    body, headers = signed([NEW])
    assert Webhook(NEW).verify(body, headers) == json.loads(body)


def test_during_a_rotation_both_secrets_sign_and_each_verifies_alone():
    body, headers = signed([NEW, OLD])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(NEW).verify(body, headers)["type"] == "payment.captured"
    assert Webhook(OLD).verify(body, headers)["type"] == "payment.captured"
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(body, headers)


def test_a_changed_byte_or_another_id_fails_verification():
    body, headers = signed([NEW])
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(body.replace(b"1999", b"1998"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(body, {**headers, "webhook-id": "evt_other"})


def test_a_signature_is_an_hmac_sha256_of_id_timestamp_and_body():
    # An independent recomputation, beside the reference receiver.
    body = b'{"a":1}'
    key = base64.b64decode(NEW.removeprefix("whsec_"))
    digest = hmac.new(key, b"evt_1.1700000000." + body, hashlib.sha256).digest()
    assert wh.sign("evt_1", 1_700_000_000, body, [NEW]) == "v1," + base64.b64encode(digest).decode(
        "ascii"
    )


def test_the_headers_are_the_three_standard_ones_and_the_content_type():
    body = b"{}"
    headers = wh.headers("evt_1", 1_700_000_000, body, [NEW, OLD])
    assert headers == {
        "webhook-id": "evt_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": wh.sign("evt_1", 1_700_000_000, body, [NEW, OLD]),
        "content-type": "application/json",
    }
    first, second = headers["webhook-signature"].split(" ")
    assert first.startswith("v1,") and second.startswith("v1,") and first != second


def test_signing_needs_a_secret_and_a_plain_message_id():
    with pytest.raises(ValueError, match="at least one"):
        wh.sign("evt_1", 1, b"", [])
    for bad_id in ("", "evt.1", "evt 1", "evt_\n"):
        with pytest.raises(ValueError, match="message id"):
            wh.sign(bad_id, 1, b"", [NEW])


# -- secrets ---------------------------------------------------------------------------------


def test_a_new_secret_is_whsec_and_the_base64_of_the_random_bytes():
    raw = bytes(range(32))
    secret = wh.new_secret(raw)
    assert secret.startswith("whsec_")
    assert base64.b64decode(secret.removeprefix("whsec_"), validate=True) == raw
    assert wh.secret_key(secret) == raw


def test_fewer_than_24_random_bytes_make_no_secret():
    assert wh.secret_key(wh.new_secret(b"k" * 24)) == b"k" * 24
    with pytest.raises(ValueError, match="24"):
        wh.new_secret(b"k" * 23)


@pytest.mark.parametrize(
    "secret",
    ["sk_" + "A" * 44, "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode()],
)
def test_a_malformed_secret_is_refused(secret):
    with pytest.raises(ValueError, match="secret"):
        wh.secret_key(secret)


# -- rotation --------------------------------------------------------------------------------


def test_a_rotation_keeps_the_old_secret_signing_for_the_overlap_only():
    secrets = wh.rotate([wh.EndpointSecret(OLD)], NEW, NOW)
    assert secrets == (
        wh.EndpointSecret(NEW, None, NOW),  # issued now: the endpoint shows its issue time
        wh.EndpointSecret(OLD, NOW + timedelta(hours=24)),
    )
    assert wh.active_secrets(secrets, NOW + timedelta(hours=23)) == (NEW, OLD)
    assert wh.active_secrets(secrets, NOW + timedelta(hours=24)) == (NEW,)


def test_a_second_rotation_drops_expired_secrets_and_keeps_earlier_expiries():
    once = wh.rotate([wh.EndpointSecret(OLD)], NEW, NOW)
    twice = wh.rotate(once, OTHER, NOW + timedelta(hours=1), overlap=timedelta(hours=48))
    assert twice == (
        wh.EndpointSecret(OTHER, None, NOW + timedelta(hours=1)),
        wh.EndpointSecret(NEW, NOW + timedelta(hours=49), NOW),
        wh.EndpointSecret(OLD, NOW + timedelta(hours=24)),
    )
    later = wh.rotate(twice, wh.new_secret(b"z" * 32), NOW + timedelta(hours=30))
    assert OLD not in {s.secret for s in later}


def test_a_zero_overlap_retires_the_old_secret_at_once():
    secrets = wh.rotate([wh.EndpointSecret(OLD)], NEW, NOW, overlap=timedelta(0))
    assert wh.active_secrets(secrets, NOW) == (NEW,)


def test_a_rotation_refuses_a_malformed_or_reused_secret_and_a_negative_overlap():
    with pytest.raises(ValueError, match="secret"):
        wh.rotate([wh.EndpointSecret(OLD)], "whsec_short", NOW)
    with pytest.raises(ValueError, match="already"):
        wh.rotate([wh.EndpointSecret(OLD)], OLD, NOW)
    with pytest.raises(ValueError, match="negative"):
        wh.rotate([wh.EndpointSecret(OLD)], NEW, NOW, overlap=timedelta(seconds=-1))


# -- event types and the document ------------------------------------------------------------


def test_the_event_types_are_the_issues_nine():
    assert {t.value for t in wh.EventType} == {
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "payment.canceled",
        "refund.succeeded",
        "refund.failed",
        "conversion.completed",
        "payout.completed",
        "payout.failed",
    }


def test_a_filter_drops_duplicates_and_an_empty_one_wants_everything():
    chosen = wh.event_filter(["refund.failed", "payment.captured", "refund.failed"])
    assert chosen == (wh.EventType.REFUND_FAILED, wh.EventType.PAYMENT_CAPTURED)
    assert wh.wants(chosen, wh.EventType.PAYMENT_CAPTURED)
    assert not wh.wants(chosen, wh.EventType.PAYOUT_FAILED)
    assert wh.event_filter([]) == ()
    assert all(wh.wants((), t) for t in wh.EventType)


def test_unknown_event_types_are_refused_one_violation_each():
    with pytest.raises(ValidationFailed) as caught:
        wh.event_filter(["payment.captured", "payment.refunded", "PAYOUT.FAILED"])
    assert [v.field for v in caught.value.violations] == ["event_types[1]", "event_types[2]"]
    assert "'payment.refunded' is not an event type" in caught.value.violations[0].description
    assert caught.value.reason == "VALIDATION_FAILED"
    assert "(and 1 more)" in caught.value.message


def test_the_document_is_versioned_compact_json_with_a_utc_timestamp():
    doc = json.loads(document())
    assert list(doc) == ["id", "type", "api_version", "timestamp", "data"]
    assert doc["id"] == "evt_01JC0000000000000000000000"
    assert doc["type"] == "payment.captured"
    assert doc["api_version"] == wh.API_VERSION == "2026-11-01"
    assert doc["timestamp"] == "2026-11-02T09:30:00.000000Z"
    assert doc["data"]["amount"] == {"minor_units": 1999, "currency_code": "EUR"}
    assert b" " not in document()


def test_the_documents_bytes_are_stable_whatever_the_key_order_or_time_zone():
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    reordered = wh.event_document(
        "evt_01JC0000000000000000000000",
        "payment.captured",
        local,
        {"amount": {"currency_code": "EUR", "minor_units": 1999}, "payment_id": "pay_1"},
    )
    assert reordered == document()
    assert document() == document()


def test_the_document_refuses_a_naive_time_a_bad_id_an_unknown_type_and_nan():
    with pytest.raises(ValueError, match="timezone"):
        wh.event_document("evt_1", "payment.failed", datetime(2026, 1, 1), {})  # noqa: DTZ001
    with pytest.raises(ValueError, match="evt_"):
        wh.event_document("pay_1", "payment.failed", NOW, {})
    with pytest.raises(ValueError, match=r"payment\.refunded"):
        wh.event_document("evt_1", "payment.refunded", NOW, {})
    with pytest.raises(ValueError, match="JSON"):
        wh.event_document("evt_1", "payment.failed", NOW, {"rate": float("nan")})
