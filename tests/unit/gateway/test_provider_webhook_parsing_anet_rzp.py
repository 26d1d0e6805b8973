"""Authorize.net's and Razorpay's callback bodies -> ProviderEvent (no I/O).

Stripe and the checks every provider shares are in test_provider_webhook_parsing.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway_svc.domain.errors import WebhookPayloadInvalid
from gateway_svc.domain.provider_event_parsing import parse_authorizenet, parse_razorpay
from gateway_svc.domain.provider_webhooks import EventKind, WebhookProvider
from tests.unit.gateway import provider_webhook_bodies as b

AT = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
RZP_HEADERS = {"x-razorpay-event-id": "evt_AbCdEf00000001"}
ANET = "net.authorize.payment."

# ----------------------------------------------------------------------------- Authorize.net


@pytest.mark.parametrize(
    ("kind", "expected", "refund"),
    [
        ("authorization.created", EventKind.AUTHORIZED, False),
        ("authcapture.created", EventKind.CAPTURED, False),
        ("capture.created", EventKind.CAPTURED, False),
        ("priorAuthCapture.created", EventKind.CAPTURED, False),
        ("void.created", EventKind.CANCELED, False),
        ("refund.created", EventKind.REFUND_SUCCEEDED, True),
    ],
)
def test_each_authorizenet_type_names_its_transaction(
    kind: str, expected: EventKind, refund: bool
) -> None:
    event = parse_authorizenet(b.anet_event(ANET + kind))

    assert (event.kind, event.raw_type) == (expected, ANET + kind)
    assert event.event_id == "d0e8e7fe-c3e7-4add-a480-27bc5ce28a0e"
    # A refund is a transaction of its own; a capture or void keeps the authorization's id.
    refs = ("", "60012345678") if refund else ("60012345678", "")
    assert (event.object_reference, event.refund_reference) == refs
    assert event.occurred_at == datetime(2024, 6, 20, 12, 0, 0, 123_000, tzinfo=UTC)
    assert event.request_reference == "3f2a9c0d1e4b5a6c7d8e"
    assert (event.amount_minor, event.currency, event.amount_decimal) == (None, "", "12.34")
    assert event.amount_in("USD") == 1_234


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("500.0", "JPY", 500), ("12.5", "USD", 1_250), ("7", "USD", 700), ("1.234", "KWD", 1_234)],
)
def test_authorizenet_amounts_are_read_in_the_payments_currency(
    amount: str, currency: str, minor: int
) -> None:
    event = parse_authorizenet(b.anet_event(ANET + "authcapture.created", amount))

    assert event.amount_in(currency) == minor


def test_an_authorizenet_amount_finer_than_the_currency_is_refused() -> None:
    event = parse_authorizenet(b.anet_event(ANET + "authcapture.created", "12.345"))

    with pytest.raises(WebhookPayloadInvalid) as caught:
        event.amount_in("USD")

    assert [v.field for v in caught.value.violations] == ["amount"]


@pytest.mark.parametrize(
    ("kind", "code", "expected"),
    [
        ("authorization.created", 2, EventKind.FAILED),
        ("authcapture.created", 3, EventKind.FAILED),
        ("refund.created", 2, EventKind.REFUND_FAILED),
        ("void.created", 2, EventKind.IGNORED),
        ("capture.created", 3, EventKind.IGNORED),
        ("authcapture.created", 4, EventKind.IGNORED),  # held for review: not decided yet
    ],
)
def test_a_refused_authorizenet_transaction_fails_or_changes_nothing(
    kind: str, code: int, expected: EventKind
) -> None:
    event = parse_authorizenet(b.anet_event(ANET + kind, response_code=code))

    assert (event.kind, event.failure_reason) == (expected, f"responseCode {code}")


def test_an_unknown_authorizenet_type_is_ignored() -> None:
    event = parse_authorizenet(b.anet_event(ANET + "customer.created", id="garbage id"))

    assert (event.kind, event.object_reference) == (EventKind.IGNORED, "")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"id": "6001x"}, "payload.id"),
        ({"id": 12.5}, "payload.id"),
        ({"authAmount": "twelve"}, "payload.authAmount"),
        ({"authAmount": -1}, "payload.authAmount"),
        ({"authAmount": True}, "payload.authAmount"),
    ],
)
def test_an_authorizenet_payload_with_a_bad_field_is_refused(
    payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_authorizenet(b.anet_event(ANET + "authcapture.created", **payload))

    assert [v.field for v in caught.value.violations] == [field]


def test_an_authorizenet_event_date_must_be_a_time() -> None:
    body = b.anet_event(ANET + "void.created").replace(b"2024-06-20T12:00:00.123Z", b"yesterday")

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_authorizenet(body)

    assert caught.value.violations[0].field == "eventDate"


# --------------------------------------------------------------------------------- Razorpay


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("payment.authorized", "authorized", EventKind.AUTHORIZED),
        ("payment.captured", "captured", EventKind.CAPTURED),
        ("payment.failed", "failed", EventKind.FAILED),
    ],
)
def test_each_razorpay_payment_type_names_the_payment(
    kind: str, status: str, expected: EventKind
) -> None:
    payment = b.razorpay_payment(status)
    if status == "failed":
        payment.update(error_code="BAD_REQUEST_ERROR", error_reason="card_declined")

    event = parse_razorpay(RZP_HEADERS, b.razorpay_event(kind, payment))

    assert (event.provider, event.kind, event.raw_type) == (
        WebhookProvider.RAZORPAY,
        expected,
        kind,
    )
    assert event.event_id == "evt_AbCdEf00000001"  # the header, not the body
    assert event.object_reference == "pay_AbCdEf0000000001"
    assert (event.amount_minor, event.currency) == (50_000, "INR")
    assert event.refs == {"order_id": "order_AbCdEf0000000001"}
    assert event.request_reference == "att_0001"
    assert event.occurred_at == AT
    assert event.authorized_minor == (50_000 if expected is EventKind.AUTHORIZED else None)
    assert event.captured_minor == (50_000 if expected is EventKind.CAPTURED else None)
    assert event.failure_reason == ("card_declined" if expected is EventKind.FAILED else "")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("refund.processed", EventKind.REFUND_SUCCEEDED), ("refund.failed", EventKind.REFUND_FAILED)],
)
def test_each_razorpay_refund_type_names_the_refund_and_its_payment(
    kind: str, expected: EventKind
) -> None:
    payment = b.razorpay_payment("captured", amount_refunded=30_000, refund_status="partial")
    refund = b.razorpay_refund("processed" if expected is EventKind.REFUND_SUCCEEDED else "failed")

    event = parse_razorpay(RZP_HEADERS, b.razorpay_event(kind, payment, refund))

    assert event.kind is expected
    assert (event.object_reference, event.refund_reference) == (
        "pay_AbCdEf0000000001",
        "rfnd_AbCdEf0000000001",
    )
    assert (event.amount_minor, event.refunded_minor) == (20_000, 30_000)


def test_razorpay_amounts_pass_through_as_iso_minor_units() -> None:
    payment = b.razorpay_payment("captured", amount=12_340, currency="KWD", notes=[])

    event = parse_razorpay(RZP_HEADERS, b.razorpay_event("payment.captured", payment))

    assert (event.amount_minor, event.currency, event.request_reference) == (12_340, "KWD", "")


def test_a_razorpay_callback_without_its_event_id_header_is_refused() -> None:
    body = b.razorpay_event("payment.captured", b.razorpay_payment())

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_razorpay({}, body)

    assert caught.value.violations[0].field == "x-razorpay-event-id"


def test_a_razorpay_refund_about_another_payment_than_listed_is_refused() -> None:
    body = b.razorpay_event(
        "refund.processed", b.razorpay_payment(id="pay_Other"), b.razorpay_refund()
    )

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_razorpay(RZP_HEADERS, body)

    assert caught.value.violations[0].field == "payload.payment.entity.id"


def test_an_unknown_razorpay_type_is_ignored() -> None:
    event = parse_razorpay(RZP_HEADERS, b.razorpay_event("order.paid", b.razorpay_payment()))

    assert (event.kind, event.raw_type) == (EventKind.IGNORED, "order.paid")
