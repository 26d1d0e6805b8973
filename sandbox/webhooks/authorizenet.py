"""Authorize.net's webhooks: notifications signed with ``X-ANET-Signature: sha512=<HEX>``.

The signature is Authorize.net's documented scheme: upper-case hex HMAC-SHA512 of the raw body
under the merchant's Signature Key (``authorizenet_signature_key``, its UTF-8 string as the key,
as the gateway's receiver expects). No timestamp: receivers dedupe by ``notificationId``.
Types, sent for approved transactions only::

    net.authorize.payment.authorization.created   authOnlyTransaction
    net.authorize.payment.authcapture.created     authCaptureTransaction
    net.authorize.payment.capture.created         priorAuthCaptureTransaction
    net.authorize.payment.void.created            voidTransaction
    net.authorize.payment.refund.created          refundTransaction

``merchantReferenceId`` is the transaction's invoice number (a capture or void carries the
authorization's), the value the gateway puts in both ``refId`` and ``order.invoiceNumber``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Protocol

from sandbox.webhooks.events import Event
from sandbox.webhooks.wire import Signing, compact_json, iso_utc, mac
from svc_kit.currencies import exponent

NAME = "authorizenet"
TIMESTAMPED = False
WEBHOOK_ID = "5c3e4f4e-7b0a-4c1f-9d3e-2a6b8f0d1c2e"
"""The id of the merchant's one webhook subscription (fixed: the sandbox has one)."""

AUTHORIZATION_CREATED = "net.authorize.payment.authorization.created"
AUTHCAPTURE_CREATED = "net.authorize.payment.authcapture.created"
CAPTURE_CREATED = "net.authorize.payment.capture.created"
VOID_CREATED = "net.authorize.payment.void.created"
REFUND_CREATED = "net.authorize.payment.refund.created"


class Transaction(Protocol):
    """What a notification reads from the simulator's transaction record."""

    trans_id: str
    response_code: int
    auth_code: str
    currency: str
    invoice_number: str


def anet_event(kind: str, trans: Transaction, amount_minor: int) -> Event:
    """A notification about ``trans`` for ``amount_minor`` of its currency."""
    notification_id = str(uuid.uuid4())
    # Authorize.net sends authAmount as a JSON number in major units; the float's shortest
    # repr of a two-decimal amount prints exactly those decimals (12.34, not 12.339999...).
    amount = float(Decimal(amount_minor).scaleb(-exponent(trans.currency)))
    envelope = {
        "notificationId": notification_id,
        "eventType": kind,
        "eventDate": iso_utc(millis=True),
        "webhookId": WEBHOOK_ID,
        "payload": {
            "responseCode": trans.response_code,
            "authCode": trans.auth_code,
            "avsResponse": "Y",
            "authAmount": amount,
            "entityName": "transaction",
            "id": trans.trans_id,
            "merchantReferenceId": trans.invoice_number,
        },
    }
    return Event(NAME, notification_id, kind, compact_json(envelope), trans.trans_id)


def sign(event: Event, how: Signing) -> dict[str, str]:
    """``X-ANET-Signature: sha512=<upper-case hex>``."""
    key = how.config.authorizenet_signature_key.encode()
    digest = mac(key, event.body, "sha512", corrupt=how.corrupt).hex().upper()
    return {"x-anet-signature": f"sha512={digest}"}
