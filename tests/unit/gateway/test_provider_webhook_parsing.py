"""Provider callback bodies -> ProviderEvent: Stripe, and what holds for every provider (no I/O).

Each type of webhook_wire.md gives the right kind, references and amounts; an unknown type is
IGNORED; a body that is not the event it claims is WebhookPayloadInvalid, naming the field.
Authorize.net and Razorpay are in test_provider_webhook_parsing_anet_rzp.py, PayPal and
Currencycloud in test_provider_webhook_parsing_paypal_cc.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from gateway_svc.adapters.providers.stripe_amounts import from_stripe
from gateway_svc.domain.errors import WebhookPayloadInvalid, WebhookProviderNotFound
from gateway_svc.domain.provider_event_parsing import parse_event, parse_stripe
from gateway_svc.domain.provider_webhooks import (
    EventKind,
    ProviderEvent,
    WebhookProvider,
    webhook_provider,
)
from gateway_svc.entrypoints.errors import MAPPER
from tests.unit.gateway import provider_webhook_bodies as b

AT = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
RZP_HEADERS = {"x-razorpay-event-id": "evt_AbCdEf00000001"}


def stripe(body: bytes) -> ProviderEvent:
    return parse_stripe(body, from_stripe_units=from_stripe)


# ------------------------------------------------------------------------------------ Stripe


def test_a_manual_capture_authorization_is_authorized_for_the_capturable_amount() -> None:
    intent = b.stripe_intent("requires_capture", amount_capturable=10_000, amount_received=0)

    event = stripe(b.stripe_event("payment_intent.amount_capturable_updated", intent))

    assert (event.provider, event.kind) == (WebhookProvider.STRIPE, EventKind.AUTHORIZED)
    assert event.event_id == "evt_1PaymeshSandbox0001"
    assert event.raw_type == "payment_intent.amount_capturable_updated"
    assert event.object_reference == "pi_3PaymeshSandbox0001"
    assert (event.amount_minor, event.currency) == (10_000, "USD")
    assert (event.authorized_minor, event.captured_minor) == (10_000, 0)
    assert event.occurred_at == AT
    assert event.request_reference == "att_0001"
    assert event.refs == {"charge": "ch_3PaymeshSandbox0001"}


def test_a_succeeded_intent_is_captured_for_what_was_received() -> None:
    intent = b.stripe_intent("succeeded", amount_received=6_000)  # a partial capture

    event = stripe(b.stripe_event("payment_intent.succeeded", intent))

    assert event.kind is EventKind.CAPTURED
    assert (event.amount_minor, event.captured_minor, event.authorized_minor) == (6_000, 6_000, 0)


def test_a_failed_intent_is_failed_with_the_decline_code() -> None:
    error = {"code": "card_declined", "decline_code": "insufficient_funds", "type": "card_error"}
    intent = b.stripe_intent("requires_payment_method", amount_received=0, last_payment_error=error)

    event = stripe(b.stripe_event("payment_intent.payment_failed", intent))

    assert event.kind is EventKind.FAILED
    assert (event.amount_minor, event.failure_reason) == (10_000, "insufficient_funds")


def test_a_canceled_intent_is_canceled_with_its_reason() -> None:
    intent = b.stripe_intent(
        "canceled", amount_received=0, cancellation_reason="requested_by_customer"
    )

    event = stripe(b.stripe_event("payment_intent.canceled", intent))

    assert (event.kind, event.failure_reason) == (EventKind.CANCELED, "requested_by_customer")
    assert event.object_reference == "pi_3PaymeshSandbox0001"


def test_an_expanded_latest_charge_still_gives_the_charge_id() -> None:
    intent = b.stripe_intent(latest_charge={"id": "ch_X", "object": "charge"})

    event = stripe(b.stripe_event("payment_intent.succeeded", intent))

    assert event.refs == {"charge": "ch_X"}


def test_a_refunded_charge_names_the_newest_refund_and_the_refunded_total() -> None:
    newest = b.stripe_refund(id="re_2", amount=1_500)
    charge = b.stripe_charge([newest, b.stripe_refund(id="re_1")], amount_refunded=4_000)

    event = stripe(b.stripe_event("charge.refunded", charge))

    assert event.kind is EventKind.REFUND_SUCCEEDED
    assert (event.object_reference, event.refund_reference) == ("pi_3PaymeshSandbox0001", "re_2")
    assert (event.amount_minor, event.refunded_minor, event.captured_minor) == (
        1_500,
        4_000,
        10_000,
    )
    assert event.refs == {"charge": "ch_3PaymeshSandbox0001"}


def test_the_part_a_partial_capture_released_is_not_counted_as_refunded() -> None:
    # Captured 6000 of 10000: Stripe puts the released 4000 inside amount_refunded.
    charge = b.stripe_charge(None, amount_captured=6_000, amount_refunded=5_000)

    event = stripe(b.stripe_event("charge.refunded", charge))

    assert (event.refunded_minor, event.captured_minor) == (1_000, 6_000)
    assert (event.amount_minor, event.refund_reference) == (None, "")  # no refunds listed


def test_a_charge_whose_only_refunded_part_is_a_release_is_ignored() -> None:
    charge = b.stripe_charge(None, amount_captured=6_000, amount_refunded=4_000)

    event = stripe(b.stripe_event("charge.refunded", charge))

    assert (event.kind, event.refunded_minor) == (EventKind.IGNORED, 0)


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("refund.updated", "succeeded", EventKind.REFUND_SUCCEEDED),
        ("refund.updated", "failed", EventKind.REFUND_FAILED),
        ("refund.updated", "canceled", EventKind.REFUND_FAILED),
        ("refund.updated", "pending", EventKind.IGNORED),
        ("charge.refund.updated", "failed", EventKind.REFUND_FAILED),
        ("refund.failed", "failed", EventKind.REFUND_FAILED),
    ],
)
def test_a_refund_event_follows_the_refunds_status(
    kind: str, status: str, expected: EventKind
) -> None:
    refund = b.stripe_refund(status, failure_reason="expired_or_canceled_card")

    event = stripe(b.stripe_event(kind, refund))

    assert event.kind is expected
    assert (event.object_reference, event.refund_reference) == (
        "pi_3PaymeshSandbox0001",
        "re_3PaymeshSandbox0001",
    )
    assert (event.amount_minor, event.currency) == (2_500, "USD")


@pytest.mark.parametrize(
    ("currency", "stripe_amount", "minor"),
    [("jpy", 500, 500), ("mga", 1_000, 100_000), ("isk", 50_000, 500), ("kwd", 1_230, 1_230)],
)
def test_stripe_amounts_become_iso_minor_units(
    currency: str, stripe_amount: int, minor: int
) -> None:
    intent = b.stripe_intent(currency=currency, amount=stripe_amount, amount_received=stripe_amount)

    event = stripe(b.stripe_event("payment_intent.succeeded", intent))

    assert (event.amount_minor, event.currency) == (minor, currency.upper())


def test_an_unknown_stripe_type_is_ignored_but_keeps_its_event_id() -> None:
    event = stripe(b.stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))

    assert (event.kind, event.event_id, event.raw_type) == (
        EventKind.IGNORED,
        "evt_1PaymeshSandbox0001",
        "customer.created",
    )


@pytest.mark.parametrize(
    ("kind", "obj", "field"),
    [
        ("payment_intent.succeeded", b.stripe_refund(), "data.object.object"),
        ("payment_intent.succeeded", b.stripe_intent(currency="zzz"), "data.object.currency"),
        (
            "payment_intent.succeeded",
            b.stripe_intent(amount_received="10"),
            "data.object.amount_received",
        ),
        (
            "payment_intent.succeeded",
            b.stripe_intent(amount_received=True),
            "data.object.amount_received",
        ),
        (
            "charge.refunded",
            b.stripe_charge(None, payment_intent=None),
            "data.object.payment_intent",
        ),
        ("refund.updated", b.stripe_refund(status=None), "data.object.status"),
    ],
)
def test_a_stripe_object_with_a_bad_field_is_refused_naming_it(
    kind: str, obj: dict[str, Any], field: str
) -> None:
    with pytest.raises(WebhookPayloadInvalid) as caught:
        stripe(b.stripe_event(kind, obj))

    assert [v.field for v in caught.value.violations] == [field]


# ------------------------------------------------------------------------- every provider


GARBAGE = [b"", b"not json", b"\xff\xfe{}", b"[]", b'"event"', b"{", b"null"]


@pytest.mark.parametrize("provider", list(WebhookProvider))
@pytest.mark.parametrize("body", GARBAGE)
def test_a_body_that_is_not_a_json_object_is_refused(
    provider: WebhookProvider, body: bytes
) -> None:
    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_event(provider, RZP_HEADERS, body, from_stripe_units=from_stripe)

    assert [v.field for v in caught.value.violations] == ["body"]
    assert caught.value.metadata == {"provider": provider.value}


@pytest.mark.parametrize("provider", list(WebhookProvider))
def test_an_object_without_the_envelope_is_refused(provider: WebhookProvider) -> None:
    with pytest.raises(WebhookPayloadInvalid) as caught:
        parse_event(provider, RZP_HEADERS, b'{"hello":"world"}', from_stripe_units=from_stripe)

    assert len(caught.value.violations) == 1


def test_parse_event_picks_the_providers_parser() -> None:
    body = b.stripe_event("payment_intent.succeeded", b.stripe_intent())

    event = parse_event(WebhookProvider.STRIPE, {}, body, from_stripe_units=from_stripe)

    assert (event.provider, event.kind) == (WebhookProvider.STRIPE, EventKind.CAPTURED)


def test_an_event_id_that_cannot_be_a_dedupe_key_is_refused() -> None:
    body = b.stripe_event(
        "payment_intent.succeeded", b.stripe_intent(), event_id="evt_" + "x" * 300
    )

    with pytest.raises(WebhookPayloadInvalid) as caught:
        stripe(body)

    assert caught.value.violations[0].field == "id"


def test_an_events_amount_in_another_currency_is_refused() -> None:
    event = stripe(b.stripe_event("payment_intent.succeeded", b.stripe_intent()))

    assert event.amount_in("USD") == 10_000
    with pytest.raises(WebhookPayloadInvalid):
        event.amount_in("EUR")


def test_a_route_for_no_known_provider_is_not_found() -> None:
    assert webhook_provider("currencycloud") is WebhookProvider.CURRENCYCLOUD
    with pytest.raises(WebhookProviderNotFound) as caught:
        webhook_provider("adyen")

    assert caught.value.reason == "WEBHOOK_PROVIDER_NOT_FOUND"
    assert MAPPER.code_for(caught.value) is grpc.StatusCode.NOT_FOUND


def test_a_bad_payload_maps_to_invalid_argument_with_its_field_violation() -> None:
    with pytest.raises(WebhookPayloadInvalid) as caught:
        stripe(b"[]")

    status = MAPPER.status_for(caught.value)

    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    assert any(key == "grpc-status-details-bin" for key, _ in status.trailing_metadata)
