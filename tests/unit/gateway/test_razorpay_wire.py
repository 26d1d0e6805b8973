"""Razorpay's JSON without I/O: amounts, derived keys, request bodies and entity mapping."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_svc.adapters.providers.razorpay_wire import (
    best_payment,
    card_body,
    charge_from_payment,
    notes_for,
    order_body,
    razorpay_amount,
    receipt_for,
    refund_from_entity,
    refund_key_for,
)
from gateway_svc.domain.providers import (
    AuthorizeCall,
    Card,
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    PaymentMethod,
    ProviderError,
    RefundStatus,
)


@pytest.mark.parametrize(
    ("amount", "currency"), [(50_000, "INR"), (295, "JPY"), (99_990, "KWD"), (1, "USD")]
)
def test_minor_units_pass_through_unchanged(amount: int, currency: str) -> None:
    assert razorpay_amount(amount, currency) == amount


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (99_991, "KWD", DeclineCode.AMOUNT_INVALID),
        (0, "INR", DeclineCode.AMOUNT_INVALID),
        (-5, "INR", DeclineCode.AMOUNT_INVALID),
        (100, "XXY", DeclineCode.CURRENCY_NOT_SUPPORTED),
    ],
)
def test_amounts_razorpay_cannot_take_are_refused_unsent(
    amount: int, currency: str, code: DeclineCode
) -> None:
    with pytest.raises(ProviderError) as refused:
        razorpay_amount(amount, currency)
    assert (refused.value.kind, refused.value.code, refused.value.sent) == (
        ErrorKind.INVALID,
        code,
        False,
    )


def test_a_short_printable_key_is_its_own_receipt_and_others_hash_deterministically() -> None:
    assert receipt_for("pay_abc:authorize:1") == "pay_abc:authorize:1"
    long_key = "k" * 41
    assert receipt_for(long_key) == receipt_for(long_key)
    assert len(receipt_for(long_key)) == 40 and receipt_for(long_key).startswith("pm_")
    assert receipt_for("naïve-key") != receipt_for("naive-key")
    assert receipt_for("k" * 41) != receipt_for("k" * 42)


def test_refund_keys_fit_razorpays_rules() -> None:
    assert refund_key_for("refund-0001_ok") == "refund-0001_ok"
    for key in ("short", "has:colons:in:it", "x" * 65):
        derived = refund_key_for(key)
        assert derived == refund_key_for(key) and len(derived) == 40 and derived.isalnum()


def make_call(**fields: Any) -> AuthorizeCall:
    base: dict[str, Any] = {
        "attempt_id": "att_1",
        "idempotency_key": "key-1",
        "amount_minor": 50_000,
        "currency": "INR",
        "method": PaymentMethod(card=Card("4242424242424242", 3, 2031, "123")),
        "capture": False,
    }
    return AuthorizeCall(**{**base, **fields})


def test_notes_hold_our_ids_then_metadata_within_razorpays_limits() -> None:
    metadata = {f"k{i:02d}": "v" * 300 for i in range(20)}
    metadata["customer_email"] = "a@b.co"
    notes = notes_for(make_call(reference="ref-9", metadata=metadata), ("customer_email",))
    assert len(notes) == 15
    assert (notes["paymesh_attempt_id"], notes["merchant_reference"]) == ("att_1", "ref-9")
    assert "customer_email" not in notes and all(len(v) <= 256 for v in notes.values())


def test_the_order_body_carries_the_receipt_and_capture_mode() -> None:
    body = order_body(make_call(capture=True), 50_000, "key-1")
    assert {k: body[k] for k in ("amount", "currency", "receipt", "payment_capture")} == {
        "amount": 50_000,
        "currency": "INR",
        "receipt": "key-1",
        "payment_capture": True,
    }


def test_the_card_body_uses_two_digit_month_and_year() -> None:
    assert card_body(Card("4242424242424242", 3, 2031, "123")) == {
        "number": "4242424242424242",
        "expiry_month": "03",
        "expiry_year": "31",
        "cvv": "123",
    }


REFS = {"order_id": "order_1", "receipt": "key-1"}


def entity(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "pay_1", "order_id": "order_1", "amount": 50_000, "status": status, **fields}


@pytest.mark.parametrize(
    ("payment", "status", "authorized", "captured", "refunded"),
    [
        (entity("created"), ChargeStatus.REQUIRES_ACTION, 0, 0, 0),
        (entity("authorized", captured=False), ChargeStatus.AUTHORIZED, 50_000, 0, 0),
        (entity("captured", captured=True, fee=1180), ChargeStatus.CAPTURED, 50_000, 50_000, 0),
        (
            entity("captured", captured=True, amount_refunded=100),
            ChargeStatus.CAPTURED,
            50_000,
            50_000,
            100,
        ),
        (
            entity("refunded", captured=True, amount_refunded=50_000),
            ChargeStatus.CAPTURED,
            50_000,
            50_000,
            50_000,
        ),
        (
            entity("refunded", captured=False, amount_refunded=50_000),
            ChargeStatus.CANCELED,
            50_000,
            0,
            0,
        ),
    ],
)
def test_payment_statuses_normalize(
    payment: dict[str, Any],
    status: ChargeStatus,
    authorized: int,
    captured: int,
    refunded: int,
) -> None:
    charge = charge_from_payment(payment, REFS, action_url="https://bank/3ds")
    assert (charge.status, charge.authorized_minor, charge.captured_minor) == (
        status,
        authorized,
        captured,
    )
    assert charge.refunded_minor == refunded and charge.refs == REFS
    assert charge.action_url == (
        "https://bank/3ds" if status is ChargeStatus.REQUIRES_ACTION else ""
    )
    assert charge.raw_status == payment["status"]


def test_a_failed_payment_carries_its_decline_and_the_fee_only_when_an_integer() -> None:
    failed = entity("failed", error_code="BAD_REQUEST_ERROR", error_reason="card_expired", fee=None)
    charge = charge_from_payment(failed, REFS)
    assert charge.status is ChargeStatus.DECLINED and charge.decline is not None
    assert (charge.decline.code, charge.decline.raw_code) == (
        DeclineCode.EXPIRED_CARD,
        "card_expired",
    )
    assert charge.fee_minor is None
    assert charge_from_payment(entity("captured", captured=True, fee=True), REFS).fee_minor is None


def test_an_unknown_payment_status_is_an_unknown_outcome() -> None:
    with pytest.raises(ProviderError) as unknown:
        charge_from_payment(entity("teleported"), REFS)
    assert unknown.value.kind is ErrorKind.UNKNOWN


def test_the_payment_that_speaks_for_an_order_holds_money_else_waits_else_failed() -> None:
    failed = entity("failed", id="pay_f", created_at=3)
    waiting = entity("created", id="pay_w", created_at=2)
    held = entity("authorized", id="pay_a", created_at=1)
    assert best_payment([]) is None
    assert best_payment([failed, waiting, held]) == held
    assert best_payment([failed, waiting]) == waiting
    newer = entity("failed", id="pay_g", created_at=4)
    assert best_payment([failed, newer]) == newer


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("processed", RefundStatus.SUCCEEDED),
        ("pending", RefundStatus.PENDING),
        ("created", RefundStatus.PENDING),
        ("failed", RefundStatus.FAILED),
    ],
)
def test_refund_statuses_normalize(raw: str, status: RefundStatus) -> None:
    refund = refund_from_entity({"id": "rfnd_1", "amount": 700, "status": raw})
    assert (refund.provider_ref, refund.status, refund.amount_minor) == ("rfnd_1", status, 700)
