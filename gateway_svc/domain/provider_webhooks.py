"""Provider callbacks in the gateway's terms: who sent one, and what it says happened.

A provider's callback goes through three steps, in three modules, all pure:

1. ``provider_signatures``: is it genuine? Each provider's scheme over the exact raw bytes
   (webhook_wire.md), or ``WebhookSignatureInvalid``; PayPal's is a call to PayPal, made by
   ``adapters.providers.paypal_webhooks``.
2. ``provider_event_parsing``: what does it say? The body becomes one ``ProviderEvent``, or
   ``WebhookPayloadInvalid`` naming the bad field.
3. The service layer applies the event (not here).

A ``ProviderEvent`` names the payment, refund, conversion or payout by the same provider
reference the adapters store (``ProviderCharge.provider_ref``, ``ProviderRefund.provider_ref``,
``ConversionView.provider_ref``, ``PayoutView.provider_ref``): a Stripe ``pi_...``, an
Authorize.net transId, a Razorpay ``pay_...``, a PayPal order id, a Currencycloud uuid. Amounts
are integer minor units with the ISO 4217 exponent (``svc_kit.currencies``). Where the provider's
object carries running totals (captured or refunded so far) they are kept beside the event's
own amount, so applying events need not depend on the order they arrive in.

This module holds the types and the field reader both parsing and verifying use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from svc_kit.currencies import is_currency
from svc_kit.faults import FieldViolation

from .errors import WebhookPayloadInvalid, WebhookProviderNotFound
from .fx import minor_from_decimal

MAX_EVENT_ID_LEN = 200
"""Longer event ids are refused: they become a dedupe key in the database
(``provider_webhook_events.provider_event_id``, 200 characters)."""


class WebhookProvider(StrEnum):
    """The providers that call back (values are the route's ``{provider}`` segment)."""

    STRIPE = "stripe"
    AUTHORIZENET = "authorizenet"
    RAZORPAY = "razorpay"
    PAYPAL = "paypal"
    CURRENCYCLOUD = "currencycloud"


def webhook_provider(name: str) -> WebhookProvider:
    """The provider a route segment names; ``WebhookProviderNotFound`` for any other."""
    try:
        return WebhookProvider(name)
    except ValueError:
        raise WebhookProviderNotFound(
            f"no provider {name[:40]!r} sends callbacks to this gateway",
            metadata={"provider": name[:40]},
        ) from None


class EventKind(StrEnum):
    """What a callback reports, normalized; ``IGNORED`` is a type the gateway does not act on
    (it is still deduplicated and recorded)."""

    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"
    CONVERSION_COMPLETED = "conversion_completed"
    PAYOUT_COMPLETED = "payout_completed"
    PAYOUT_FAILED = "payout_failed"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One provider callback, normalized (see the module docstring)."""

    provider: WebhookProvider
    event_id: str
    """The provider's id of this notification: the dedupe key (Stripe ``evt_...``,
    Authorize.net notificationId, Razorpay's X-Razorpay-Event-Id, PayPal ``WH-...``,
    Currencycloud's notification_id)."""
    kind: EventKind
    raw_type: str
    """The provider's own event type, kept for audit."""
    object_reference: str
    """The payment's, conversion's or payout's provider reference; empty when the provider
    does not say (an Authorize.net refund names only the refund transaction)."""
    occurred_at: datetime
    """When the provider says it happened (UTC)."""
    amount_minor: int | None = None
    """This event's own amount (the authorization, capture, refund, conversion's buy side or
    payout) in minor units of ``currency``; None when the provider gives no amount or no
    currency (Authorize.net: see ``amount_decimal``)."""
    currency: str = ""
    refund_reference: str = ""
    """For refund events: the refund's provider reference (``re_...``, ``rfnd_...``, a
    transId, a PayPal refund id); empty when the provider does not say."""
    amount_decimal: str = ""
    """Authorize.net only: its callbacks carry an amount without a currency, so the amount is
    kept as the provider wrote it and read with ``amount_in`` once the payment is known."""
    authorized_minor: int | None = None
    """The provider's running totals, where its object carries them: held now ..."""
    captured_minor: int | None = None
    """... captured so far ..."""
    refunded_minor: int | None = None
    """... and refunded so far (after this event)."""
    sell_amount_minor: int | None = None
    """Conversions only: what was sold, in ``sell_currency`` (``amount_minor`` is bought)."""
    sell_currency: str = ""
    request_reference: str = ""
    """The reference the gateway sent with the request that made the object, echoed back
    (Stripe ``metadata.paymesh_attempt_id``, Authorize.net merchantReferenceId, Razorpay
    ``notes.paymesh_attempt_id``, PayPal ``custom_id``, Currencycloud ``unique_request_id``):
    finds an object whose provider reference was never stored (an UNKNOWN attempt)."""
    failure_reason: str = ""
    """The provider's own words or code for a failure, when it gives them."""
    refs: dict[str, str] = field(default_factory=dict)
    """Other provider ids that came with it (PayPal ``capture_id`` and ``authorization_id``,
    Razorpay ``order_id``, Stripe ``charge`` ...)."""

    def amount_in(self, currency: str) -> int:
        """This event's amount in minor units of ``currency`` (the payment's own currency).

        Raises ``WebhookPayloadInvalid`` when the event has no amount, names another currency,
        or (Authorize.net) has more decimals than ``currency`` allows.
        """
        if self.amount_minor is not None:
            if self.currency and self.currency != currency:
                raise payload_invalid(
                    self.provider, "currency", f"the event is in {self.currency}, not {currency}"
                )
            return self.amount_minor
        if not self.amount_decimal:
            raise payload_invalid(self.provider, "amount", "the event carries no amount")
        try:
            return minor_from_decimal(self.amount_decimal, currency)
        except ValueError as exc:
            raise payload_invalid(self.provider, "amount", str(exc)) from None


def payload_invalid(
    provider: WebhookProvider, path: str, description: str
) -> WebhookPayloadInvalid:
    """The error for one bad field of a callback body (``path`` as a JSON path)."""
    return WebhookPayloadInvalid(
        f"the {provider.value} callback's {path or 'body'} is invalid: {description}",
        metadata={"provider": provider.value},
        violations=[FieldViolation(path or "body", description)],
    )


class Fields:
    """One JSON object of a callback body, read field by field.

    A field that is missing or of the wrong type raises ``WebhookPayloadInvalid`` naming its
    path (``data.object.amount``); ``bool`` is never taken for an integer.
    """

    __slots__ = ("_data", "_path", "provider")

    def __init__(self, provider: WebhookProvider, data: Mapping[str, Any], path: str = "") -> None:
        self.provider = provider
        self._data = data
        self._path = path

    @classmethod
    def load(cls, provider: WebhookProvider, body: bytes) -> Fields:
        """The body's top-level object (UTF-8 JSON; decimals as ``Decimal``, never float)."""
        try:
            data = json.loads(body.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            raise payload_invalid(provider, "body", "not UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise payload_invalid(provider, "body", "not a JSON object")
        return cls(provider, data)

    def path(self, key: str) -> str:
        """The JSON path of ``key`` in this object."""
        return f"{self._path}.{key}" if self._path else key

    def invalid(self, key: str, description: str) -> WebhookPayloadInvalid:
        """The error for this object's field ``key``."""
        return payload_invalid(self.provider, self.path(key), description)

    def has(self, key: str) -> bool:
        """True when ``key`` is present and not null."""
        return self._data.get(key) is not None

    def obj(self, key: str) -> Fields:
        """A nested object (required)."""
        value = self._data.get(key)
        if not isinstance(value, dict):
            raise self.invalid(key, "must be an object")
        return Fields(self.provider, value, self.path(key))

    def text(self, key: str) -> str:
        """A non-empty string (required)."""
        value = self._data.get(key)
        if not isinstance(value, str) or not value:
            raise self.invalid(key, "must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str:
        """A string, or "" when absent or null; any other type is refused."""
        value = self._data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.invalid(key, "must be a string")
        return value

    def integer(self, key: str) -> int:
        """A non-negative JSON integer (required)."""
        value = self._data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.invalid(key, "must be a non-negative integer")
        return value

    def optional_integer(self, key: str) -> int | None:
        """A non-negative integer, or None when absent or null."""
        return self.integer(key) if self.has(key) else None

    def raw(self, key: str) -> object:
        """The value as parsed, unchecked (for fields with more than one valid shape)."""
        return self._data.get(key)

    def event_id(self, key: str) -> str:
        """A dedupe id: non-empty printable ASCII, at most MAX_EVENT_ID_LEN characters."""
        return checked_event_id(self.provider, self.text(key), self.path(key))

    def currency(self, key: str) -> str:
        """An ISO 4217 code (providers write some in lower case: Stripe)."""
        code = self.text(key).upper()
        if not is_currency(code):
            raise self.invalid(key, "must be an ISO 4217 currency code")
        return code

    def decimal_minor(self, key: str, currency: str) -> int:
        """A decimal amount string in major units as minor units of ``currency``, exactly."""
        try:
            return minor_from_decimal(self.text(key), currency)
        except ValueError as exc:
            raise self.invalid(key, str(exc)) from None

    def unix_time(self, key: str) -> datetime:
        """Unix seconds as an aware UTC datetime."""
        seconds = self.integer(key)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise self.invalid(key, "must be a unix time in seconds") from None

    def iso_time(self, key: str) -> datetime:
        """An ISO 8601 time as an aware UTC datetime (a time without an offset is UTC)."""
        text = self.text(key)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.invalid(key, "must be an ISO 8601 time") from None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def checked_event_id(provider: WebhookProvider, value: str, path: str) -> str:
    """``value`` when it can serve as a dedupe key, else ``WebhookPayloadInvalid``."""
    if len(value) > MAX_EVENT_ID_LEN or not (value.isascii() and value.isprintable()):
        raise payload_invalid(
            provider, path, f"must be printable ASCII of at most {MAX_EVENT_ID_LEN} characters"
        )
    return value


EventHead = tuple[str, str, datetime]
"""(event id, raw type, occurred at): what a parser reads first, from the envelope."""


def ignored(provider: WebhookProvider, head: EventHead) -> ProviderEvent:
    """An event of a type the gateway does not act on (no object is named)."""
    event_id, raw_type, occurred_at = head
    return ProviderEvent(provider, event_id, EventKind.IGNORED, raw_type, "", occurred_at)
