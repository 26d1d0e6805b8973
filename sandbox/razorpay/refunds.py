"""Razorpay refunds: create (idempotent by header), fetch, and a payment's refunds.

``POST /v1/payments/{id}/refund {amount?, speed?, notes?, receipt?}`` refunds part or all of
a captured payment; several partial refunds may follow each other up to the captured
amount. An uncaptured payment is refused ("The payment status should be captured for action
to be taken"), so a refund cannot stand in for a void.

Idempotency is Razorpay's ``X-Refund-Idempotency`` header (its refunds docs): a key of at
least 10 characters from ``[A-Za-z0-9_-]``; the same key with the same path and body gets the
first reply again, byte for byte and errors included; the same key with a different request
gets a 409. Razorpay also answers 409 while the first request is still running; here each
request completes before the next is read (one asyncio thread, no awaits inside), so a
duplicate can only ever see the finished first one.

A refund is ``processed`` at once and emits ``refund.processed``. The sandbox-only
``POST /_sandbox/refunds/{id}/fail`` turns a processed refund of a captured payment into a
``failed`` one (the amount refundable again, the payment ``captured`` again) and emits
``refund.failed``: Razorpay's test mode has no card whose refunds fail.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from sandbox.core import SimResponse
from sandbox.razorpay import validation as check
from sandbox.razorpay.replies import error_reply, json_reply, refused, unknown_id
from sandbox.razorpay.store import IdempotencyRecord, Refund, Store
from sandbox.webhooks import razorpay as events

REFUND_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})
IDEMPOTENCY_HEADER = "x-refund-idempotency"
_KEY_CHARS = re.compile(r"[A-Za-z0-9_-]+")
MIN_KEY_CHARS = 10


def create_idempotent(
    store: Store, payment_id: str, path: str, body: Mapping[str, object], key: str | None
) -> SimResponse:
    """``POST /v1/payments/{id}/refund``, replaying or refusing a reused idempotency key."""
    if key is None:
        return create(store, payment_id, body)
    if len(key) < MIN_KEY_CHARS:
        raise check.refuse("The idempotency key must be at least 10 characters long.")
    if not _KEY_CHARS.fullmatch(key):
        raise check.refuse(
            "The idempotency key must only contain alphanumeric characters, underscores,"
            " and hyphens"
        )
    fingerprint = (path, dict(body))
    record = store.refund_keys.get(key)
    if record is not None:
        if record.fingerprint == fingerprint:
            return record.reply
        return error_reply(
            409, "Different request with the same idempotency key has already been processed."
        )
    try:
        reply = create(store, payment_id, body)
    except check.Refusal as refusal:
        reply = refusal.reply
    store.refund_keys[key] = IdempotencyRecord(fingerprint, reply)
    return reply


def create(store: Store, payment_id: str, body: Mapping[str, object]) -> SimResponse:
    """One refund of a captured payment, at most what is left of it."""
    payment = store.payment(payment_id)
    if payment is None:
        return unknown_id()
    check.no_extra(body, REFUND_FIELDS)
    if not payment.captured:
        return refused("The payment status should be captured for action to be taken")
    left = payment.amount - payment.amount_refunded
    if left <= 0:
        return refused("The payment has been fully refunded already")
    amount = check.amount(body, payment.currency, required=False)
    amount = left if amount is None else amount
    if amount > left:
        raise check.refuse("The refund amount provided is greater than amount captured", "amount")
    if body.get("speed", "normal") not in ("normal", "optimum"):
        raise check.refuse("The selected speed is invalid.", "speed")
    refund = Refund(
        store.ids.make("rfnd_"),
        payment.id,
        amount,
        payment.currency,
        check.notes(body),
        check.text(body, "receipt", max_chars=40),
        int(time.time()),
    )
    store.refunds[refund.id] = refund
    payment.refund_ids.append(refund.id)
    payment.amount_refunded += amount
    if payment.amount_refunded == payment.amount:
        payment.status = "refunded"
    store.notify(events.REFUND_PROCESSED, payment, refund)
    return json_reply(200, refund.entity())


def fail(store: Store, refund_id: str) -> SimResponse:
    """Sandbox only: a processed refund of a captured payment fails (module docstring)."""
    refund = store.refunds.get(refund_id)
    if refund is None:
        return unknown_id()
    payment = store.payments[refund.payment_id]
    if refund.status != "processed" or not payment.captured:
        return refused("Only a processed refund of a captured payment can fail")
    refund.status = "failed"
    payment.amount_refunded -= refund.amount
    payment.status = "captured"
    store.notify(events.REFUND_FAILED, payment, refund)
    return json_reply(200, refund.entity())


def fetch(store: Store, refund_id: str) -> SimResponse:
    """``GET /v1/refunds/{id}``."""
    refund = store.refunds.get(refund_id)
    return unknown_id() if refund is None else json_reply(200, refund.entity())


def of_payment(store: Store, payment_id: str) -> SimResponse:
    """``GET /v1/payments/{id}/refunds``: newest first."""
    payment = store.payment(payment_id)
    if payment is None:
        return unknown_id()
    items = [store.refunds[r].entity() for r in reversed(payment.refund_ids)]
    return json_reply(200, {"entity": "collection", "count": len(items), "items": items})
