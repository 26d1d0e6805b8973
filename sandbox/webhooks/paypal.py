"""PayPal's webhooks and the sandbox's side of verify-webhook-signature.

PayPal signs with its own certificate (CRC32 of the body, SHA256withRSA); a receiver does not
check that itself but asks PayPal, ``POST /v1/notifications/verify-webhook-signature``. The
sandbox simulates the whole exchange with a key only it holds (derived from the PayPal client
secret, never sent)::

    transmission_sig = base64(HMAC-SHA256(key,
        "<transmission_id>|<transmission_time>|<webhook_id>|<crc32(canonical(event))>"))

where canonical is sorted-key compact JSON and crc32 ``zlib.crc32`` as a decimal number. The
body is sent in canonical form, so the bytes received are canonical too. ``verify`` answers
False when the webhook id is not the configured one, the time is more than 300 s away or the
signature does not match. Types: ``PAYMENT.AUTHORIZATION.CREATED|VOIDED``,
``PAYMENT.CAPTURE.COMPLETED|DENIED|REFUNDED``, the resource as Payments v2 renders it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime

from sandbox.config import SandboxConfig
from sandbox.webhooks.events import Event
from sandbox.webhooks.wire import Signing, canonical_json, iso_utc, mac, upper_id

NAME = "paypal"
TIMESTAMPED = True
AUTH_ALGO = "SHA256withRSA"
CERT_ID = "CERT-360caa42-fca2a594-paymesh"
CERT_PATH = "/v1/notifications/certs/"
TOLERANCE_S = 300

AUTHORIZATION_CREATED = "PAYMENT.AUTHORIZATION.CREATED"
AUTHORIZATION_VOIDED = "PAYMENT.AUTHORIZATION.VOIDED"
CAPTURE_COMPLETED = "PAYMENT.CAPTURE.COMPLETED"
CAPTURE_DENIED = "PAYMENT.CAPTURE.DENIED"
CAPTURE_REFUNDED = "PAYMENT.CAPTURE.REFUNDED"

_SUMMARIES = {
    AUTHORIZATION_CREATED: ("authorization", "A payment authorization was created"),
    AUTHORIZATION_VOIDED: ("authorization", "A payment authorization was voided"),
    CAPTURE_COMPLETED: ("capture", "Payment completed for {value} {currency_code}"),
    CAPTURE_DENIED: ("capture", "A {value} {currency_code} capture payment was denied"),
    CAPTURE_REFUNDED: ("refund", "A {value} {currency_code} capture payment was refunded"),
}


def _order_of(resource: Mapping[str, object]) -> str:
    """The order a capture or refund belongs to (its related ids), else the resource's id:
    an order's events share one lane."""
    supplementary = resource.get("supplementary_data")
    if isinstance(supplementary, Mapping):
        related = supplementary.get("related_ids")
        if isinstance(related, Mapping) and related.get("order_id"):
            return str(related["order_id"])
    return str(resource.get("id") or "")


def paypal_event(kind: str, resource: Mapping[str, object]) -> Event:
    """A webhook event of type ``kind`` about ``resource`` (as the API renders it)."""
    resource_type, summary = _SUMMARIES[kind]
    amount = resource.get("amount")
    if isinstance(amount, Mapping):
        summary = summary.format(**amount)
    event_id = f"WH-{upper_id(17)}-{upper_id(17)}"
    envelope = {
        "id": event_id,
        "event_version": "1.0",
        "create_time": iso_utc(),
        "resource_type": resource_type,
        "resource_version": "2.0",
        "event_type": kind,
        "summary": summary,
        "resource": resource,
    }
    return Event(NAME, event_id, kind, canonical_json(envelope), _order_of(resource))


def transmission_key(config: SandboxConfig) -> bytes:
    """The sandbox's signing key (see the module docstring)."""
    return hashlib.sha256(
        b"paymesh-sandbox/paypal-transmission:" + config.paypal_client_secret.encode()
    ).digest()


def transmission_sig(
    config: SandboxConfig,
    transmission_id: str,
    time: str,
    webhook_id: str,
    crc: int,
    *,
    corrupt: bool = False,
) -> str:
    """``PAYPAL-TRANSMISSION-SIG`` for these fields."""
    message = f"{transmission_id}|{time}|{webhook_id}|{crc}".encode()
    return base64.b64encode(
        mac(transmission_key(config), message, "sha256", corrupt=corrupt)
    ).decode()


def cert_url(config: SandboxConfig) -> str:
    """``PAYPAL-CERT-URL``: where the (simulated) signing certificate is served."""
    return f"{config.provider_url(NAME)}{CERT_PATH}{CERT_ID}"


def sign(event: Event, how: Signing) -> dict[str, str]:
    """The five ``PAYPAL-*`` headers for one attempt (a new transmission each time)."""
    transmission_id = str(uuid.uuid4())
    time = iso_utc(datetime.fromtimestamp(how.unix_s, UTC))
    webhook_id = how.config.paypal_webhook_id
    crc = zlib.crc32(event.body)
    return {
        "paypal-transmission-id": transmission_id,
        "paypal-transmission-time": time,
        "paypal-transmission-sig": transmission_sig(
            how.config, transmission_id, time, webhook_id, crc, corrupt=how.corrupt
        ),
        "paypal-cert-url": cert_url(how.config),
        "paypal-auth-algo": AUTH_ALGO,
    }


def verify(
    config: SandboxConfig,
    transmission_id: str,
    transmission_time: str,
    transmission_sig_b64: str,
    webhook_id: str,
    webhook_event: object,
    now_unix_s: float,
) -> bool:
    """PayPal's verdict on one delivery as its receiver reports it back (module docstring)."""
    if not hmac.compare_digest(webhook_id.encode(), config.paypal_webhook_id.encode()):
        return False
    try:
        sent = datetime.fromisoformat(transmission_time)
    except ValueError:
        return False
    if sent.tzinfo is None or abs(now_unix_s - sent.timestamp()) > TOLERANCE_S:
        return False
    crc = zlib.crc32(canonical_json(webhook_event))
    expected = transmission_sig(config, transmission_id, transmission_time, webhook_id, crc)
    return hmac.compare_digest(expected.encode(), transmission_sig_b64.encode())
