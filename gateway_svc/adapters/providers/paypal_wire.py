"""PayPal's JSON to and from the gateway's normalized types (pure: no I/O).

Outgoing: the create-order body. ``purchase_units[0].custom_id`` carries our attempt id
(PayPal: "used to reconcile API caller-initiated transactions with PayPal transactions"),
which is what ``lookup`` searches by; ``reference_id`` carries the merchant's reference.
``invoice_id`` is not sent: accounts that block duplicate invoice ids would refuse a second
attempt for the same merchant reference. A test card goes in ``payment_source.card``
(``expiry`` as ``YYYY-MM``); a token is a PayPal vault id, sent as
``payment_source.paypal.vault_id``.

Incoming: an order's status and its purchase unit's payments become one ``ProviderCharge``
whose ``provider_ref`` is the order id; the ids later calls need go in ``refs``
(``authorization_id`` to capture or void, ``capture_id`` to refund, ``intent``).

    order status             payments                          ChargeStatus
    CREATED                  -                                 REQUIRES_ACTION (approve link)
    PAYER_ACTION_REQUIRED    -                                 REQUIRES_ACTION (payer-action)
    APPROVED, SAVED          -                                 PENDING (the merchant completes)
    VOIDED                   -                                 CANCELED
    COMPLETED                authorization CREATED             AUTHORIZED
                             authorization DENIED              DECLINED
                             authorization VOIDED / EXPIRED    CANCELED (CAPTURED if some was)
                             authorization (PARTIALLY_)CAPTURED CAPTURED
                             capture COMPLETED / *REFUNDED     CAPTURED
                             capture DECLINED / FAILED         DECLINED
                             authorization or capture PENDING  PENDING
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gateway_svc.adapters.providers.paypal_errors import processor_decline
from gateway_svc.adapters.providers.paypal_money import to_minor, unreadable
from gateway_svc.domain.providers import (
    AuthorizeCall,
    ChargeStatus,
    Decline,
    DeclineCode,
    ProviderCharge,
    ProviderError,
    ProviderRefund,
    RefundStatus,
)

Json = Mapping[str, Any]

CAPTURED = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
_REFUND_STATUS = {
    "COMPLETED": RefundStatus.SUCCEEDED,
    "PENDING": RefundStatus.PENDING,
    "FAILED": RefundStatus.FAILED,
    "CANCELLED": RefundStatus.FAILED,
}


def order_body(call: AuthorizeCall, value: str) -> dict[str, object]:
    """The ``POST /v2/checkout/orders`` body for one authorization attempt."""
    unit: dict[str, object] = {
        "reference_id": call.reference[:256] or "default",
        "custom_id": call.attempt_id[:127],
        "amount": {"currency_code": call.currency, "value": value},
    }
    if call.description:
        unit["description"] = call.description[:127]
    body: dict[str, object] = {
        "intent": "CAPTURE" if call.capture else "AUTHORIZE",
        "purchase_units": [unit],
    }
    card, token = call.method.card, call.method.token
    if card is not None:
        body["payment_source"] = {
            "card": {
                "number": card.number,
                "expiry": f"{card.exp_year:04d}-{card.exp_month:02d}",
                "security_code": card.cvc,
            }
        }
    elif token:
        body["payment_source"] = {"paypal": {"vault_id": token}}
    return body


def _obj(value: object, what: str) -> Json:
    if not isinstance(value, Mapping):
        raise unreadable(f"{what} is missing")
    return value


def _list(parent: Json, key: str) -> list[Json]:
    items = parent.get(key) or []
    if not isinstance(items, list):
        raise unreadable(f"{key} is not a list")
    return [_obj(item, key) for item in items]


def _amount(obj: Json, currency: str) -> int:
    money = _obj(obj.get("amount"), "an amount")
    return to_minor(money.get("value"), currency)


def _link(order: Json, rel: str) -> str:
    for item in _list(order, "links"):
        if item.get("rel") == rel:
            return str(item.get("href", ""))
    return ""


def _fee(capture: Json, currency: str) -> int:
    breakdown = capture.get("seller_receivable_breakdown")
    if not isinstance(breakdown, Mapping) or not isinstance(breakdown.get("paypal_fee"), Mapping):
        return 0
    return to_minor(breakdown["paypal_fee"].get("value"), currency)


def decline_of(payment: Json) -> Decline:
    """Why a capture was declined or an authorization denied (its processor response)."""
    processor = payment.get("processor_response")
    code = processor.get("response_code") if isinstance(processor, Mapping) else None
    if isinstance(code, str) and code:
        return processor_decline(code)
    status = str(payment.get("status", ""))
    return Decline(DeclineCode.GENERIC_DECLINE, "PayPal declined the payment.", raw_code=status)


def charge_from_order(order: object) -> ProviderCharge:
    """An order (``GET``, create, or order capture/authorize reply) as a ProviderCharge."""
    order = _obj(order, "the order")
    order_id, status = str(order.get("id", "")), str(order.get("status", ""))
    units = _list(order, "purchase_units")
    if not order_id or not units:
        raise unreadable("the order has no id or purchase unit")
    unit = units[0]
    currency = str(_obj(unit.get("amount"), "the order amount").get("currency_code", ""))
    amount = _amount(unit, currency)
    refs = {"order_id": order_id, "intent": str(order.get("intent", "")), "currency": currency}
    base = ProviderCharge(order_id, ChargeStatus.PENDING, raw_status=status, refs=refs)
    if status == "PAYER_ACTION_REQUIRED" or status == "CREATED":
        url = _link(order, "payer-action" if status != "CREATED" else "approve")
        return replace(base, status=ChargeStatus.REQUIRES_ACTION, action_url=url)
    if status == "VOIDED":
        return replace(base, status=ChargeStatus.CANCELED)
    if status != "COMPLETED":
        return base
    payments = _obj(unit.get("payments") or {}, "payments")
    return _completed(base, payments, amount, currency)


def _completed(base: ProviderCharge, payments: Json, amount: int, currency: str) -> ProviderCharge:
    captures = _list(payments, "captures")
    done = [c for c in captures if c.get("status") in CAPTURED]
    captured = sum(_amount(c, currency) for c in done)
    refunded = sum(
        _amount(r, currency) for r in _list(payments, "refunds") if r.get("status") == "COMPLETED"
    )
    refs = dict(base.refs)
    if done:
        refs["capture_id"] = str(done[-1].get("id", ""))
    fee = sum(_fee(c, currency) for c in done) if done else None
    auths = _list(payments, "authorizations")
    if auths:
        auth = auths[0]
        refs["authorization_id"] = str(auth.get("id", ""))
        status, authorized, decline = _auth_state(auth, captured, currency)
    else:
        status, authorized, decline = _capture_state(captures, captured, amount)
    return replace(
        base,
        status=status,
        authorized_minor=authorized,
        captured_minor=captured,
        refunded_minor=refunded,
        decline=decline,
        fee_minor=fee,
        refs=refs,
    )


def _auth_state(
    auth: Json, captured: int, currency: str
) -> tuple[ChargeStatus, int, Decline | None]:
    state = auth.get("status")
    authorized = _amount(auth, currency)
    if state == "DENIED":
        return ChargeStatus.DECLINED, 0, decline_of(auth)
    if state == "PENDING":
        return ChargeStatus.PENDING, authorized, None
    if state == "CREATED":
        return ChargeStatus.AUTHORIZED, authorized, None
    if state in ("VOIDED", "EXPIRED") and not captured:
        return ChargeStatus.CANCELED, authorized, None
    if state in ("CAPTURED", "PARTIALLY_CAPTURED", "VOIDED", "EXPIRED"):
        return ChargeStatus.CAPTURED, authorized, None
    raise unreadable(f"unknown authorization status {state!r}")


def _capture_state(
    captures: list[Json], captured: int, amount: int
) -> tuple[ChargeStatus, int, Decline | None]:
    if captured:
        return ChargeStatus.CAPTURED, amount, None
    failed = [c for c in captures if c.get("status") in ("DECLINED", "FAILED")]
    if failed:
        return ChargeStatus.DECLINED, 0, decline_of(failed[-1])
    return ChargeStatus.PENDING, amount, None


def charge_from_capture(capture: object, prior: ProviderCharge) -> ProviderCharge:
    """The charge after ``POST /v2/payments/authorizations/{id}/capture``."""
    capture = _obj(capture, "the capture")
    currency = prior.refs.get("currency", "")
    state = str(capture.get("status", ""))
    refs = {**prior.refs, "capture_id": str(capture.get("id", ""))}
    if state in ("DECLINED", "FAILED"):
        status, captured, decline = ChargeStatus.DECLINED, 0, decline_of(capture)
    elif state == "PENDING":
        status, captured, decline = ChargeStatus.PENDING, 0, None
    elif state in CAPTURED:
        status, captured, decline = ChargeStatus.CAPTURED, _amount(capture, currency), None
    else:
        raise unreadable(f"unknown capture status {state!r}")
    return replace(
        prior,
        status=status,
        captured_minor=captured,
        decline=decline,
        fee_minor=_fee(capture, currency) if captured else None,
        raw_status=state,
        refs=refs,
    )


def refund_from(refund: object, requested_minor: int, currency: str) -> ProviderRefund:
    """A ``POST /v2/payments/captures/{id}/refund`` reply as a ProviderRefund."""
    refund = _obj(refund, "the refund")
    state = str(refund.get("status", ""))
    status = _REFUND_STATUS.get(state)
    if status is None:
        raise unreadable(f"unknown refund status {state!r}")
    amount = _amount(refund, currency) if "amount" in refund else requested_minor
    return ProviderRefund(str(refund.get("id", "")), status, amount, raw_status=state)


def declined_charge(error: ProviderError, prior: ProviderCharge | None = None) -> ProviderCharge:
    """A payer-side refusal that came as an error reply (no order may exist: ref "")."""
    decline = Decline(error.code, error.message, raw_code=error.raw_code)
    if prior is None:
        return ProviderCharge("", ChargeStatus.DECLINED, decline=decline, raw_status=error.raw_code)
    return replace(prior, status=ChargeStatus.DECLINED, decline=decline, raw_status=error.raw_code)
