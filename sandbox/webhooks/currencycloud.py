"""Currencycloud's push notifications, with the signature scheme the sandbox defines.

Currencycloud documents push notifications (a ``header`` naming the message and notification
types, a ``body`` holding the object) but no signature a receiver could check, so the sandbox
defines one, the same construction as Stripe's on purpose (well known, replay-bounded)::

    X-CC-Notification-Id: <uuid>                    the dedupe id (also header.notification_id)
    X-CC-Signature: t=<unix>,v1=<hex HMAC-SHA256(currencycloud_webhook_secret, "<t>." + body)>

Receivers allow 300 s of skew and compare in constant time. Types: ``conversion_completed``
(a conversion settled), ``payment_completed`` and ``payment_failed`` (a payout's outcome);
the body is the conversion or payment exactly as ``GET /v2/conversions|payments/{id}`` shows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sandbox.webhooks.events import Event
from sandbox.webhooks.wire import Signing, compact_json, timestamped

NAME = "currencycloud"
TIMESTAMPED = True

CONVERSION_COMPLETED = "conversion_completed"
PAYMENT_COMPLETED = "payment_completed"
PAYMENT_FAILED = "payment_failed"


def cc_event(message_type: str, kind: str, obj: Mapping[str, object]) -> Event:
    """A notification about a ``conversion`` or ``payment`` (``message_type``)."""
    notification_id = str(uuid.uuid4())
    header = {
        "message_type": message_type,
        "notification_type": kind,
        "notification_id": notification_id,
    }
    body = compact_json({"header": header, "body": obj})
    return Event(NAME, notification_id, kind, body, str(obj.get("id") or ""))


def sign(event: Event, how: Signing) -> dict[str, str]:
    """``X-CC-Notification-Id`` and ``X-CC-Signature`` for one attempt."""
    signature = timestamped(how.config.currencycloud_webhook_secret, event.body, how)
    return {"x-cc-notification-id": event.event_id, "x-cc-signature": signature}
