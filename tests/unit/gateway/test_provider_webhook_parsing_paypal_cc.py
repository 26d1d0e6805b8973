"""PayPal's and Currencycloud's callback bodies -> ProviderEvent (no I/O).

The card providers' parsing is in test_provider_webhook_parsing.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway_svc.domain.errors import WebhookPayloadInvalid
from gateway_svc.domain.provider_webhooks import EventKind, WebhookProvider
from gateway_svc.domain.provider_webhooks_paypal_currencycloud import (
    parse_currencycloud,
    parse_paypal,
)
from tests.unit.gateway import provider_webhook_bodies as b

ORDER_ID = "5O190127TN364715T"
AUTH_ID = "0VF52814937998046"
CAPTURE_ID = "3C679366HH908993F"
NOTIFICATION_ID = "6f1c1b36-5d7e-4c5e-9f0e-2b1d3c4a5e6f"

# ----------------------------------------------------------------------------------- PayPal


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("PAYMENT.AUTHORIZATION.CREATED", "CREATED", EventKind.AUTHORIZED),
        ("PAYMENT.AUTHORIZATION.VOIDED", "VOIDED", EventKind.CANCELED),
    ],
)
def test_an_authorization_event_names_the_order_and_the_authorization(
    kind: str, status: str, expected: EventKind
) -> None:
    event = parse_paypal(b.paypal_event(kind, b.paypal_authorization(status)))

    assert (event.provider, event.kind, event.raw_type) == (WebhookProvider.PAYPAL, expected, kind)
    assert event.event_id == "WH-58D329510W468432D"
    assert event.object_reference == ORDER_ID
    assert event.refs == {"authorization_id": AUTH_ID}
    assert (event.amount_minor, event.currency) == (10_000, "USD")
    assert event.authorized_minor == (10_000 if expected is EventKind.AUTHORIZED else None)
    assert event.request_reference == "att_0001"
    assert event.occurred_at == datetime(2024, 6, 20, 12, 0, 1, tzinfo=UTC)


def test_a_completed_capture_names_the_order_the_capture_and_its_authorization() -> None:
    event = parse_paypal(b.paypal_event("PAYMENT.CAPTURE.COMPLETED", b.paypal_capture()))

    assert event.kind is EventKind.CAPTURED
    assert event.object_reference == ORDER_ID
    assert event.refs == {"capture_id": CAPTURE_ID, "authorization_id": AUTH_ID}
    assert (event.amount_minor, event.currency, event.failure_reason) == (6_000, "USD", "")


def test_a_denied_capture_fails_with_the_processor_code() -> None:
    capture = b.paypal_capture("DECLINED")

    event = parse_paypal(b.paypal_event("PAYMENT.CAPTURE.DENIED", capture))

    assert (event.kind, event.failure_reason) == (EventKind.FAILED, "5120")
    assert event.refs["capture_id"] == CAPTURE_ID


def test_a_refund_names_its_capture_from_the_up_link_and_carries_the_refunded_total() -> None:
    event = parse_paypal(b.paypal_event("PAYMENT.CAPTURE.REFUNDED", b.paypal_refund()))

    assert event.kind is EventKind.REFUND_SUCCEEDED
    assert event.refund_reference == "1JU08902781691411"
    assert event.object_reference == ""  # a refund as Payments v2 renders it has no order id
    assert event.refs == {"capture_id": CAPTURE_ID}
    assert (event.amount_minor, event.refunded_minor) == (1_000, 2_500)


def test_a_refund_with_related_ids_names_the_order_too() -> None:
    refund = b.paypal_refund()
    refund["supplementary_data"] = {
        "related_ids": {"order_id": ORDER_ID, "capture_id": "CAPTURE-FROM-RELATED"}
    }

    event = parse_paypal(b.paypal_event("PAYMENT.CAPTURE.REFUNDED", refund))

    assert event.object_reference == ORDER_ID
    assert event.refs == {"capture_id": "CAPTURE-FROM-RELATED"}


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [("100", "HUF", 10_000), ("500", "JPY", 500), ("12.30", "EUR", 1_230), ("0.01", "USD", 1)],
)
def test_paypal_values_become_iso_minor_units(value: str, currency: str, minor: int) -> None:
    capture = b.paypal_capture(value=value, cur=currency)

    event = parse_paypal(b.paypal_event("PAYMENT.CAPTURE.COMPLETED", capture))

    assert (event.amount_minor, event.currency) == (minor, currency)


def test_an_unknown_paypal_type_is_ignored() -> None:
    event = parse_paypal(b.paypal_event("CHECKOUT.ORDER.APPROVED", {"id": ORDER_ID}))

    assert (event.kind, event.raw_type, event.object_reference) == (
        EventKind.IGNORED,
        "CHECKOUT.ORDER.APPROVED",
        "",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": {"currency_code": "USD", "value": "10.005"}}, "resource.amount.value"),
        ({"amount": {"currency_code": "USD", "value": 10}}, "resource.amount.value"),
        ({"amount": {"currency_code": "XYZ", "value": "1"}}, "resource.amount.currency_code"),
        ({"amount": None}, "resource.amount"),
        ({"id": ""}, "resource.id"),
        (
            {"supplementary_data": {"related_ids": {"order_id": 7}}},
            "resource.supplementary_data.related_ids.order_id",
        ),
    ],
)
def test_a_paypal_resource_with_a_bad_field_is_refused(change: dict[str, Any], field: str) -> None:
    capture = {**b.paypal_capture(), **change}

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_paypal(b.paypal_event("PAYMENT.CAPTURE.COMPLETED", capture))

    assert [v.field for v in caught.value.violations] == [field]


def test_a_paypal_create_time_must_be_a_time() -> None:
    body = b.paypal_event("PAYMENT.CAPTURE.COMPLETED", b.paypal_capture())

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_paypal(body.replace(b"2024-06-20T12:00:01Z", b"soon"))

    assert caught.value.violations[0].field == "create_time"


# ---------------------------------------------------------------------------- Currencycloud


def test_a_settled_conversion_is_completed_with_both_sides() -> None:
    body = b.cc_event("conversion", "conversion_completed", b.cc_conversion())

    event = parse_currencycloud({"x-cc-notification-id": NOTIFICATION_ID}, body)

    assert (event.provider, event.kind) == (
        WebhookProvider.CURRENCYCLOUD,
        EventKind.CONVERSION_COMPLETED,
    )
    assert (event.event_id, event.raw_type) == (NOTIFICATION_ID, "conversion_completed")
    assert event.object_reference == "c9b6b851-10ec-4ee8-8f6d-a1d6b8f2b1a0"
    assert (event.amount_minor, event.currency) == (100_000, "GBP")
    assert (event.sell_amount_minor, event.sell_currency) == (127_051, "USD")
    assert event.request_reference == "paymesh-conversion-cnv_0001"
    assert event.occurred_at == datetime(2024, 6, 21, 13, 0, tzinfo=UTC)


def test_conversion_amounts_follow_each_currencys_exponent() -> None:
    conversion = b.cc_conversion(
        buy_currency="JPY",
        sell_currency="KWD",
        client_buy_amount="10000",
        client_sell_amount="19.870",
    )

    event = parse_currencycloud({}, b.cc_event("conversion", "conversion_completed", conversion))

    assert (event.amount_minor, event.sell_amount_minor) == (10_000, 19_870)


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("payment_completed", "completed", EventKind.PAYOUT_COMPLETED),
        ("payment_failed", "failed", EventKind.PAYOUT_FAILED),
    ],
)
def test_a_payout_outcome_names_the_payment(kind: str, status: str, expected: EventKind) -> None:
    payment = b.cc_payment(status, failure_reason="beneficiary account closed")

    event = parse_currencycloud({}, b.cc_event("payment", kind, payment))

    assert event.kind is expected
    assert event.object_reference == "543477161-91de-012f-e284-1e0030c7f352"
    assert (event.amount_minor, event.currency) == (125_000, "EUR")
    assert event.request_reference == "paymesh-payout-po_0001"
    assert event.occurred_at == datetime(2024, 6, 20, 12, 30, tzinfo=UTC)
    failed = expected is EventKind.PAYOUT_FAILED
    assert event.failure_reason == ("beneficiary account closed" if failed else "")


def test_a_notification_id_header_that_disagrees_with_the_body_is_refused() -> None:
    body = b.cc_event("payment", "payment_completed", b.cc_payment())

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_currencycloud({"x-cc-notification-id": "another-id"}, body)

    assert caught.value.violations[0].field == "x-cc-notification-id"


def test_a_notification_whose_message_type_contradicts_its_type_is_refused() -> None:
    body = b.cc_event("payment", "conversion_completed", b.cc_conversion())

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_currencycloud({}, body)

    assert caught.value.violations[0].field == "header.message_type"


def test_an_unknown_currencycloud_type_is_ignored() -> None:
    body = b.cc_event("payment", "payment_released", b.cc_payment("released"))

    event = parse_currencycloud({}, body)

    assert (event.kind, event.event_id) == (EventKind.IGNORED, NOTIFICATION_ID)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "12.345"}, "body.amount"),
        ({"amount": 1250}, "body.amount"),
        ({"currency": "euro"}, "body.currency"),
        ({"id": None}, "body.id"),
        ({"updated_at": "later"}, "body.updated_at"),
    ],
)
def test_a_currencycloud_payment_with_a_bad_field_is_refused(
    change: dict[str, Any], field: str
) -> None:
    body = b.cc_event("payment", "payment_completed", b.cc_payment(**change))

    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_currencycloud({}, body)

    assert [v.field for v in caught.value.violations] == [field]
