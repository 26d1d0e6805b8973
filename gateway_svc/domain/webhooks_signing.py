"""Standard Webhooks signing (standardwebhooks.com): secrets, signatures, headers, rotation.

A delivery carries three headers:

- ``webhook-id``: the message id, the same on every retry (receivers deduplicate on it);
- ``webhook-timestamp``: integer Unix seconds of *this* attempt (receivers refuse one more
  than 5 minutes away, so each attempt is signed afresh);
- ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries, one per active
  secret, each over ``f"{id}.{timestamp}.".encode() + body``.

Secrets are ``whsec_`` plus the base64 of at least 24 random bytes (we make 32). During a
rotation the old secret keeps signing until its ``expires_at`` (an overlap, 24 h by default),
so a receiver still holding the old one keeps verifying while it switches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "MIN_SECRET_BYTES",
    "ROTATION_OVERLAP",
    "SECRET_BYTES",
    "SECRET_PREFIX",
    "EndpointSecret",
    "active_secrets",
    "headers",
    "new_secret",
    "rotate",
    "secret_key",
    "sign",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
MIN_SECRET_BYTES = 24
"""The Standard Webhooks minimum key length."""
SECRET_BYTES = 32
"""What ``new_secret``'s caller should draw (``secrets.token_bytes(SECRET_BYTES)``)."""
ROTATION_OVERLAP = timedelta(hours=24)
"""How long a rotated-out secret keeps signing beside its successor."""
SIGNATURE_VERSION = "v1"


def new_secret(rng_bytes: bytes) -> str:
    """A ``whsec_`` secret from ``rng_bytes`` (random bytes from a CSPRNG, drawn by the
    caller so this stays pure): at least MIN_SECRET_BYTES of them."""
    if len(rng_bytes) < MIN_SECRET_BYTES:
        raise ValueError(f"a secret needs at least {MIN_SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(rng_bytes).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret's body must be standard base64") from exc
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret holds at least {MIN_SECRET_BYTES} bytes")
    return key


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated.

    ``secrets`` are the endpoint's active ones (``active_secrets``); at least one.
    """
    if not secrets:
        raise ValueError("an endpoint signs with at least one active secret")
    # The id ends at the first "." of the signed content and travels in a header, so it
    # must be printable ASCII without "." or spaces (our evt_ ids always are).
    printable = msg_id.isascii() and msg_id.isprintable()
    if not msg_id or not printable or "." in msg_id or " " in msg_id:
        raise ValueError(f"a message id is printable ASCII without dots or spaces: {msg_id!r}")
    if timestamp < 0:
        raise ValueError(f"a timestamp is Unix seconds, not {timestamp}")
    return " ".join(_signature(secret_key(s), msg_id, timestamp, body) for s in secrets)


def headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The four headers of one delivery attempt (names lower-case, as HTTP/2 sends them)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg_id, timestamp, body, secrets),
        "content-type": "application/json",
    }


@dataclass(frozen=True, slots=True)
class EndpointSecret:
    """One of an endpoint's signing secrets: the current one (no expiry) or a rotated-out one
    that signs until ``expires_at``."""

    secret: str
    expires_at: datetime | None = None
    issued_at: datetime | None = None
    """When the secret was made (shown as the endpoint's secret_create_time); None for one
    stored before this was recorded."""

    def active(self, now: datetime) -> bool:
        """Whether it still signs at ``now`` (the expiry instant itself is already out)."""
        return self.expires_at is None or now < self.expires_at


def active_secrets(secrets: Sequence[EndpointSecret], now: datetime) -> tuple[str, ...]:
    """The secrets that sign a delivery at ``now``, in the stored order (newest first)."""
    return tuple(s.secret for s in secrets if s.active(now))


def rotate(
    secrets: Sequence[EndpointSecret],
    new_secret: str,
    now: datetime,
    overlap: timedelta = ROTATION_OVERLAP,
) -> tuple[EndpointSecret, ...]:
    """The endpoint's secrets after a rotation: ``new_secret`` first, with no expiry, then
    every secret still active, expiring at ``now + overlap`` at the latest (one that already
    expires sooner keeps its earlier expiry). Expired secrets are dropped.

    ``overlap`` may be zero: the old secrets stop signing at once (a leaked secret).
    """
    secret_key(new_secret)  # refuse a malformed secret before it is stored
    if overlap < timedelta(0):
        raise ValueError("a rotation overlap cannot be negative")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if any(s.secret == new_secret for s in secrets):
        raise ValueError("the new secret is already one of the endpoint's secrets")
    cutoff = now + overlap
    kept = tuple(
        EndpointSecret(
            s.secret, cutoff if s.expires_at is None else min(s.expires_at, cutoff), s.issued_at
        )
        for s in secrets
        if s.active(now)
    )
    return (EndpointSecret(new_secret, None, now), *(s for s in kept if s.active(now)))
