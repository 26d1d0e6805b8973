"""Razorpay's webhooks: the ``event`` envelope, signed with ``X-Razorpay-Signature``.

The signature is Razorpay's documented scheme: hex HMAC-SHA256 of the raw body under the
webhook secret (``razorpay_webhook_secret``, distinct from the API key secret), with no
timestamp; ``X-Razorpay-Event-Id`` is the dedupe id. Types: ``payment.authorized``,
``payment.captured``, ``payment.failed``, ``refund.processed`` and ``refund.failed``; the
payload holds the payment (and the refund) as the API renders them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sandbox.webhooks.events import Event
from sandbox.webhooks.wire import Signing, compact_json, mac, random_id

NAME = "razorpay"
TIMESTAMPED = False
ACCOUNT_ID = "acc_PaymeshSandbox1"

PAYMENT_AUTHORIZED = "payment.authorized"
PAYMENT_CAPTURED = "payment.captured"
PAYMENT_FAILED = "payment.failed"
REFUND_PROCESSED = "refund.processed"
REFUND_FAILED = "refund.failed"


def razorpay_event(
    kind: str, payment: Mapping[str, object], refund: Mapping[str, object] | None = None
) -> Event:
    """An event about ``payment`` (and ``refund``, for the refund types)."""
    payload: dict[str, object] = {"payment": {"entity": payment}}
    contains = ["payment"]
    if refund is not None:
        payload = {"refund": {"entity": refund}, **payload}
        contains = ["refund", "payment"]
    envelope = {
        "entity": "event",
        "account_id": ACCOUNT_ID,
        "event": kind,
        "contains": contains,
        "payload": payload,
        "created_at": int(time.time()),
    }
    about = str(payment.get("id") or "")
    return Event(NAME, random_id("evt_", 14), kind, compact_json(envelope), about)


def sign(event: Event, how: Signing) -> dict[str, str]:
    """``X-Razorpay-Signature`` and ``X-Razorpay-Event-Id`` (no timestamp in the scheme)."""
    key = how.config.razorpay_webhook_secret.encode()
    digest = mac(key, event.body, "sha256", corrupt=how.corrupt).hex()
    return {"x-razorpay-signature": digest, "x-razorpay-event-id": event.event_id}
