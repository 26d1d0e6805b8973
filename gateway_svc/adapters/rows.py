"""Conversions between the gateway's rows and its domain values.

Payments and refunds are stored as JSON documents (``tables`` says why); these functions are
the only place that knows the document shape. Documents hold what the domain objects hold
and nothing more: a payment's method is its ``MethodSummary`` (brand, last four, expiry, or a
token's kind), so no card number or CVC can reach a row, because none reaches the aggregate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway_svc.domain.cards import CardBrand, CardSummary
from gateway_svc.domain.idempotency import KeyRecord, RecoveryPoint, StoredResponse
from gateway_svc.domain.payments import CaptureMethod, MethodSummary, Payment, PaymentStatus
from gateway_svc.domain.providers import Decline, DeclineCode, Provider
from gateway_svc.domain.refunds import Refund, RefundStatus

Row = Mapping[Any, Any]


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything the gateway stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """``utc`` that lets None through."""
    return None if value is None else utc(value)


def dumps(doc: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON: the same document always gives the same text."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def _decline_to_dict(decline: Decline | None) -> dict[str, str] | None:
    if decline is None:
        return None
    return {"code": decline.code.value, "message": decline.message, "raw_code": decline.raw_code}


def _decline_from_dict(d: Mapping[str, str] | None) -> Decline | None:
    if d is None:
        return None
    return Decline(DeclineCode(d["code"]), d["message"], d.get("raw_code", ""))


def _method_to_dict(method: MethodSummary) -> dict[str, Any]:
    card = method.card
    return {
        "token_kind": method.token_kind,
        "card": None
        if card is None
        else {
            "brand": card.brand.value,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        },
    }


def _method_from_dict(d: Mapping[str, Any]) -> MethodSummary:
    c = d.get("card")
    card = (
        None
        if c is None
        else CardSummary(CardBrand(c["brand"]), c["last4"], c["exp_month"], c["exp_year"])
    )
    return MethodSummary(card=card, token_kind=d.get("token_kind", ""))


def payment_doc(p: Payment) -> dict[str, Any]:
    """The JSON document of a payment (every field; times as ISO 8601)."""
    return {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "capture_method": p.capture_method.value,
        "method": _method_to_dict(p.method),
        "create_time": p.create_time.isoformat(),
        "update_time": p.update_time.isoformat(),
        "status": p.status.value,
        "authorized_minor": p.authorized_minor,
        "captured_minor": p.captured_minor,
        "refunded_minor": p.refunded_minor,
        "provider": p.provider.value if p.provider is not None else None,
        "provider_ref": p.provider_ref,
        "provider_refs": dict(p.provider_refs),
        "decline": _decline_to_dict(p.decline),
        "action_url": p.action_url,
        "merchant_reference": p.merchant_reference,
        "description": p.description,
        "metadata": dict(p.metadata),
        "fee_minor": p.fee_minor,
        "version": p.version,
    }


def payment_from_doc(d: Mapping[str, Any]) -> Payment:
    """The inverse of ``payment_doc``."""
    return Payment(
        id=d["id"],
        merchant_id=d["merchant_id"],
        amount_minor=d["amount_minor"],
        currency=d["currency"],
        capture_method=CaptureMethod(d["capture_method"]),
        method=_method_from_dict(d["method"]),
        create_time=datetime.fromisoformat(d["create_time"]),
        update_time=datetime.fromisoformat(d["update_time"]),
        status=PaymentStatus(d["status"]),
        authorized_minor=d["authorized_minor"],
        captured_minor=d["captured_minor"],
        refunded_minor=d["refunded_minor"],
        provider=Provider(d["provider"]) if d.get("provider") else None,
        provider_ref=d.get("provider_ref", ""),
        provider_refs=dict(d.get("provider_refs", {})),
        decline=_decline_from_dict(d.get("decline")),
        action_url=d.get("action_url", ""),
        merchant_reference=d.get("merchant_reference", ""),
        description=d.get("description", ""),
        metadata=dict(d.get("metadata", {})),
        fee_minor=d.get("fee_minor"),
        version=d["version"],
    )


def payment_values(p: Payment) -> dict[str, Any]:
    """The ``payments`` columns a payment determines (not the reconciler or lease columns)."""
    return {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "status": p.status.value,
        "provider": p.provider.value if p.provider is not None else "",
        "merchant_reference": p.merchant_reference,
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "create_time": utc(p.create_time),
        "update_time": utc(p.update_time),
        "version": p.version,
        "doc": dumps(payment_doc(p)),
    }


def refund_doc(r: Refund) -> dict[str, Any]:
    """The JSON document of a refund."""
    return {
        "id": r.id,
        "payment_id": r.payment_id,
        "merchant_id": r.merchant_id,
        "amount_minor": r.amount_minor,
        "currency": r.currency,
        "create_time": r.create_time.isoformat(),
        "update_time": r.update_time.isoformat(),
        "status": r.status.value,
        "reason": r.reason,
        "provider_ref": r.provider_ref,
        "decline": _decline_to_dict(r.decline),
        "metadata": dict(r.metadata),
        "version": r.version,
    }


def refund_from_doc(d: Mapping[str, Any]) -> Refund:
    """The inverse of ``refund_doc``."""
    return Refund(
        id=d["id"],
        payment_id=d["payment_id"],
        merchant_id=d["merchant_id"],
        amount_minor=d["amount_minor"],
        currency=d["currency"],
        create_time=datetime.fromisoformat(d["create_time"]),
        update_time=datetime.fromisoformat(d["update_time"]),
        status=RefundStatus(d["status"]),
        reason=d.get("reason", ""),
        provider_ref=d.get("provider_ref", ""),
        decline=_decline_from_dict(d.get("decline")),
        metadata=dict(d.get("metadata", {})),
        version=d["version"],
    )


def refund_values(r: Refund) -> dict[str, Any]:
    """The ``refunds`` columns a refund determines."""
    return {
        "id": r.id,
        "payment_id": r.payment_id,
        "merchant_id": r.merchant_id,
        "status": r.status.value,
        "amount_minor": r.amount_minor,
        "currency": r.currency,
        "create_time": utc(r.create_time),
        "update_time": utc(r.update_time),
        "version": r.version,
        "doc": dumps(refund_doc(r)),
    }


def key_from_row(row: Row) -> KeyRecord:
    """A KeyRecord from an ``idempotency_keys`` row."""
    response = None
    if row["response_code"] is not None:
        response = StoredResponse(int(row["response_code"]), bytes(row["response_body"] or b""))
    return KeyRecord(
        merchant_id=row["merchant_id"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        recovery_point=RecoveryPoint(row["recovery_point"]),
        locked_at=utc_or_none(row["locked_at"]),
        created_at=utc(row["created_at"]),
        response=response,
        payment_id=row["payment_id"],
    )


def key_values(record: KeyRecord) -> dict[str, Any]:
    """The ``idempotency_keys`` columns a KeyRecord determines (not operation, refund_id)."""
    response = record.response
    return {
        "merchant_id": record.merchant_id,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "recovery_point": record.recovery_point.value,
        "locked_at": utc_or_none(record.locked_at),
        "payment_id": record.payment_id,
        "response_code": response.status_code if response is not None else None,
        "response_body": response.body if response is not None else None,
        "created_at": utc(record.created_at),
    }
