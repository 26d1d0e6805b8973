"""Razorpay payments: the S2S JSON create, fetch, capture, and the authorization lapse.

``POST /v1/payments/create/json`` (Razorpay's server-to-server JSON flow, an on-demand
feature for PCI-certified merchants) creates a card payment on an order and answers only
``{"razorpay_payment_id"}``, plus ``"next": [{"action": "redirect", "url"}]`` when the payer
must authenticate (3DS); the merchant then fetches the payment for its status. A card that
fails gets the error reply with ``metadata: {payment_id, order_id}``, and the payment exists
as ``failed`` with its ``error_*`` fields set. The 3DS URL has the shape Razorpay returns,
``.../v1/payments/<id without pay_>/authenticate``, under the sandbox's own address.

Capture (``POST /v1/payments/{id}/capture {amount, currency}``) must be for exactly the
authorized amount: Razorpay has no partial capture ("Capture amount must be equal to the
amount authorized"). Nor does it have a void: the only release of an authorization is the
automatic refund after the capture window (``store.Store.expire``), which the sandbox-only
``POST /_sandbox/payments/{id}/lapse`` triggers at once for tests.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.core import SimResponse
from sandbox.razorpay import validation as check
from sandbox.razorpay.cards import CardFailure, Verdict, network_of, verdict_of
from sandbox.razorpay.replies import error_reply, json_reply, refused, unknown_id
from sandbox.razorpay.store import Order, Payment, Store, fee_and_tax
from sandbox.webhooks import razorpay as events

PAYMENT_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "order_id",
        "email",
        "contact",
        "method",
        "card",
        "token",
        "customer_id",
        "description",
        "notes",
        "callback_url",
        "ip",
        "referer",
        "user_agent",
        "browser",
        "authentication",
        "save",
    }
)
CAPTURE_FIELDS = frozenset({"amount", "currency"})
ORDER_ALREADY_PAID = (
    "Your payment has been declined as the order is already paid."
    " Please initiate the payment with a new order."
)


@dataclass(frozen=True, slots=True)
class Context:
    """What handlers need beyond the store: where the sandbox is reached, the key secret
    (Razorpay signs payment callbacks with it)."""

    store: Store
    base_url: str
    """``<public_url>/razorpay``: the root of this simulator's URLs."""
    key_secret: str


def create_json(ctx: Context, body: Mapping[str, object]) -> SimResponse:
    """``POST /v1/payments/create/json``."""
    check.no_extra(body, PAYMENT_FIELDS)
    currency = check.currency(body)
    amount = check.amount(body, currency)
    order_id = check.text(body, "order_id", required=True)
    email, contact = check.email(body), check.contact(body)
    if body.get("method") != "card":
        raise check.refuse("The selected method is invalid.", "method")
    verdict, last4, network = _instrument(body)
    order = ctx.store.orders.get(order_id or "")
    if order is None:
        return error_reply(400, "The id provided does not exist", field="order_id")
    if order.status == "paid":
        return refused(ORDER_ALREADY_PAID)
    if amount != order.amount:
        raise check.refuse("The amount must be equal to the order amount.", "amount")
    if currency != order.currency:
        raise check.refuse("The currency must be the same as the order currency.", "currency")
    payment = _new_payment(ctx.store, order, body, email, contact, last4, network)
    if verdict.failure is not None:
        return fail(ctx.store, payment, verdict.failure)
    if verdict.needs_3ds:
        url = f"{ctx.base_url}/v1/payments/{payment.id.removeprefix('pay_')}/authenticate"
        return json_reply(
            200, {"razorpay_payment_id": payment.id, "next": [{"action": "redirect", "url": url}]}
        )
    authorize(ctx.store, payment)
    return json_reply(200, {"razorpay_payment_id": payment.id})


