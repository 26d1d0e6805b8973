"""Stripe's callbacks: Event objects, signed with ``Stripe-Signature: t=...,v1=...``.

The signature is Stripe's documented scheme: hex HMAC-SHA256 of ``"<t>." + raw body`` under the
endpoint's signing secret (``stripe_webhook_secret``); receivers allow 300 s of clock skew.
Types sent, each with the object as the API renders it::

    payment_intent.amount_capturable_updated  manual capture: authorized, awaiting capture
    payment_intent.succeeded                  captured (automatic capture included)
    payment_intent.payment_failed             declined, or 3-D Secure failed
    payment_intent.canceled                   canceled (an authorization released)
    charge.refunded                           a refund succeeded (data.object: the Charge)
    refund.updated, refund.failed             a refund failed after succeeding (the Refund)
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sandbox.webhooks.events import Event
from sandbox.webhooks.wire import Signing, compact_json, random_id, timestamped

NAME = "stripe"
API_VERSION = "2024-06-20"
TIMESTAMPED = True

AMOUNT_CAPTURABLE_UPDATED = "payment_intent.amount_capturable_updated"
SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.payment_failed"
CANCELED = "payment_intent.canceled"
CHARGE_REFUNDED = "charge.refunded"
REFUND_UPDATED = "refund.updated"
REFUND_FAILED = "refund.failed"


def stripe_event(kind: str, obj: Mapping[str, object]) -> Event:
    """An Event of type ``kind`` whose ``data.object`` is ``obj`` (already rendered)."""
    event_id = random_id("evt_", 24)
    envelope = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }
    # A charge or refund belongs to its PaymentIntent: all of a payment's events in one lane.
    about = str(obj.get("payment_intent") or obj.get("id") or "")
    return Event(NAME, event_id, kind, compact_json(envelope), about)


def sign(event: Event, how: Signing) -> dict[str, str]:
    """The ``Stripe-Signature`` header for one attempt."""
    return {"stripe-signature": timestamped(how.config.stripe_webhook_secret, event.body, how)}
