"""An event's ``data``: the resource right after the change, shaped as its REST JSON.

A merchant's receiver parses the same fields it gets from ``GET /v1/payments/{id}`` (and
the refund list, the conversion and payout reads): snake_case names (Envoy's transcoder
preserves the proto field names), enum values by their proto names
(``PAYMENT_STATUS_CAPTURED``), times in RFC 3339 UTC, and every field present, as the
transcoder prints primitive fields even when empty.
Two differences, both written in the Event message's comment: amounts are JSON numbers (the
transcoder prints int64 as strings; minor units are exact as numbers up to 2^53), and a
payment comes without its attempts (they are the API's diagnostics, not the merchant's state).

Built here from the domain objects, without protobuf (which stays in the entrypoints): the
enum names follow the protos' ``<ENUM>_<VALUE>`` rule, so each is the domain value upper-cased
behind its prefix. ``tests/integration/gateway_store/test_webhook_emission.py`` checks every
payment status against the generated enum.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from gateway_svc.domain.conversions import Conversion, ConversionState, ConversionTransition
from gateway_svc.domain.lifecycle import order_status
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.payouts import Payout, PayoutState, PayoutTransition
from gateway_svc.domain.providers import Decline
from gateway_svc.domain.refunds import Refund, RefundStatus

Json = dict[str, object]


def rfc3339(at: datetime) -> str:
    """``2026-12-14T12:00:00.000000Z``: UTC with microseconds, as the proto JSON prints it."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


def enum_name(prefix: str, value: str) -> str:
    """The proto enum name of a domain value: ``enum_name("PAYMENT_STATUS", "captured")``."""
    return f"{prefix}_{value.upper()}" if value else f"{prefix}_UNSPECIFIED"


def money(minor_units: int, currency: str) -> Json:
    """A ``Money``: the ISO 4217 code and the integer count of minor units."""
    return {"currency_code": currency, "minor_units": minor_units}


def _decline(d: Decline) -> Json:
    return {"code": d.code.value, "message": d.message, "provider_code": d.raw_code}


def payment_data(p: Payment) -> Json:
    """The payment as ``GET /v1/payments/{id}`` shows it, without its attempts."""
    c = p.currency
    card = p.method.card
    method: Json = {"type": "PAYMENT_METHOD_TYPE_TOKEN"}
    if card is not None:
        method = {
            "type": "PAYMENT_METHOD_TYPE_CARD",
            "card": {"brand": card.brand.value, "last4": card.last4,
                     "exp_month": card.exp_month, "exp_year": card.exp_year},
        }  # fmt: skip
    data: Json = {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "amount": money(p.amount_minor, c),
        "amount_authorized": money(p.authorized_minor, c),
        "amount_captured": money(p.captured_minor, c),
        "amount_refunded": money(p.refunded_minor, c),
        "status": enum_name("PAYMENT_STATUS", p.status.value),
        "order_status": enum_name("ORDER_STATUS", order_status(p).value),
        "capture_method": enum_name("CAPTURE_METHOD", p.capture_method.value),
        "provider": p.provider.value if p.provider is not None else "",
        "provider_reference": p.provider_ref,
        "payment_method": method,
        "merchant_reference": p.merchant_reference,
        "description": p.description,
        "metadata": dict(p.metadata),
        "create_time": rfc3339(p.create_time),
        "update_time": rfc3339(p.update_time),
    }
    # As the proto view: a decline only when FAILED, a next action only when 3DS waits.
    if p.status is PaymentStatus.FAILED and p.decline is not None:
        data["decline"] = _decline(p.decline)
    if p.status is PaymentStatus.REQUIRES_ACTION and p.action_url:
        data["next_action"] = {"redirect_url": p.action_url}
    if p.fee_minor is not None:
        data["fee"] = money(p.fee_minor, c)
    return data


def refund_data(r: Refund) -> Json:
    """The refund as ``GET /v1/payments/{payment_id}/refunds`` lists it."""
    data: Json = {
        "id": r.id,
        "payment_id": r.payment_id,
        "amount": money(r.amount_minor, r.currency),
        "status": enum_name("REFUND_STATUS", r.status.value),
        "reason": enum_name("REFUND_REASON", r.reason),
        "provider_reference": r.provider_ref,
        "create_time": rfc3339(r.create_time),
        "update_time": rfc3339(r.update_time),
    }
    if r.status is RefundStatus.FAILED and r.decline is not None:
        data["failure"] = _decline(r.decline)
    return data


def _history(prefix: str, changes: Sequence[ConversionTransition | PayoutTransition]) -> list[Json]:
    return [
        {
            "from_status": enum_name(prefix, t.from_status.value if t.from_status else ""),
            "to_status": enum_name(prefix, t.to_status.value),
            "transition_time": rfc3339(t.at),
            "reason": t.reason,
        }
        for t in changes
    ]


def conversion_data(c: Conversion) -> Json:
    """The conversion as ``GET /v1/fx/conversions/{id}`` shows it, with its history."""
    failed = c.status is ConversionState.FAILED
    return {
        "id": c.id,
        "merchant_id": c.merchant_id,
        "quote_id": c.quote_id,
        "buy_currency": c.buy_currency,
        "sell_currency": c.sell_currency,
        "fixed_side": enum_name("FIXED_SIDE", c.fixed_side.value),
        "buy_amount": money(c.buy_amount_minor, c.buy_currency),
        "sell_amount": money(c.sell_amount_minor, c.sell_currency),
        "currency_pair": c.currency_pair,
        "client_rate": c.client_rate,
        "mid_market_rate": c.mid_market_rate,
        "status": enum_name("CONVERSION_STATUS", c.status.value),
        "failure_reason": c.failure_reason if failed else "",
        "provider_reference": c.provider_ref,
        "history": _history("CONVERSION_STATUS", c.history),
        "create_time": rfc3339(c.created_at),
        "update_time": rfc3339(c.updated_at),
    }


def payout_data(p: Payout) -> Json:
    """The payout as ``GET /v1/payouts/{id}`` shows it, with its history."""
    data: Json = {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "beneficiary_id": p.beneficiary_id,
        "amount": money(p.amount_minor, p.currency),
        "payment_type": enum_name("PAYOUT_TYPE", p.payment_type.value),
        "reason": p.reason,
        "reference": p.reference,
        "status": enum_name("PAYOUT_STATUS", p.status.value),
        "failure_reason": p.failure_reason if p.status is PayoutState.FAILED else "",
        "provider_reference": p.provider_ref,
        "history": _history("PAYOUT_STATUS", p.history),
        "create_time": rfc3339(p.created_at),
        "update_time": rfc3339(p.updated_at),
    }
    if p.fee_minor:
        data["fee"] = money(p.fee_minor, p.fee_currency or p.currency)
    return data
