"""Reading Stripe's objects into the gateway's types, and what the adapter puts on the wire."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_svc.adapters.providers.stripe_wire import (
    MAX_IDEMPOTENCY_KEY,
    charge_of,
    declined_without_intent,
    provider_key,
    refund_of,
    search_query,
)
from gateway_svc.domain.providers import ChargeStatus, DeclineCode, RefundStatus


def intent(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 1000,
        "currency": "usd",
        "status": status,
        **fields,
    }


@pytest.mark.parametrize(
    ("status", "fields", "expected", "authorized", "captured"),
    [
        ("requires_capture", {"amount_capturable": 1000}, ChargeStatus.AUTHORIZED, 1000, 0),
        ("succeeded", {"amount_received": 700}, ChargeStatus.CAPTURED, 1000, 700),
        ("canceled", {}, ChargeStatus.CANCELED, 0, 0),
        ("requires_action", {}, ChargeStatus.REQUIRES_ACTION, 0, 0),
        ("processing", {}, ChargeStatus.PENDING, 0, 0),
        ("requires_confirmation", {}, ChargeStatus.PENDING, 0, 0),
        ("requires_payment_method", {}, ChargeStatus.PENDING, 0, 0),
        ("a_status_from_the_future", {}, ChargeStatus.PENDING, 0, 0),
    ],
)
def test_each_intent_status_has_a_charge_status(
    status: str,
    fields: dict[str, Any],
    expected: ChargeStatus,
    authorized: int,
    captured: int,
) -> None:
    charge = charge_of(intent(status, **fields))
    assert (charge.status, charge.authorized_minor, charge.captured_minor) == (
        expected,
        authorized,
        captured,
    )
    assert (charge.provider_ref, charge.raw_status) == ("pi_123", status)


def test_a_payment_error_makes_the_intent_declined() -> None:
    error = {"type": "card_error", "code": "card_declined", "decline_code": "lost_card"}
    charge = charge_of(intent("requires_payment_method", last_payment_error=error))
    assert charge.status is ChargeStatus.DECLINED
    assert charge.decline is not None
    assert (charge.decline.code, charge.decline.raw_code) == (DeclineCode.LOST_CARD, "lost_card")


def test_refunds_exclude_the_authorization_a_partial_capture_released() -> None:
    latest = {
        "id": "ch_1",
        "captured": True,
        "amount": 1000,
        "amount_captured": 600,
        "amount_refunded": 400 + 250,
        "balance_transaction": {"fee": 47, "currency": "usd"},
    }
    charge = charge_of(intent("succeeded", amount_received=600, latest_charge=latest))
    assert (charge.refunded_minor, charge.fee_minor) == (250, 47)
    assert charge.refs == {"latest_charge": "ch_1"}


def test_a_released_authorization_is_not_a_refund() -> None:
    latest = {"captured": False, "amount": 1000, "amount_refunded": 1000}
    assert charge_of(intent("canceled", latest_charge=latest)).refunded_minor == 0


def test_an_unexpanded_charge_gives_no_fee_but_keeps_its_id() -> None:
    charge = charge_of(intent("succeeded", amount_received=1000, latest_charge="ch_9"))
    assert charge.fee_minor is None
    assert charge.refs["latest_charge"] == "ch_9"


@pytest.mark.parametrize(
    "action",
    [
        {"type": "redirect_to_url", "redirect_to_url": {"url": "https://x/3ds", "return_url": ""}},
        {"type": "use_stripe_sdk", "use_stripe_sdk": {"stripe_js": "https://x/3ds"}},
    ],
)
def test_the_action_url_is_read_from_either_kind_of_next_action(action: dict[str, Any]) -> None:
    assert charge_of(intent("requires_action", next_action=action)).action_url == "https://x/3ds"


def test_fields_of_the_wrong_type_are_ignored_not_trusted() -> None:
    charge = charge_of(
        intent("requires_capture", amount_capturable="1000", latest_charge=7, next_action=[])
    )
    assert (charge.authorized_minor, charge.fee_minor, charge.action_url) == (0, None, "")


def test_amounts_are_converted_to_iso_minor_units() -> None:
    charge = charge_of(intent("requires_capture", currency="isk", amount_capturable=50_000))
    assert charge.authorized_minor == 500


def test_a_card_error_without_an_intent_is_still_a_decline() -> None:
    charge = declined_without_intent({"code": "incorrect_number", "charge": "ch_2"})
    assert charge.status is ChargeStatus.DECLINED and charge.provider_ref == ""
    assert charge.decline is not None and charge.decline.code is DeclineCode.INCORRECT_NUMBER


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("succeeded", RefundStatus.SUCCEEDED),
        ("pending", RefundStatus.PENDING),
        ("requires_action", RefundStatus.PENDING),
        ("failed", RefundStatus.FAILED),
        ("canceled", RefundStatus.FAILED),
    ],
)
def test_refund_statuses(status: str, expected: RefundStatus) -> None:
    refund = refund_of({"id": "re_1", "amount": 300, "currency": "jpy", "status": status})
    assert (refund.status, refund.amount_minor, refund.provider_ref) == (expected, 300, "re_1")


def test_the_idempotency_key_is_deterministic_per_operation() -> None:
    assert provider_key("capture", "k1") == "paymesh-capture-k1"
    assert provider_key("capture", "k1") != provider_key("refund", "k1")


@pytest.mark.parametrize("key", ["k" * 300, "clé-ünïcode", "tab\there"])
def test_a_long_or_unprintable_key_is_hashed_within_stripes_limit(key: str) -> None:
    derived = provider_key("authorize", key)
    assert len(derived) <= MAX_IDEMPOTENCY_KEY and derived.isascii() and derived.isprintable()
    assert derived == provider_key("authorize", key)
    assert derived != provider_key("authorize", key + "x")


def test_the_search_query_escapes_quotes_and_backslashes() -> None:
    assert search_query("a'b\\c") == "metadata['paymesh_attempt_id']:'a\\'b\\\\c'"
