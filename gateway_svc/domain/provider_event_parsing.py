"""Card providers' callback bodies as ``ProviderEvent``s: Stripe, Authorize.net, Razorpay.

Call these only on a body whose signature verified (``provider_signatures``). Bodies are read
as the sandbox renders them and as the providers document them (webhook_wire.md); a field the
event needs that is missing or mistyped raises ``WebhookPayloadInvalid`` naming it, and a type
the gateway does not act on is ``EventKind.IGNORED`` (still deduplicated and recorded).
``parse_event`` picks the parser by provider; PayPal and Currencycloud are in
``provider_webhooks_paypal_currencycloud``.

Stripe (``data.object`` is the object the event is about):

=======================================  =================  =================================
type                                     kind               amount (object_reference pi_...)
=======================================  =================  =================================
payment_intent.amount_capturable_updated AUTHORIZED         amount_capturable
payment_intent.succeeded                 CAPTURED           amount_received
payment_intent.payment_failed            FAILED             amount
payment_intent.canceled                  CANCELED           amount
charge.refunded (a Charge)               REFUND_SUCCEEDED   the newest refund's, when listed;
                                                            refunded_minor: the total
refund.updated / charge.refund.updated   by the refund's    the refund's (refund_reference
/ refund.failed (a Refund)               status             re_...)
=======================================  =================  =================================

Stripe's amounts are in Stripe's unit, which is not ISO's for a few currencies (MGA, ISK:
``adapters.providers.stripe_amounts`` is that table). The domain cannot import an adapter, so
``parse_stripe`` is handed the conversion (``from_stripe_units``), and the table stays in one
place. Stripe counts the part of an authorization a partial capture released inside a
Charge's ``amount_refunded``; it is taken off, as the adapter does.

Authorize.net's payload has ``id`` (the transId the adapter stores: a capture or void keeps the
authorization's transId, a refund is a transaction of its own) and ``authAmount`` with no
currency, kept as ``amount_decimal`` (see ``ProviderEvent.amount_in``). ``responseCode`` 1 is
approved; 2 and 3 (declined, error) make an authorization FAILED and a refund REFUND_FAILED,
and anything else is IGNORED (a refused capture or void changes nothing; 4 is held for review).

Razorpay's dedupe id is the ``X-Razorpay-Event-Id`` header, which the signature does not
cover (Razorpay's scheme): a replayed body under a fresh id passes dedupe, so applying an
event must be idempotent by itself (it is: events carry the provider's totals).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from .provider_webhooks import (
    EventHead,
    EventKind,
    Fields,
    ProviderEvent,
    WebhookProvider,
    checked_event_id,
    ignored,
    payload_invalid,
)
from .provider_webhooks_paypal_currencycloud import parse_currencycloud, parse_paypal

StripeUnits = Callable[[int, str], int]
"""``(Stripe amount, ISO currency) -> ISO minor units``: ``stripe_amounts.from_stripe``."""
Headers = Mapping[str, str]

STRIPE = WebhookProvider.STRIPE
AUTHORIZENET = WebhookProvider.AUTHORIZENET
RAZORPAY = WebhookProvider.RAZORPAY
RAZORPAY_EVENT_ID_HEADER = "x-razorpay-event-id"

_STRIPE_INTENT_KINDS = {
    "payment_intent.amount_capturable_updated": (EventKind.AUTHORIZED, "amount_capturable"),
    "payment_intent.succeeded": (EventKind.CAPTURED, "amount_received"),
    "payment_intent.payment_failed": (EventKind.FAILED, "amount"),
    "payment_intent.canceled": (EventKind.CANCELED, "amount"),
}
_STRIPE_REFUND_TYPES = frozenset({"refund.updated", "charge.refund.updated", "refund.failed"})
_STRIPE_REFUND_STATUS = {
    "succeeded": EventKind.REFUND_SUCCEEDED,
    "failed": EventKind.REFUND_FAILED,
    "canceled": EventKind.REFUND_FAILED,
}
_ANET_KINDS = {
    "net.authorize.payment.authorization.created": EventKind.AUTHORIZED,
    "net.authorize.payment.authcapture.created": EventKind.CAPTURED,
    "net.authorize.payment.capture.created": EventKind.CAPTURED,
    # Authorize.net's own name for a priorAuthCapture; the sandbox sends capture.created.
    "net.authorize.payment.priorAuthCapture.created": EventKind.CAPTURED,
    "net.authorize.payment.void.created": EventKind.CANCELED,
    "net.authorize.payment.refund.created": EventKind.REFUND_SUCCEEDED,
}
_ANET_REFUSED = {
    "net.authorize.payment.authorization.created": EventKind.FAILED,
    "net.authorize.payment.authcapture.created": EventKind.FAILED,
    "net.authorize.payment.refund.created": EventKind.REFUND_FAILED,
}
_ANET_APPROVED, _ANET_DECLINED, _ANET_ERROR = 1, 2, 3
_RAZORPAY_PAYMENT_KINDS = {
    "payment.authorized": EventKind.AUTHORIZED,
    "payment.captured": EventKind.CAPTURED,
    "payment.failed": EventKind.FAILED,
}
_RAZORPAY_REFUND_KINDS = {
    "refund.processed": EventKind.REFUND_SUCCEEDED,
    "refund.failed": EventKind.REFUND_FAILED,
}
_ATTEMPT_KEY = "paymesh_attempt_id"
"""Where the Stripe and Razorpay adapters put our attempt id (metadata, notes)."""


def parse_event(
    provider: WebhookProvider, headers: Headers, body: bytes, *, from_stripe_units: StripeUnits
) -> ProviderEvent:
    """The event a verified callback from ``provider`` reports."""
    if provider is STRIPE:
        return parse_stripe(body, from_stripe_units=from_stripe_units)
    if provider is AUTHORIZENET:
        return parse_authorizenet(body)
    if provider is RAZORPAY:
        return parse_razorpay(headers, body)
    if provider is WebhookProvider.PAYPAL:
        return parse_paypal(body)
    return parse_currencycloud(headers, body)


def parse_stripe(body: bytes, *, from_stripe_units: StripeUnits) -> ProviderEvent:
    """A Stripe Event (see the module docstring's table)."""
    root = Fields.load(STRIPE, body)
    event_id, raw_type = root.event_id("id"), root.text("type")
    occurred_at = root.unix_time("created")
    obj = root.obj("data").obj("object")
    head = (event_id, raw_type, occurred_at)
    if raw_type in _STRIPE_INTENT_KINDS:
        return _stripe_intent(obj, head, from_stripe_units)
    if raw_type == "charge.refunded":
        return _stripe_charge_refunded(obj, head, from_stripe_units)
    if raw_type in _STRIPE_REFUND_TYPES:
        return _stripe_refund(obj, head, from_stripe_units)
    return ignored(STRIPE, head)


def _stripe_object(obj: Fields, kind: str) -> str:
    """The object's id, after checking ``object`` says it is a ``kind``."""
    if obj.text("object") != kind:
        raise obj.invalid("object", f"must be {kind!r} for this event type")
    return obj.text("id")


def _stripe_minor(obj: Fields, key: str, currency: str, units: StripeUnits) -> int | None:
    value = obj.optional_integer(key)
    return None if value is None else units(value, currency)


def _stripe_intent(obj: Fields, head: EventHead, units: StripeUnits) -> ProviderEvent:
    event_id, raw_type, occurred_at = head
    kind, amount_key = _STRIPE_INTENT_KINDS[raw_type]
    intent_id = _stripe_object(obj, "payment_intent")
    currency = obj.currency("currency")
    amount = units(obj.integer(amount_key), currency)
    reason = obj.optional_text("cancellation_reason")
    error = obj.raw("last_payment_error")
    if isinstance(error, dict):
        reason = str(error.get("decline_code") or error.get("code") or "")
    charge = obj.raw("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    return ProviderEvent(
        STRIPE,
        event_id,
        kind,
        raw_type,
        intent_id,
        occurred_at,
        amount_minor=amount,
        currency=currency,
        authorized_minor=_stripe_minor(obj, "amount_capturable", currency, units),
        captured_minor=_stripe_minor(obj, "amount_received", currency, units),
        request_reference=_note(obj.raw("metadata")),
        failure_reason=reason if kind in (EventKind.FAILED, EventKind.CANCELED) else "",
        refs={"charge": charge_id} if isinstance(charge_id, str) and charge_id else {},
    )


def _stripe_charge_refunded(obj: Fields, head: EventHead, units: StripeUnits) -> ProviderEvent:
    event_id, raw_type, occurred_at = head
    charge_id = _stripe_object(obj, "charge")
    intent = obj.raw("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if not isinstance(intent_id, str) or not intent_id:
        raise obj.invalid("payment_intent", "must name the charge's PaymentIntent")
    currency = obj.currency("currency")
    amount = obj.integer("amount")
    captured = obj.optional_integer("amount_captured")
    # A partial capture's released remainder is inside amount_refunded (module docstring).
    released = amount - captured if captured is not None else 0
    refunded = max(0, obj.integer("amount_refunded") - released)
    newest = _newest_refund(obj)
    return ProviderEvent(
        STRIPE,
        event_id,
        EventKind.REFUND_SUCCEEDED if refunded else EventKind.IGNORED,
        raw_type,
        intent_id,
        occurred_at,
        amount_minor=None if newest is None else units(newest[1], currency),
        currency=currency,
        refund_reference="" if newest is None else newest[0],
        captured_minor=None if captured is None else units(captured, currency),
        refunded_minor=units(refunded, currency),
        refs={"charge": charge_id},
    )


def _newest_refund(charge: Fields) -> tuple[str, int] | None:
    """(id, amount) of the first (newest) refund a Charge lists, if it lists any."""
    if not charge.has("refunds"):
        return None
    listed = charge.obj("refunds").raw("data")
    if not isinstance(listed, list) or not listed or not isinstance(listed[0], dict):
        return None
    first = Fields(STRIPE, listed[0], charge.path("refunds.data[0]"))
    return first.text("id"), first.integer("amount")


def _stripe_refund(obj: Fields, head: EventHead, units: StripeUnits) -> ProviderEvent:
    event_id, raw_type, occurred_at = head
    refund_id = _stripe_object(obj, "refund")
    currency = obj.currency("currency")
    status = obj.text("status")
    kind = _STRIPE_REFUND_STATUS.get(status, EventKind.IGNORED)
    if raw_type == "refund.failed":
        kind = EventKind.REFUND_FAILED
    intent = obj.raw("payment_intent")
    return ProviderEvent(
        STRIPE,
        event_id,
        kind,
        raw_type,
        intent if isinstance(intent, str) else "",
        occurred_at,
        amount_minor=units(obj.integer("amount"), currency),
        currency=currency,
        refund_reference=refund_id,
        failure_reason=obj.optional_text("failure_reason"),
    )


def parse_authorizenet(body: bytes) -> ProviderEvent:
    """An Authorize.net webhook notification (see the module docstring)."""
    root = Fields.load(AUTHORIZENET, body)
    event_id, raw_type = root.event_id("notificationId"), root.text("eventType")
    occurred_at = root.iso_time("eventDate")
    kind = _ANET_KINDS.get(raw_type)
    if kind is None:
        return ignored(AUTHORIZENET, (event_id, raw_type, occurred_at))
    payload = root.obj("payload")
    trans_id = _trans_id(payload)
    code = payload.raw("responseCode")
    if code in (_ANET_DECLINED, _ANET_ERROR):
        kind = _ANET_REFUSED.get(raw_type, EventKind.IGNORED)
    elif code != _ANET_APPROVED:
        kind = EventKind.IGNORED
    refund = kind in (EventKind.REFUND_SUCCEEDED, EventKind.REFUND_FAILED)
    return ProviderEvent(
        AUTHORIZENET,
        event_id,
        kind,
        raw_type,
        "" if refund else trans_id,
        occurred_at,
        refund_reference=trans_id if refund else "",
        amount_decimal=_anet_amount(payload),
        request_reference=payload.optional_text("merchantReferenceId"),
        failure_reason="" if code == _ANET_APPROVED else f"responseCode {code}",
    )


def _trans_id(payload: Fields) -> str:
    value = payload.raw("id")
    # The transId is a number in a string; accept a JSON integer too, never a float.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    text = payload.text("id")
    if not (text.isascii() and text.isdigit()):
        raise payload.invalid("id", "must be a transaction id (digits)")
    return text


def _anet_amount(payload: Fields) -> str:
    """``authAmount`` (a JSON number, read as Decimal) as a plain decimal string."""
    value = payload.raw("authAmount")
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise payload.invalid("authAmount", "must be a decimal number")
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise payload.invalid("authAmount", "must be a decimal number") from None
    if not amount.is_finite() or amount < 0:
        raise payload.invalid("authAmount", "must be a non-negative decimal number")
    return format(amount, "f")


def parse_razorpay(headers: Headers, body: bytes) -> ProviderEvent:
    """A Razorpay webhook: the event id from its header, the entities from the body."""
    header = headers.get(RAZORPAY_EVENT_ID_HEADER, "")
    if not header:
        raise payload_invalid(RAZORPAY, RAZORPAY_EVENT_ID_HEADER, "the header is missing")
    event_id = checked_event_id(RAZORPAY, header, RAZORPAY_EVENT_ID_HEADER)
    root = Fields.load(RAZORPAY, body)
    if root.text("entity") != "event":
        raise root.invalid("entity", "must be 'event'")
    raw_type, occurred_at = root.text("event"), root.unix_time("created_at")
    head = (event_id, raw_type, occurred_at)
    payload = root.obj("payload")
    if raw_type in _RAZORPAY_PAYMENT_KINDS:
        payment = payload.obj("payment").obj("entity")
        return _razorpay_payment(payment, _RAZORPAY_PAYMENT_KINDS[raw_type], head)
    if raw_type in _RAZORPAY_REFUND_KINDS:
        return _razorpay_refund(payload, _RAZORPAY_REFUND_KINDS[raw_type], head)
    return ignored(RAZORPAY, head)


def _razorpay_payment(payment: Fields, kind: EventKind, head: EventHead) -> ProviderEvent:
    event_id, raw_type, occurred_at = head
    # Razorpay's amounts are ISO minor units already (razorpay_wire's docstring).
    amount, currency = payment.integer("amount"), payment.currency("currency")
    captured = kind is EventKind.CAPTURED or payment.raw("captured") is True
    failure = payment.optional_text("error_reason") or payment.optional_text("error_code")
    order_id = payment.optional_text("order_id")
    return ProviderEvent(
        RAZORPAY,
        event_id,
        kind,
        raw_type,
        payment.text("id"),
        occurred_at,
        amount_minor=amount,
        currency=currency,
        authorized_minor=amount if kind is EventKind.AUTHORIZED else None,
        captured_minor=amount if captured else None,
        refunded_minor=payment.optional_integer("amount_refunded"),
        request_reference=_note(payment.raw("notes")),
        failure_reason=failure if kind is EventKind.FAILED else "",
        refs={"order_id": order_id} if order_id else {},
    )


def _razorpay_refund(payload: Fields, kind: EventKind, head: EventHead) -> ProviderEvent:
    event_id, raw_type, occurred_at = head
    refund = payload.obj("refund").obj("entity")
    currency = refund.currency("currency")
    payment_id = refund.text("payment_id")
    refunded: int | None = None
    if payload.has("payment"):
        payment = payload.obj("payment").obj("entity")
        if payment.text("id") != payment_id:
            raise payment.invalid("id", "must be the refund's payment_id")
        refunded = payment.optional_integer("amount_refunded")
    return ProviderEvent(
        RAZORPAY,
        event_id,
        kind,
        raw_type,
        payment_id,
        occurred_at,
        amount_minor=refund.integer("amount"),
        currency=currency,
        refund_reference=refund.text("id"),
        refunded_minor=refunded,
    )


def _note(notes: object) -> str:
    """Our attempt id from Stripe ``metadata`` / Razorpay ``notes`` (Razorpay writes an empty
    one as ``[]``)."""
    if isinstance(notes, dict):
        value = notes.get(_ATTEMPT_KEY)
        return value if isinstance(value, str) else ""
    return ""
