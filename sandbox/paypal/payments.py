"""Payments v2: capture or void an authorization, refund a capture, show each of them.

Rules follow PayPal's Payments v2 reference, with the simulator's documented limits:

- A capture may take at most what is left of the authorization (PayPal lets some merchants
  capture up to 115%; the gateway never asks for more than it authorized). ``final_capture``
  defaults to false as at PayPal; a final capture releases whatever is left, so capturing
  less than authorized with ``final_capture: true`` is a partial capture.
- A void releases what is left of an authorization that is not fully captured.
- Refunds may follow one another until the capture is fully refunded; asking for more than
  is left is ``REFUND_AMOUNT_EXCEEDED``. A refund without an amount refunds the rest.
- Without ``Prefer: return=representation`` PayPal answers minimally: ``{id, status, links}``,
  and a void answers ``204 No Content``.

A capture, a void and a refund each emit their webhook (sandbox.webhooks.paypal).
"""

from __future__ import annotations

from sandbox.core import SimRequest, SimResponse
from sandbox.paypal.model import (
    Authorization,
    Capture,
    Ctx,
    Refund,
    capture_fee,
    percentage_fee,
    render_authorization,
    render_capture,
    render_refund,
)
from sandbox.paypal.validate import bad, invalid, json_object
from sandbox.paypal.wire import (
    PAYPAL_DECIMALS,
    new_id,
    not_found,
    now_iso,
    parse_units,
    reply,
    unprocessable,
    wants_full,
)
from sandbox.webhooks import paypal as events

_CAPTURE_REFUSALS = {
    "VOIDED": ("AUTHORIZATION_VOIDED", "A voided authorization cannot be captured."),
    "CAPTURED": ("AUTHORIZATION_ALREADY_CAPTURED", "Authorization has already been captured."),
    "DENIED": ("TRANSACTION_REFUSED", "The request was refused."),
    "EXPIRED": ("AUTHORIZATION_EXPIRED", "An expired authorization cannot be captured."),
}
_VOID_REFUSALS = {
    "CAPTURED": (
        "PREVIOUSLY_CAPTURED",
        "Authorization has been previously captured and hence cannot be voided.",
    ),
    "VOIDED": (
        "PREVIOUSLY_VOIDED",
        "Authorization has been previously voided and hence cannot be voided again.",
    ),
    "DENIED": ("CANNOT_BE_VOIDED", "A denied authorization cannot be voided."),
    "EXPIRED": ("AUTHORIZATION_EXPIRED", "An expired authorization cannot be voided."),
}


def _amount(body: dict[str, object], currency: str, rest: int, mismatch: str) -> int | SimResponse:
    """The requested amount in PayPal units (``rest`` when absent), or PayPal's refusal."""
    amount = body.get("amount")
    if amount is None:
        return rest
    if not isinstance(amount, dict):
        return invalid("/amount")
    code = amount.get("currency_code")
    if code != currency:
        if isinstance(code, str) and code in PAYPAL_DECIMALS:
            return unprocessable(mismatch, "Currency does not match the original payment.")
        return invalid("/amount/currency_code", str(code))
    units = parse_units(amount.get("value"), currency)
    if units == "DECIMAL_PRECISION":
        return unprocessable(
            "DECIMAL_PRECISION",
            "If the currency supports decimals, only two decimal place precision is supported.",
            "/amount/value",
        )
    if isinstance(units, str):
        return bad(
            "INVALID_PARAMETER_SYNTAX",
            "/amount/value",
            "The value of a field does not conform to the expected format.",
        )
    if units <= 0:
        return unprocessable(
            "CANNOT_BE_ZERO_OR_NEGATIVE", "Must be greater than zero.", "/amount/value"
        )
    return units


def capture_authorization(ctx: Ctx, request: SimRequest, auth_id: str) -> SimResponse:
    """``POST /v2/payments/authorizations/{id}/capture``."""
    auth = ctx.store.authorizations.get(auth_id)
    if auth is None:
        return not_found("authorization_id", auth_id)
    refusal = _CAPTURE_REFUSALS.get(auth.status)
    if refusal is not None:
        return unprocessable(*refusal)
    body = json_object(request)
    if isinstance(body, SimResponse):
        return body
    rest = auth.units - auth.captured_units
    units = _amount(body, auth.currency, rest, "CURRENCY_MISMATCH")
    if isinstance(units, SimResponse):
        return units
    if units > rest:
        return unprocessable(
            "MAX_CAPTURE_AMOUNT_EXCEEDED", "Capture amount exceeds allowable limit.", "/amount"
        )
    final = body.get("final_capture", False)
    if not isinstance(final, bool):
        return invalid("/final_capture", str(final))
    cap = _new_capture(ctx, auth, units, final, body)
    return _reply(request, 201, render_capture(cap, ctx.api, related=True), cap.id, cap.status)


