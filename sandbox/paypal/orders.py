"""Orders v2: create, show, capture, authorize; the payer's pages; the sandbox order search.

An order created with a card or vaulted ``payment_source`` is processed at once, the way
PayPal completes such orders server-side: the reply is a ``COMPLETED`` order whose purchase
unit holds a capture (intent CAPTURE) or an authorization (intent AUTHORIZE), approved or
declined (see ``sandbox.paypal.outcomes``). A card that needs 3-D Secure leaves the order in
``PAYER_ACTION_REQUIRED`` with a ``payer-action`` link; an order without a payment source is
``CREATED`` with an ``approve`` link. Visiting either link (``GET``, no credentials: it is the
payer's browser) approves the order, and ``POST .../capture`` or ``.../authorize`` completes it.

SANDBOX-ONLY EXTENSION: ``GET /v2/checkout/orders?custom_id=<id>`` lists the orders created
with that ``purchase_units[].custom_id``. Real PayPal has no read-only search in the Orders
API; this exists so the gateway's reconciliation (``PaymentProvider.lookup``) can be tested
without creating anything. Its replies carry ``paymesh-sandbox-extension: order-search``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.core import SimRequest, SimResponse
from sandbox.paypal.model import (
    Authorization,
    Capture,
    Ctx,
    Order,
    capture_fee,
    order_links,
    render_authorization,
    render_capture,
    render_order,
)
from sandbox.paypal.outcomes import APPROVED, approved
from sandbox.paypal.validate import OrderRequest, bad, missing, parse_order
from sandbox.paypal.wire import new_id, not_found, now_iso, reply, unprocessable, wants_full
from sandbox.webhooks import paypal as events

AUTHORIZATION_PERIOD = timedelta(days=29)
"""How long PayPal keeps an authorization capturable."""

EXTENSION_HEADER = {"paymesh-sandbox-extension": "order-search"}


def create(ctx: Ctx, request: SimRequest) -> SimResponse:
    """``POST /v2/checkout/orders``."""
    try:
        body = request.json()
    except ValueError:
        return bad("MALFORMED_REQUEST_JSON", "/", "The request JSON is not well formed.")
    parsed = parse_order(body)
    if isinstance(parsed, SimResponse):
        return parsed
    order = _new_order(parsed)
    store = ctx.store
    store.orders[order.id] = order
    if order.custom_id:
        store.by_custom_id.setdefault(order.custom_id, []).append(order.id)
    if order.status == "APPROVED":
        process(ctx, order)
    return _order_reply(ctx, request, 201, order)


def _new_order(parsed: OrderRequest) -> Order:
    if not parsed.has_source:
        status = "CREATED"
    elif parsed.processor is None:
        status = "PAYER_ACTION_REQUIRED"
    else:
        status = "APPROVED"
    now = now_iso()
    return Order(
        id=new_id(),
        intent=parsed.intent,
        status=status,
        currency=parsed.currency,
        units=parsed.units,
        reference_id=parsed.texts["reference_id"],
        custom_id=parsed.texts["custom_id"],
        invoice_id=parsed.texts["invoice_id"],
        description=parsed.texts["description"],
        source=parsed.source,
        processor=parsed.processor,
        created=now,
        updated=now,
    )


def process(ctx: Ctx, order: Order) -> None:
    """Run an approved order's payment: one authorization or one capture, approved or not."""
    processor = order.processor or approved()
    ok = processor.response_code == APPROVED
    now = now_iso()
    store = ctx.store
    if order.intent == "AUTHORIZE":
        expires = (datetime.now(UTC) + AUTHORIZATION_PERIOD).strftime("%Y-%m-%dT%H:%M:%SZ")
        auth = Authorization(
            id=new_id(),
            order_id=order.id,
            status="CREATED" if ok else "DENIED",
            currency=order.currency,
            units=order.units,
            custom_id=order.custom_id,
            invoice_id=order.invoice_id,
            processor=processor if order.processor is not None else None,
            created=now,
            updated=now,
            expires=expires,
        )
        store.authorizations[auth.id] = auth
        order.authorization_id = auth.id
        if ok:
            ctx.webhooks.emit(
                lambda: events.paypal_event(
                    events.AUTHORIZATION_CREATED, render_authorization(auth, ctx.api, related=True)
                )
            )
    else:
        cap = Capture(
            id=new_id(),
            order_id=order.id,
            authorization_id="",
            status="COMPLETED" if ok else "DECLINED",
            currency=order.currency,
            units=order.units,
            fee_units=capture_fee(order.units, order.currency) if ok else 0,
            final_capture=True,
            custom_id=order.custom_id,
            invoice_id=order.invoice_id,
            processor=processor if order.processor is not None else None,
            created=now,
            updated=now,
        )
        store.captures[cap.id] = cap
        order.capture_ids.append(cap.id)
        kind = events.CAPTURE_COMPLETED if ok else events.CAPTURE_DENIED
        ctx.webhooks.emit(
            lambda: events.paypal_event(kind, render_capture(cap, ctx.api, related=True))
        )
    order.status = "COMPLETED"
    order.updated = now


