"""Currencycloud's JSON objects as the domain's views, and the forms the adapter sends.

Shapes follow the replies recorded in Currencycloud's official SDKs (RateDetailed,
Conversion, Payment, Beneficiary). Every amount is a decimal string (``currencycloud_money``);
rates are kept as the strings quoted. ``deposit_required`` arrives as a JSON boolean in the
recordings and as a string in some descriptions; both are read. Timestamps are ISO 8601
(``2017-05-15T10:34:26+00:00`` or with ``Z``); one that does not parse is left out (None)
rather than failing the call, since no decision hangs on it.

Status words map onto the domain's enums in ``CONVERSION_STATUSES`` and ``PAYOUT_STATUSES``
(Currencycloud's full lists: conversions ``awaiting_funds, funds_sent, funds_arrived,
trade_settled, closed``; payments ``new, ready_to_send, completed, failed, released,
suspended, awaiting_authorisation, submitted, authorised, deleted``). A payment is PENDING
(cancelable) until it is ``submitted`` or ``released`` to the bank network; ``suspended``
(held for review) is still PENDING. A word outside the tables makes the reply unreadable
(UNKNOWN), so a new status can never be mistaken for a final one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from gateway_svc.adapters.providers.currencycloud_money import to_minor, unreadable
from gateway_svc.domain.fx_provider import (
    BeneficiaryDetails,
    BeneficiaryView,
    ConversionStatus,
    ConversionView,
    FixedSide,
    PaymentType,
    PayoutStatus,
    PayoutView,
    RateQuote,
)

CONVERSION_STATUSES: Final[dict[str, ConversionStatus]] = {s.value: s for s in ConversionStatus}
PAYOUT_STATUSES: Final[dict[str, PayoutStatus]] = {
    "new": PayoutStatus.PENDING,
    "awaiting_authorisation": PayoutStatus.PENDING,
    "authorised": PayoutStatus.PENDING,
    "ready_to_send": PayoutStatus.PENDING,
    "suspended": PayoutStatus.PENDING,
    "submitted": PayoutStatus.SUBMITTED,
    "released": PayoutStatus.SUBMITTED,
    "completed": PayoutStatus.COMPLETED,
    "failed": PayoutStatus.FAILED,
    "deleted": PayoutStatus.CANCELED,
}
REQUEST_ID_MAX_LEN = 64
"""Our cap on ``unique_request_id`` and ``beneficiary_external_reference``: Currencycloud
documents no maximum for the first and 255 for the second; 64 stays inside both."""

Json = Mapping[str, Any]
Form = list[tuple[str, str]]


def provider_request_id(operation: str, request_id: str) -> str:
    """The ``unique_request_id`` for one operation under our request id (deterministic).

    ``paymesh-<operation>-<request id>`` when that is short printable ASCII, else the same
    prefix with a SHA-256 of the request id cut to fit: a retry of the same request always
    sends the same value, so Currencycloud's idempotency recognises it.
    """
    plain = f"paymesh-{operation}-{request_id}"
    if len(plain) <= REQUEST_ID_MAX_LEN and plain.isascii() and plain.isprintable():
        return plain
    digest = hashlib.sha256(request_id.encode()).hexdigest()
    return f"paymesh-{operation}-{digest}"[:REQUEST_ID_MAX_LEN]


def text(body: Json, key: str) -> str:
    """``body[key]`` as a string ("" for null or absent)."""
    value = body.get(key)
    return "" if value is None else str(value)


def moment(value: object) -> datetime | None:
    """An ISO 8601 timestamp, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _side(body: Json) -> FixedSide:
    try:
        return FixedSide(text(body, "fixed_side"))
    except ValueError:
        raise unreadable(f"unknown fixed_side {text(body, 'fixed_side')!r}") from None


def rate_quote(body: Json) -> RateQuote:
    """A ``RateDetailed`` object."""
    buy, sell = text(body, "client_buy_currency"), text(body, "client_sell_currency")
    deposit_currency = text(body, "deposit_currency")
    deposit = body.get("deposit_amount")
    return RateQuote(
        buy_currency=buy,
        sell_currency=sell,
        fixed_side=_side(body),
        buy_amount_minor=to_minor(body.get("client_buy_amount"), buy),
        sell_amount_minor=to_minor(body.get("client_sell_amount"), sell),
        client_rate=_rate(body, "client_rate"),
        core_rate=_rate(body, "core_rate"),
        mid_market_rate=_rate(body, "mid_market_rate"),
        currency_pair=text(body, "currency_pair"),
        settlement_cut_off=moment(body.get("settlement_cut_off_time")),
        deposit_required=_flag(body.get("deposit_required")),
        deposit_amount_minor=to_minor(deposit, deposit_currency) if deposit_currency else 0,
        deposit_currency=deposit_currency,
    )