def _new_capture(
    ctx: Ctx, auth: Authorization, units: int, final: bool, body: dict[str, object]
) -> Capture:
    now = now_iso()
    invoice = body.get("invoice_id")
    cap = Capture(
        id=new_id(),
        order_id=auth.order_id,
        authorization_id=auth.id,
        status="COMPLETED",
        currency=auth.currency,
        units=units,
        fee_units=capture_fee(units, auth.currency),
        final_capture=final,
        custom_id=auth.custom_id,
        invoice_id=invoice if isinstance(invoice, str) else auth.invoice_id,
        processor=None,
        created=now,
        updated=now,
    )
    store = ctx.store
    store.captures[cap.id] = cap
    store.orders[auth.order_id].capture_ids.append(cap.id)
    auth.captured_units += units
    auth.capture_ids.append(cap.id)
    done = final or auth.captured_units == auth.units
    auth.status = "CAPTURED" if done else "PARTIALLY_CAPTURED"
    auth.updated = now
    ctx.webhooks.emit(
        lambda: events.paypal_event(
            events.CAPTURE_COMPLETED, render_capture(cap, ctx.api, related=True)
        )
    )
    return cap


def void(ctx: Ctx, request: SimRequest, auth_id: str) -> SimResponse:
    """``POST /v2/payments/authorizations/{id}/void``."""
    auth = ctx.store.authorizations.get(auth_id)
    if auth is None:
        return not_found("authorization_id", auth_id)
    refusal = _VOID_REFUSALS.get(auth.status)
    if refusal is not None:
        return unprocessable(*refusal)
    auth.status = "VOIDED"
    auth.updated = now_iso()
    ctx.webhooks.emit(
        lambda: events.paypal_event(
            events.AUTHORIZATION_VOIDED, render_authorization(auth, ctx.api, related=True)
        )
    )
    if not wants_full(request.headers):
        return reply(204, None)
    return reply(200, render_authorization(auth, ctx.api, related=True))


def refund(ctx: Ctx, request: SimRequest, capture_id: str) -> SimResponse:
    """``POST /v2/payments/captures/{id}/refund``."""
    cap = ctx.store.captures.get(capture_id)
    if cap is None:
        return not_found("capture_id", capture_id)
    if cap.status == "REFUNDED":
        return unprocessable(
            "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded."
        )
    if cap.status not in ("COMPLETED", "PARTIALLY_REFUNDED"):
        return unprocessable("REFUND_NOT_ALLOWED", "Refund cannot be issued for this capture.")
    body = json_object(request)
    if isinstance(body, SimResponse):
        return body
    rest = cap.units - cap.refunded_units
    units = _amount(body, cap.currency, rest, "REFUND_CAPTURE_CURRENCY_MISMATCH")
    if isinstance(units, SimResponse):
        return units
    if units > rest:
        return unprocessable(
            "REFUND_AMOUNT_EXCEEDED",
            "The refund amount must be less than or equal to the capture amount that has not"
            " yet been refunded.",
            "/amount/value",
        )
    custom = body.get("custom_id")
    ref = Refund(
        id=new_id(),
        capture_id=cap.id,
        status="COMPLETED",
        currency=cap.currency,
        units=units,
        fee_units=percentage_fee(units),
        total_refunded_units=cap.refunded_units + units,
        custom_id=custom if isinstance(custom, str) else "",
        created=now_iso(),
    )
    ctx.store.refunds[ref.id] = ref
    cap.refunded_units += units
    cap.refund_ids.append(ref.id)
    cap.status = "REFUNDED" if cap.refunded_units == cap.units else "PARTIALLY_REFUNDED"
    cap.updated = ref.created
    ctx.webhooks.emit(
        lambda: events.paypal_event(events.CAPTURE_REFUNDED, render_refund(ref, ctx.api))
    )
    return _reply(request, 201, render_refund(ref, ctx.api), ref.id, ref.status)


def show(ctx: Ctx, kind: str, resource_id: str) -> SimResponse:
    """``GET /v2/payments/{authorizations|captures|refunds}/{id}``."""
    store = ctx.store
    if kind == "authorizations" and resource_id in store.authorizations:
        auth = store.authorizations[resource_id]
        return reply(200, render_authorization(auth, ctx.api, related=True))
    if kind == "captures" and resource_id in store.captures:
        return reply(200, render_capture(store.captures[resource_id], ctx.api, related=True))
    if kind == "refunds" and resource_id in store.refunds:
        return reply(200, render_refund(store.refunds[resource_id], ctx.api))
    return not_found(f"{kind[:-1]}_id", resource_id)


def _reply(
    request: SimRequest, status: int, full: dict[str, object], rid: str, state: str
) -> SimResponse:
    if wants_full(request.headers):
        return reply(status, full)
    return reply(status, {"id": rid, "status": state, "links": full["links"]})
