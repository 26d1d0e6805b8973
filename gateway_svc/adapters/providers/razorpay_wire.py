"""Razorpay's JSON, built and read without I/O: amounts, keys, request bodies, entities.

Amounts. Razorpay takes integers in the currency's smallest sub-unit with ISO 4217's
exponents (paise for INR, whole yen for JPY, fils for KWD), so minor units pass through
unchanged; its one quirk is that a three-decimal currency's amount must end in 0 (its docs:
send 99.991 KWD as 99990). ``razorpay_amount`` is the one place that knows it.

Keys. Razorpay has no idempotency header for orders, payments or captures, so each call
carries the nearest thing (the adapter module explains how they combine):

- an order's ``receipt`` (at most 40 characters) is derived from the idempotency key;
- a refund's ``X-Refund-Idempotency`` header (10+ characters of ``[A-Za-z0-9_-]``) too.

Both are the key itself when it already fits, else a SHA-256 of it, so a key always maps to
the same value.

Statuses. A payment's ``status`` becomes a ChargeStatus: ``created`` REQUIRES_ACTION (the
payer has not finished 3DS), ``authorized`` AUTHORIZED, ``captured`` CAPTURED, ``failed``
DECLINED, and ``refunded`` CAPTURED when it had been captured (refunded in full) but
CANCELED when it had not: that is an authorization Razorpay released when its capture window
ran out, the only void Razorpay has.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from gateway_svc.adapters.providers.razorpay_errors import decline_of, error_of_payment
from gateway_svc.domain.providers import (
    AuthorizeCall,
    Card,
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    ProviderCharge,
    ProviderError,
    ProviderRefund,
    RefundStatus,
)
from svc_kit.currencies import UnknownCurrencyError, exponent

MAX_RECEIPT_CHARS: Final = 40
MAX_NOTES: Final = 15
MAX_NOTE_CHARS: Final = 256
_REFUND_KEY: Final = re.compile(r"[A-Za-z0-9_-]{10,64}")
_PRINTABLE_ASCII: Final = re.compile(r"[ -~]{1,40}")

_STATUS: Final = {
    "created": ChargeStatus.REQUIRES_ACTION,
    "authorized": ChargeStatus.AUTHORIZED,
    "captured": ChargeStatus.CAPTURED,
    "failed": ChargeStatus.DECLINED,
}
_REFUND_STATUS: Final = {
    "processed": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "created": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
}
# Which of an order's payments speaks for it: one that holds or moved money beats one still
# waiting for 3DS, which beats a failure; ties go to the newest.
_PAYMENT_RANK: Final = {"captured": 3, "refunded": 3, "authorized": 3, "created": 2, "failed": 1}


def razorpay_amount(amount_minor: int, currency: str) -> int:
    """``amount_minor`` as Razorpay's integer amount; INVALID (sent=False) if it cannot be."""
    try:
        places = exponent(currency)
    except UnknownCurrencyError:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.CURRENCY_NOT_SUPPORTED,
            f"{currency!r} is not an ISO 4217 currency",
            sent=False,
        ) from None
    if amount_minor <= 0 or (places == 3 and amount_minor % 10):
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.AMOUNT_INVALID,
            f"Razorpay cannot take {amount_minor} {currency}: amounts must be positive and a"
            " three-decimal currency's must end in 0",
            sent=False,
        )
    return amount_minor


def _digest(key: str, length: int) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:length]


def receipt_for(idempotency_key: str) -> str:
    """The order ``receipt`` for an authorization: the key, or a hash when it does not fit."""
    if _PRINTABLE_ASCII.fullmatch(idempotency_key):
        return idempotency_key
    return f"pm_{_digest(idempotency_key, MAX_RECEIPT_CHARS - 3)}"


def refund_key_for(idempotency_key: str) -> str:
    """The ``X-Refund-Idempotency`` value: the key, or a hash when it does not fit."""
    if _REFUND_KEY.fullmatch(idempotency_key):
        return idempotency_key
    return _digest(idempotency_key, 40)


