"""What the Stripe adapter puts on the wire and how it reads Stripe's objects back.

Requests are form-encoded with Stripe's bracket nesting (``metadata[k]=v``,
``payment_method_data[card][number]=...``, ``expand[]=...``). Replies are read defensively: a
field of the wrong type is treated as absent, never trusted, so a surprising body becomes a
conservative status rather than an exception from deep inside the adapter.

PaymentIntent status -> ``ChargeStatus``:

==========================  ==================================================================
requires_payment_method     DECLINED when ``last_payment_error`` says why, else PENDING
requires_confirmation       PENDING
processing                  PENDING
requires_action             REQUIRES_ACTION (``next_action`` gives the payer's URL)
requires_capture            AUTHORIZED (``amount_capturable`` held)
succeeded                   CAPTURED (``amount_received`` captured)
canceled                    CANCELED
==========================  ==================================================================

``refunded_minor`` comes from the expanded ``latest_charge``: Stripe counts the authorization a
partial capture released inside ``amount_refunded``, so the released part (``amount -
amount_captured``) is taken off. ``fee_minor`` is ``latest_charge.balance_transaction.fee``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from gateway_svc.adapters.providers.stripe_amounts import from_stripe
from gateway_svc.adapters.providers.stripe_errors import decline_of
from gateway_svc.domain.providers import (
    ChargeStatus,
    Decline,
    ProviderCharge,
    ProviderRefund,
    RefundStatus,
)

MAX_IDEMPOTENCY_KEY = 255
"""Stripe's limit on ``Idempotency-Key``."""
EXPAND_CHARGE = "latest_charge.balance_transaction"
"""Asked for on every intent call, so one reply carries the charge's refunds and fee."""
ATTEMPT_KEY = "paymesh_attempt_id"
"""The metadata key ``lookup`` searches by."""
FORM = "application/x-www-form-urlencoded"

_ID = re.compile(r"^(?:pi|re|ch)_[A-Za-z0-9]{1,250}$")
_STATUSES = {
    "requires_confirmation": ChargeStatus.PENDING,
    "processing": ChargeStatus.PENDING,
    "requires_action": ChargeStatus.REQUIRES_ACTION,
    "requires_capture": ChargeStatus.AUTHORIZED,
    "succeeded": ChargeStatus.CAPTURED,
    "canceled": ChargeStatus.CANCELED,
}
_REFUND_STATUSES = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}

Pairs = list[tuple[str, str]]


def provider_key(operation: str, key: str) -> str:
    """The ``Idempotency-Key`` for one operation: deterministic, printable ASCII, <= 255.

    The operation is part of it because Stripe binds a key to one endpoint: a caller that
    reused its key for a capture and a refund would otherwise get ``idempotency_error``.
    """
    candidate = f"paymesh-{operation}-{key}"
    if len(candidate) <= MAX_IDEMPOTENCY_KEY and candidate.isascii() and candidate.isprintable():
        return candidate
    return f"paymesh-{operation}-sha256-{hashlib.sha256(key.encode()).hexdigest()}"


def encode(pairs: Pairs) -> bytes:
    """A form body (repeated keys kept, in order)."""
    return urlencode(pairs).encode("ascii")


def is_object_id(value: str) -> bool:
    """A Stripe id safe to put in a URL path."""
    return _ID.match(value) is not None


def search_query(attempt_id: str) -> str:
    """The Search API query for the intent authorize created for ``attempt_id``."""
    escaped = attempt_id.replace("\\", "\\\\").replace("'", "\\'")
    return f"metadata['{ATTEMPT_KEY}']:'{escaped}'"


def charge_of(
    intent: Mapping[str, Any], decline_error: Mapping[str, Any] | None = None
) -> ProviderCharge:
    """A PaymentIntent object as a ``ProviderCharge`` (see the module docstring's table).

    ``decline_error`` is the 402 body's ``error`` when the intent came inside one; it says why
    more precisely than ``last_payment_error`` can be trusted to on older API versions.
    """
    currency = _str(intent.get("currency")).upper()
    raw_status = _str(intent.get("status"))
    error = decline_error or _dict(intent.get("last_payment_error"))
    status = _STATUSES.get(raw_status, ChargeStatus.PENDING)
    decline: Decline | None = None
    if raw_status == "requires_payment_method" and error:
        status, decline = ChargeStatus.DECLINED, decline_of(error)
    charge = _dict(intent.get("latest_charge"))
    amount = _int(intent.get("amount"))
    authorized = {
        ChargeStatus.AUTHORIZED: _int(intent.get("amount_capturable")),
        ChargeStatus.CAPTURED: amount,
    }.get(status, 0)
    captured = _int(intent.get("amount_received")) if status is ChargeStatus.CAPTURED else 0
    refs = {"latest_charge": _charge_id(intent.get("latest_charge"))}
    refs["payment_method"] = _str(intent.get("payment_method"))
    return ProviderCharge(
        provider_ref=_str(intent.get("id")),
        status=status,
        authorized_minor=_minor(authorized, currency),
        captured_minor=_minor(captured, currency),
        refunded_minor=_minor(_refunded(charge), currency),
        decline=decline,
        action_url=_action_url(_dict(intent.get("next_action"))),
        fee_minor=_fee(charge, currency),
        raw_status=raw_status,
        refs={key: value for key, value in refs.items() if value},
    )


def declined_without_intent(error: Mapping[str, Any]) -> ProviderCharge:
    """A card error that came without a PaymentIntent (the card was refused before one)."""
    return ProviderCharge(
        provider_ref="",
        status=ChargeStatus.DECLINED,
        decline=decline_of(error),
        raw_status="card_error",
        refs={"latest_charge": _str(error.get("charge"))} if error.get("charge") else {},
    )


def refund_of(refund: Mapping[str, Any]) -> ProviderRefund:
    """A Refund object as a ``ProviderRefund``."""
    raw_status = _str(refund.get("status"))
    currency = _str(refund.get("currency")).upper()
    return ProviderRefund(
        provider_ref=_str(refund.get("id")),
        status=_REFUND_STATUSES.get(raw_status, RefundStatus.PENDING),
        amount_minor=_minor(_int(refund.get("amount")), currency),
        raw_status=raw_status,
    )


def _refunded(charge: Mapping[str, Any]) -> int:
    if not charge.get("captured"):
        return 0
    released = _int(charge.get("amount")) - _int(charge.get("amount_captured"))
    return max(0, _int(charge.get("amount_refunded")) - released)


def _fee(charge: Mapping[str, Any], currency: str) -> int | None:
    txn = _dict(charge.get("balance_transaction"))
    fee = txn.get("fee")
    if not isinstance(fee, int):
        return None
    fee_currency = _str(txn.get("currency")).upper() or currency
    return _minor(fee, fee_currency)


def _action_url(action: Mapping[str, Any]) -> str:
    redirect = _dict(action.get("redirect_to_url"))
    if redirect:
        return _str(redirect.get("url"))
    sdk = _dict(action.get("use_stripe_sdk"))
    return _str(sdk.get("stripe_js"))


def _charge_id(value: object) -> str:
    if isinstance(value, dict):
        return _str(value.get("id"))
    return _str(value)


def _minor(value: int, currency: str) -> int:
    return from_stripe(value, currency) if value and currency else value


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