def _instrument(body: Mapping[str, object]) -> tuple[Verdict, str, str]:
    """(what the card does, its last four, its network) for a card or a saved-card token."""
    token = body.get("token")
    if token is None:
        if body.get("customer_id") is not None:
            raise check.refuse("customer_id is/are not required and should not be sent")
        number = check.card_number(body)
        return verdict_of(number), number[-4:], network_of(number)
    if "card" in body:
        raise check.refuse("card is/are not required and should not be sent", "card")
    if not isinstance(token, str) or not token.startswith("token_"):
        raise check.refuse("The token id provided is invalid.", "token")
    customer = body.get("customer_id")
    if not isinstance(customer, str) or not customer.startswith("cust_"):
        raise check.refuse(
            "The customer_id field is required when token is present.", "customer_id"
        )
    # A saved card stands for a card that authorized before: it succeeds.
    return Verdict(), "1111", "Visa"


def _new_payment(
    store: Store,
    order: Order,
    body: Mapping[str, object],
    email: str,
    contact: str,
    last4: str,
    network: str,
) -> Payment:
    description = check.text(body, "description", max_chars=255)
    payment = Payment(
        store.ids.make("pay_"),
        order.id,
        order.amount,
        order.currency,
        email,
        contact,
        description,
        check.notes(body),
        store.ids.make("card_"),
        last4,
        network,
        int(time.time()),
    )
    store.payments[payment.id] = payment
    order.payment_ids.append(payment.id)
    order.attempts += 1
    if order.status == "created":
        order.status = "attempted"
    return payment


def fail(store: Store, payment: Payment, failure: CardFailure) -> SimResponse:
    """Mark ``payment`` failed and answer with the card error Razorpay sends for it."""
    payment.status = "failed"
    payment.error = {
        "code": failure.code,
        "description": failure.description,
        "source": failure.source,
        "step": failure.step,
        "reason": failure.reason,
    }
    store.notify(events.PAYMENT_FAILED, payment)
    return error_reply(
        400,
        failure.description,
        code=failure.code,
        source=failure.source,
        step=failure.step,
        reason=failure.reason,
        metadata={"payment_id": payment.id, "order_id": payment.order_id},
    )


def authorize(store: Store, payment: Payment) -> None:
    """The bank approved: authorized, and captured at once if its order asks for that."""
    payment.status = "authorized"
    payment.authorized_at = time.monotonic()
    store.notify(events.PAYMENT_AUTHORIZED, payment)
    order = store.orders[payment.order_id]
    if order.auto_capture and order.status != "paid":
        _capture(store, payment, order)


def _capture(store: Store, payment: Payment, order: Order) -> None:
    payment.status = "captured"
    payment.captured = True
    payment.fee, payment.tax = fee_and_tax(payment.amount)
    order.amount_paid = payment.amount
    order.status = "paid"
    store.notify(events.PAYMENT_CAPTURED, payment)


def fetch(store: Store, payment_id: str) -> SimResponse:
    """``GET /v1/payments/{id}``."""
    payment = store.payment(payment_id)
    return unknown_id() if payment is None else json_reply(200, payment.entity())


def capture(store: Store, payment_id: str, body: Mapping[str, object]) -> SimResponse:
    """``POST /v1/payments/{id}/capture``: the full authorized amount, once."""
    payment = store.payment(payment_id)
    if payment is None:
        return unknown_id()
    check.no_extra(body, CAPTURE_FIELDS)
    amount = check.amount(body, payment.currency)
    currency = check.currency(body)
    if payment.captured:
        return refused("This payment has already been captured")
    if payment.status != "authorized":
        return refused(
            "Only payments which have been authorized and not yet captured can be captured"
        )
    if currency != payment.currency:
        raise check.refuse("The currency must be the same as the payment currency.", "currency")
    if amount != payment.amount:
        raise check.refuse("Capture amount must be equal to the amount authorized", "amount")
    order = store.orders[payment.order_id]
    if order.status == "paid":
        return refused(ORDER_ALREADY_PAID)
    _capture(store, payment, order)
    return json_reply(200, payment.entity())


def lapse(store: Store, payment_id: str) -> SimResponse:
    """Sandbox only: end an authorization's capture window now, as five days would."""
    payment = store.payment(payment_id)
    if payment is None:
        return unknown_id()
    if not store.expire(payment, force=True):
        return refused("Only an authorized payment that is not captured can lapse")
    return json_reply(200, payment.entity())