def notes_for(call: AuthorizeCall, skip: Iterable[str] = ()) -> dict[str, str]:
    """Razorpay ``notes`` (at most 15 pairs of 256 characters): our ids, then metadata."""
    notes = {"paymesh_attempt_id": call.attempt_id}
    if call.reference:
        notes["merchant_reference"] = call.reference
    skipped = set(skip)
    for key, value in call.metadata.items():
        if len(notes) >= MAX_NOTES:
            break
        if key not in skipped and key not in notes:
            notes[key[:MAX_NOTE_CHARS]] = value[:MAX_NOTE_CHARS]
    return notes


def order_body(call: AuthorizeCall, amount: int, receipt: str) -> dict[str, object]:
    """``POST /v1/orders``: the capture mode is the order's, per payment."""
    return {
        "amount": amount,
        "currency": call.currency,
        "receipt": receipt,
        "notes": notes_for(call, ("customer_email", "customer_contact")),
        "payment_capture": call.capture,
    }


def card_body(card: Card) -> dict[str, str]:
    """The S2S ``card`` object (expiry as MM and YY, as Razorpay's docs ask)."""
    return {
        "number": card.number,
        "expiry_month": f"{card.exp_month:02d}",
        "expiry_year": f"{card.exp_year % 100:02d}",
        "cvv": card.cvc,
    }


def refs_of(order_id: str, receipt: str) -> dict[str, str]:
    """The extra ids a later call (lookup, support) needs."""
    return {"order_id": order_id, "receipt": receipt}


def charge_from_payment(
    payment: Mapping[str, Any], refs: Mapping[str, str], action_url: str = ""
) -> ProviderCharge:
    """A payment entity, normalized (statuses as in the module docstring)."""
    raw = str(payment.get("status", ""))
    status = _status(raw, captured=bool(payment.get("captured")))
    amount = int_of(payment.get("amount"))
    fee = payment.get("fee")
    held = status in (ChargeStatus.AUTHORIZED, ChargeStatus.CAPTURED, ChargeStatus.CANCELED)
    captured = status is ChargeStatus.CAPTURED
    declined = status is ChargeStatus.DECLINED
    return ProviderCharge(
        provider_ref=str(payment.get("id", "")),
        status=status,
        authorized_minor=amount if held else 0,
        captured_minor=amount if captured else 0,
        refunded_minor=int_of(payment.get("amount_refunded")) if captured else 0,
        decline=decline_of(error_of_payment(payment)) if declined else None,
        action_url=action_url if status is ChargeStatus.REQUIRES_ACTION else "",
        fee_minor=fee if isinstance(fee, int) and not isinstance(fee, bool) else None,
        raw_status=raw,
        refs=dict(refs),
    )


def charge_of_receipt(payment: Mapping[str, Any], receipt: str) -> ProviderCharge:
    """A payment found through its order's receipt, normalized with both ids in ``refs``."""
    return charge_from_payment(payment, refs_of(str(payment.get("order_id", "")), receipt))


def _status(raw: str, *, captured: bool) -> ChargeStatus:
    if raw in _STATUS:
        return _STATUS[raw]
    if raw == "refunded":
        return ChargeStatus.CAPTURED if captured else ChargeStatus.CANCELED
    raise ProviderError(
        ErrorKind.UNKNOWN,
        DeclineCode.UNKNOWN_OUTCOME,
        f"Razorpay reported a payment status we do not know: {raw[:40]!r}",
        raw_code=raw[:40],
    )


def best_payment(items: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The payment that speaks for an order (see ``_PAYMENT_RANK``), or None."""
    best: Mapping[str, Any] | None = None
    best_key = (0, 0)
    for item in items:
        key = (_PAYMENT_RANK.get(str(item.get("status")), 0), int_of(item.get("created_at")))
        if best is None or key >= best_key:
            best, best_key = item, key
    return best


def refund_from_entity(refund: Mapping[str, Any]) -> ProviderRefund:
    """A refund entity, normalized (``processed`` is Razorpay's final success)."""
    raw = str(refund.get("status", ""))
    return ProviderRefund(
        provider_ref=str(refund.get("id", "")),
        status=_REFUND_STATUS.get(raw, RefundStatus.PENDING),
        amount_minor=int_of(refund.get("amount")),
        raw_status=raw,
    )


def int_of(value: object) -> int:
    """An integer field of an entity, 0 when absent or not an integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
