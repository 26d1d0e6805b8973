"""Is a provider callback genuine? Each provider's signature scheme over the exact raw bytes.

The schemes (webhook_wire.md, each provider's documentation):

=============  ==========================  ===========================================  ======
provider       header                      signature                                    clock
=============  ==========================  ===========================================  ======
Stripe         Stripe-Signature            ``t=<unix>,v1=<hex>[,v1=...]``: hex           300 s
                                           HMAC-SHA256(secret, ``"<t>." + body``); any
                                           one ``v1`` matching is enough (Stripe sends
                                           two while a secret is being rolled)
Currencycloud  X-CC-Signature              the same construction as Stripe's, on purpose 300 s
Authorize.net  X-ANET-Signature            ``sha512=<HEX>``: HMAC-SHA512(signature key,  none
                                           body), compared upper-cased
Razorpay       X-Razorpay-Signature        hex HMAC-SHA256(webhook secret, body)         none
PayPal         PAYPAL-TRANSMISSION-*       verified by PayPal's own API                  PayPal
=============  ==========================  ===========================================  ======

Every comparison is ``hmac.compare_digest`` over bytes (a ``str`` argument would raise
TypeError on non-ASCII input instead of refusing it), and every ``v1`` candidate is compared,
so the time taken says nothing about which byte differed. The timestamp is checked after the
signature, as Stripe's libraries do: only a genuine signature learns that its time is off, and
a signed time cannot be moved without breaking the signature. Without a timestamp in the
scheme (Authorize.net, Razorpay), replays are stopped by deduplicating the event id instead.

Failures raise ``WebhookSignatureInvalid`` (or its ``...Missing`` / ``...OutOfTolerance``
branches) whose message names the header and never a secret or an expected signature.
Headers arrive as a mapping with lower-case keys (gRPC metadata).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .errors import WebhookSignatureInvalid, WebhookSignatureMissing, WebhookTimestampOutOfTolerance
from .provider_webhooks import WebhookProvider

TOLERANCE_S = 300
"""How far a signed timestamp may be from now, either way (Stripe's default tolerance)."""

STRIPE_HEADER = "stripe-signature"
CURRENCYCLOUD_HEADER = "x-cc-signature"
AUTHORIZENET_HEADER = "x-anet-signature"
RAZORPAY_HEADER = "x-razorpay-signature"
PAYPAL_HEADERS = (
    "paypal-transmission-id",
    "paypal-transmission-time",
    "paypal-transmission-sig",
    "paypal-cert-url",
    "paypal-auth-algo",
)
_ANET_PREFIX = "sha512="

Headers = Mapping[str, str]
Verifier = Callable[[str, Headers, bytes, datetime], None]
"""``(secret, headers, raw body, now)``; returns when genuine, raises otherwise."""


def verify_stripe(secret: str, headers: Headers, body: bytes, now: datetime) -> None:
    """Verify ``Stripe-Signature`` (t/v1, HMAC-SHA256, 300 s tolerance)."""
    _verify_timestamped(WebhookProvider.STRIPE, STRIPE_HEADER, secret, headers, body, now)


def verify_currencycloud(secret: str, headers: Headers, body: bytes, now: datetime) -> None:
    """Verify ``X-CC-Signature`` (the sandbox's scheme: Stripe's construction, 300 s)."""
    _verify_timestamped(
        WebhookProvider.CURRENCYCLOUD, CURRENCYCLOUD_HEADER, secret, headers, body, now
    )


def verify_authorizenet(signature_key: str, headers: Headers, body: bytes, now: datetime) -> None:
    """Verify ``X-ANET-Signature: sha512=<HEX>`` (HMAC-SHA512 with the Signature Key).

    ``now`` is unused: the scheme has no timestamp (it is taken so every verifier has one
    signature, ``Verifier``).
    """
    provider, name = WebhookProvider.AUTHORIZENET, AUTHORIZENET_HEADER
    header = _required(provider, headers, name)
    if header[: len(_ANET_PREFIX)].lower() != _ANET_PREFIX:
        raise _malformed(provider, name, f"it does not start with {_ANET_PREFIX!r}")
    given = header[len(_ANET_PREFIX) :].strip()
    expected = hmac.new(signature_key.encode(), body, hashlib.sha512).hexdigest()
    # Authorize.net sends upper-case hex; case is not part of the signature.
    if not _any_equal(expected.upper(), [given.upper()]):
        raise _mismatch(provider, name)


def verify_razorpay(secret: str, headers: Headers, body: bytes, now: datetime) -> None:
    """Verify ``X-Razorpay-Signature`` (hex HMAC-SHA256 with the webhook secret).

    ``now`` is unused: the scheme has no timestamp (see ``verify_authorizenet``).
    """
    provider, name = WebhookProvider.RAZORPAY, RAZORPAY_HEADER
    given = _required(provider, headers, name).strip()
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not _any_equal(expected, [given]):
        raise _mismatch(provider, name)


VERIFIERS: Mapping[WebhookProvider, Verifier] = {
    WebhookProvider.STRIPE: verify_stripe,
    WebhookProvider.AUTHORIZENET: verify_authorizenet,
    WebhookProvider.RAZORPAY: verify_razorpay,
    WebhookProvider.CURRENCYCLOUD: verify_currencycloud,
}
"""The providers verified here, by a shared secret; PayPal is verified by calling PayPal."""


@dataclass(frozen=True, slots=True)
class PayPalTransmission:
    """The PAYPAL-* headers of one callback: what PayPal's verification call needs."""

    transmission_id: str
    transmission_time: str
    transmission_sig: str
    cert_url: str
    auth_algo: str


def paypal_transmission(headers: Headers) -> PayPalTransmission:
    """The callback's PayPal transmission headers; ``WebhookSignatureMissing`` if one is
    absent (PayPal's verification would refuse the call: nothing to ask it)."""
    values = [_required(WebhookProvider.PAYPAL, headers, name).strip() for name in PAYPAL_HEADERS]
    return PayPalTransmission(*values)


def _verify_timestamped(
    provider: WebhookProvider, name: str, secret: str, headers: Headers, body: bytes, now: datetime
) -> None:
    assert now.tzinfo is not None, "now must be an aware datetime"
    header = _required(provider, headers, name)
    timestamp, candidates = _timestamp_and_signatures(provider, name, header)
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not _any_equal(expected, candidates):
        raise _mismatch(provider, name)
    skew_s = now.timestamp() - timestamp
    if abs(skew_s) > TOLERANCE_S:
        raise WebhookTimestampOutOfTolerance(
            f"the {name} timestamp is {abs(skew_s):.0f} s in the "
            f"{'past' if skew_s > 0 else 'future'}; at most {TOLERANCE_S} s is accepted",
            metadata={"provider": provider.value, "header": name},
        )


def _timestamp_and_signatures(
    provider: WebhookProvider, name: str, header: str
) -> tuple[int, list[str]]:
    """``t`` and every ``v1`` of a ``t=...,v1=...`` header; other schemes (``v0``) ignored."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise _malformed(provider, name, "an entry is not key=value")
        if key == "t" and timestamp is None:
            if not (value.isascii() and value.isdigit()):
                raise _malformed(provider, name, "t is not a unix time")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise _malformed(provider, name, "it has no t=")
    if not candidates:
        raise _malformed(provider, name, "it has no v1= signature")
    return timestamp, candidates


def _any_equal(expected: str, candidates: Sequence[str]) -> bool:
    """Constant-time: every candidate is compared, as bytes, whatever matched before."""
    wanted = expected.encode("ascii")
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(wanted, candidate.encode("utf-8", "surrogatepass"))
    return matched


def _required(provider: WebhookProvider, headers: Headers, name: str) -> str:
    value = headers.get(name, "")
    if not value.strip():
        raise WebhookSignatureMissing(
            f"the {provider.value} callback has no {name} header",
            metadata={"provider": provider.value, "header": name},
        )
    return value


def _malformed(provider: WebhookProvider, name: str, why: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(
        f"the {name} header is malformed: {why}",
        metadata={"provider": provider.value, "header": name},
    )


def _mismatch(provider: WebhookProvider, name: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(
        f"no signature in the {name} header matches the body",
        metadata={"provider": provider.value, "header": name},
    )