def show(ctx: Ctx, order_id: str) -> SimResponse:
    """``GET /v2/checkout/orders/{id}``: always the full representation."""
    order = ctx.store.orders.get(order_id)
    if order is None:
        return not_found("order_id", order_id)
    return reply(200, render_order(order, ctx.store, ctx.api, ctx.site))


def complete(ctx: Ctx, request: SimRequest, order_id: str, verb: str) -> SimResponse:
    """``POST /v2/checkout/orders/{id}/capture`` and ``.../authorize`` of an approved order."""
    order = ctx.store.orders.get(order_id)
    if order is None:
        return not_found("order_id", order_id)
    if (verb == "capture") != (order.intent == "CAPTURE"):
        return unprocessable(
            "ACTION_DOES_NOT_MATCH_INTENT",
            f"Order was created with an intent to '{order.intent}'. Please use"
            f" /{order.intent.lower()} to complete it.",
        )
    if order.status == "COMPLETED":
        issue = "ORDER_ALREADY_CAPTURED" if verb == "capture" else "ORDER_ALREADY_AUTHORIZED"
        return unprocessable(issue, f"Order already {verb}d.")
    if order.status == "PAYER_ACTION_REQUIRED":
        return unprocessable(
            "PAYER_ACTION_REQUIRED",
            "Transaction cannot complete successfully, instruct the buyer to return to PayPal.",
        )
    if order.status != "APPROVED":
        return unprocessable(
            "ORDER_NOT_APPROVED",
            "Payer has not yet approved the Order for payment. Please redirect the payer to"
            " the 'rel':'approve' url returned as part of the HATEOAS links.",
        )
    process(ctx, order)
    return _order_reply(ctx, request, 201, order)


def search(ctx: Ctx, request: SimRequest) -> SimResponse:
    """SANDBOX-ONLY: ``GET /v2/checkout/orders?custom_id=...`` (see the module docstring)."""
    custom_id = request.query.get("custom_id")
    if not custom_id:
        return missing("custom_id")
    store = ctx.store
    found = [store.orders[i] for i in store.by_custom_id.get(custom_id, ())]
    orders = [render_order(o, store, ctx.api, ctx.site) for o in found]
    return reply(200, {"orders": orders, "total_items": len(orders)}, EXTENSION_HEADER)


def payer_page(ctx: Ctx, request: SimRequest, page: str) -> SimResponse:
    """The payer's approval (``/checkoutnow``) or 3-D Secure (``/webapps/helios``) page.

    Visiting it stands for the payer finishing there: the order becomes APPROVED.
    """
    order_id = request.query.get("token" if page == "checkoutnow" else "cart_id", "")
    order = ctx.store.orders.get(order_id)
    wanted = "CREATED" if page == "checkoutnow" else "PAYER_ACTION_REQUIRED"
    if order is None or order.status != wanted:
        return _html(404, "This checkout session is not waiting for the payer.")
    if page == "checkoutnow":
        order.source = {"paypal": {"email_address": "payer@paymesh.example"}}
    else:
        card = order.source.get("card")
        if isinstance(card, dict):
            card["authentication_result"] = {
                "liability_shift": "POSSIBLE",
                "three_d_secure": {"enrollment_status": "Y", "authentication_status": "Y"},
            }
        order.processor = approved()
    order.status = "APPROVED"
    order.updated = now_iso()
    return _html(200, "Done. You can return to the merchant.")


def _order_reply(ctx: Ctx, request: SimRequest, status: int, order: Order) -> SimResponse:
    if wants_full(request.headers):
        return reply(status, render_order(order, ctx.store, ctx.api, ctx.site))
    links = order_links(order, ctx.api, ctx.site)
    return reply(status, {"id": order.id, "status": order.status, "links": links})


def _html(status: int, text: str) -> SimResponse:
    body = f"<!doctype html><title>PayPal sandbox</title><p>{text}</p>".encode()
    return SimResponse(status, body, {"content-type": "text/html; charset=utf-8"})