def _rate(body: Json, key: str) -> str:
    value = text(body, key)
    if not value or value.count(".") > 1 or not value.replace(".", "").isdigit():
        raise unreadable(f"{key} is not a decimal string")
    return value


def conversion_view(body: Json) -> ConversionView:
    """A ``Conversion`` object."""
    raw = text(body, "status")
    status = CONVERSION_STATUSES.get(raw)
    if status is None:
        raise unreadable(f"unknown conversion status {raw!r}")
    buy, sell = text(body, "buy_currency"), text(body, "sell_currency")
    return ConversionView(
        provider_ref=text(body, "id"),
        status=status,
        raw_status=raw,
        buy_currency=buy,
        sell_currency=sell,
        fixed_side=_side(body),
        buy_amount_minor=to_minor(body.get("client_buy_amount"), buy),
        sell_amount_minor=to_minor(body.get("client_sell_amount"), sell),
        client_rate=_rate(body, "client_rate"),
        mid_market_rate=_rate(body, "mid_market_rate"),
        currency_pair=text(body, "currency_pair"),
        short_reference=text(body, "short_reference"),
        unique_request_id=text(body, "unique_request_id"),
        settlement_date=moment(body.get("settlement_date")),
        conversion_date=moment(body.get("conversion_date")),
        created_at=moment(body.get("created_at")),
        updated_at=moment(body.get("updated_at")),
    )


def payout_view(body: Json) -> PayoutView:
    """A ``Payment`` object."""
    raw = text(body, "status")
    status = PAYOUT_STATUSES.get(raw)
    if status is None:
        raise unreadable(f"unknown payment status {raw!r}")
    currency, fee_currency = text(body, "currency"), text(body, "fee_currency")
    fee = body.get("fee_amount")
    try:
        payment_type = PaymentType(text(body, "payment_type") or "regular")
    except ValueError:
        raise unreadable(f"unknown payment_type {text(body, 'payment_type')!r}") from None
    return PayoutView(
        provider_ref=text(body, "id"),
        status=status,
        raw_status=raw,
        currency=currency,
        amount_minor=to_minor(body.get("amount"), currency),
        beneficiary_id=text(body, "beneficiary_id"),
        reference=text(body, "reference"),
        reason=text(body, "reason"),
        payment_type=payment_type,
        fee_amount_minor=to_minor(fee, fee_currency) if fee and fee_currency else None,
        fee_currency=fee_currency,
        failure_reason=text(body, "failure_reason"),
        short_reference=text(body, "short_reference"),
        unique_request_id=text(body, "unique_request_id"),
        conversion_id=text(body, "conversion_id"),
        created_at=moment(body.get("created_at")),
        updated_at=moment(body.get("updated_at")),
    )


_DETAIL_FIELDS = tuple(
    spec.name
    for spec in dataclasses.fields(BeneficiaryDetails)
    if spec.name not in ("payment_types", "beneficiary_address")
)
_PAYMENT_TYPES = {t.value: t for t in PaymentType}


def beneficiary_view(body: Json) -> BeneficiaryView:
    """A ``Beneficiary`` object (a validation's has no id)."""
    address = body.get("beneficiary_address")
    first_line = address[0] if isinstance(address, list) and address else ""
    types_raw = body.get("payment_types")
    listed = types_raw if isinstance(types_raw, list) else []
    types = tuple(_PAYMENT_TYPES[t] for t in listed if t in _PAYMENT_TYPES)
    details = BeneficiaryDetails(
        **{name: text(body, name) for name in _DETAIL_FIELDS},
        beneficiary_address=str(first_line),
        payment_types=types,
    )
    return BeneficiaryView(
        provider_ref=text(body, "id"),
        details=details,
        payment_types=types,
        bank_name=text(body, "bank_name"),
        created_at=moment(body.get("created_at")),
    )


def beneficiary_form(details: BeneficiaryDetails, external_reference: str = "") -> Form:
    """The create/validate form: every field given, ``payment_types[]`` repeated."""
    form: Form = [(name, value) for name in _DETAIL_FIELDS if (value := getattr(details, name))]
    if details.beneficiary_address:
        form.append(("beneficiary_address", details.beneficiary_address))
    form.extend(("payment_types[]", t.value) for t in details.payment_types)
    if external_reference:
        form.append(("beneficiary_external_reference", external_reference))
    return form
