"""The mock bank page a 3DS payment redirects to, and what pressing its buttons does.

Razorpay's test mode shows a bank page with "Success" and "Failure" buttons; the simulator
serves one at ``/v1/payments/<id>/authenticate`` (the id with or without ``pay_``, since the
URL Razorpay hands out drops the prefix). It is the payer's browser that calls it, so it
takes no API credentials.

- ``GET`` answers the page (HTML with the two buttons).
- ``POST`` with ``outcome=success`` or ``outcome=failure`` (form or JSON) completes the
  authentication. Success authorizes the payment (capturing it if its order auto-captures)
  and answers what Razorpay posts to the merchant's callback: ``razorpay_payment_id``,
  ``razorpay_order_id`` and ``razorpay_signature`` = hex HMAC-SHA256 of
  ``order_id|payment_id`` with the key secret. Failure fails it with
  ``authentication_failed`` and answers the error, as the failure callback carries it.
"""

from __future__ import annotations

import hashlib
import hmac
import html

from sandbox.core import SimRequest, SimResponse
from sandbox.razorpay import validation as check
from sandbox.razorpay.cards import AUTHENTICATION_FAILED
from sandbox.razorpay.payments import Context, authorize, fail
from sandbox.razorpay.replies import json_reply, refused, unknown_id

_PAGE = """<!doctype html>
<html><head><title>Razorpay test bank</title></head><body>
<h1>Test bank: authenticate payment {payment_id}</h1>
<p>Amount: {amount} {currency}</p>
<form method="post"><input type="hidden" name="outcome" value="success">
<button type="submit">Success</button></form>
<form method="post"><input type="hidden" name="outcome" value="failure">
<button type="submit">Failure</button></form>
</body></html>
"""


def signature(key_secret: str, order_id: str, payment_id: str) -> str:
    """Razorpay's payment signature: hex HMAC-SHA256(key_secret, ``order_id|payment_id``)."""
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(key_secret.encode(), message, hashlib.sha256).hexdigest()


def authenticate(ctx: Context, short_id: str, request: SimRequest) -> SimResponse:
    """``GET`` the page or ``POST`` an outcome for payment ``short_id``."""
    payment_id = short_id if short_id.startswith("pay_") else f"pay_{short_id}"
    payment = ctx.store.payment(payment_id)
    if payment is None:
        return unknown_id()
    if request.method == "GET":
        page = _PAGE.format(
            payment_id=html.escape(payment.id), amount=payment.amount, currency=payment.currency
        )
        return SimResponse(200, page.encode(), {"content-type": "text/html; charset=UTF-8"})
    if request.method != "POST":
        return refused("The requested URL was not found on the server.")
    outcome = _outcome(request)
    if payment.status != "created":
        return refused("This payment has already been processed")
    if outcome == "failure":
        return fail(ctx.store, payment, AUTHENTICATION_FAILED)
    authorize(ctx.store, payment)
    return json_reply(
        200,
        {
            "razorpay_payment_id": payment.id,
            "razorpay_order_id": payment.order_id,
            "razorpay_signature": signature(ctx.key_secret, payment.order_id, payment.id),
        },
    )


def _outcome(request: SimRequest) -> str:
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        value = check.json_object(request).get("outcome")
    else:
        try:
            value = request.form().get("outcome")
        except UnicodeDecodeError:
            value = None
    if value not in ("success", "failure"):
        raise check.refuse("The outcome must be success or failure.", "outcome")
    return str(value)
