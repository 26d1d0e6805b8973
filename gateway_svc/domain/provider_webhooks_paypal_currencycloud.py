"""PayPal's and Currencycloud's callback bodies as ``ProviderEvent``s (amounts as decimal
strings in major units, read exactly with the ISO 4217 exponent).

PayPal (``resource`` is the authorization, capture or refund as Payments v2 renders it):

===============================  ================  ==============================================
event_type                       kind              references
===============================  ================  ==============================================
PAYMENT.AUTHORIZATION.CREATED    AUTHORIZED        order id (``supplementary_data.related_ids``),
PAYMENT.AUTHORIZATION.VOIDED     CANCELED          ``refs["authorization_id"]`` = resource id
PAYMENT.CAPTURE.COMPLETED        CAPTURED          order id, ``refs["capture_id"]`` = resource id,
PAYMENT.CAPTURE.DENIED           FAILED            ``refs["authorization_id"]`` when related
PAYMENT.CAPTURE.REFUNDED         REFUND_SUCCEEDED  refund_reference = resource id; the capture id
                                                   from the refund's ``up`` link; the order id
                                                   when related_ids has it
===============================  ================  ==============================================

The PayPal adapter stores the order id as a payment's provider reference, so that is the
``object_reference``; an event without related ids (a refund, as Payments v2 renders one)
leaves it empty and names the capture in ``refs``. A refund's ``total_refunded_amount`` is
PayPal's running total (``refunded_minor``). PayPal writes no decimals for HUF and TWD, but a
decimal string in major units reads the same whatever its decimals, so ISO's exponent is enough.

Currencycloud (the sandbox's push-notification scheme; ``body`` is the conversion or payment as
its API's GET renders it; the dedupe id is ``header.notification_id``, which the signature
covers, and the ``X-CC-Notification-Id`` header must agree with it when sent):

====================  ====================  ===============================================
notification_type     kind                  amounts
====================  ====================  ===============================================
conversion_completed  CONVERSION_COMPLETED  client_buy_amount (buy_currency), and the sell
                                            side in ``sell_amount_minor``
payment_completed     PAYOUT_COMPLETED      amount (currency)
payment_failed        PAYOUT_FAILED         amount; ``failure_reason``
====================  ====================  ===============================================
"""

from __future__ import annotations

from collections.abc import Mapping

from .provider_webhooks import (
    EventHead,
    EventKind,
    Fields,
    ProviderEvent,
    WebhookProvider,
    ignored,
    payload_invalid,
)

PAYPAL = WebhookProvider.PAYPAL
CURRENCYCLOUD = WebhookProvider.CURRENCYCLOUD
CC_NOTIFICATION_ID_HEADER = "x-cc-notification-id"

_PAYPAL_KINDS = {
    "PAYMENT.AUTHORIZATION.CREATED": EventKind.AUTHORIZED,
    "PAYMENT.AUTHORIZATION.VOIDED": EventKind.CANCELED,
    "PAYMENT.CAPTURE.COMPLETED": EventKind.CAPTURED,
    "PAYMENT.CAPTURE.DENIED": EventKind.FAILED,
    "PAYMENT.CAPTURE.REFUNDED": EventKind.REFUND_SUCCEEDED,
}
_CC_KINDS = {
    "conversion_completed": ("conversion", EventKind.CONVERSION_COMPLETED),
    "payment_completed": ("payment", EventKind.PAYOUT_COMPLETED),
    "payment_failed": ("payment", EventKind.PAYOUT_FAILED),
}


def parse_paypal(body: bytes) -> ProviderEvent:
    """A PayPal webhook event (see the module docstring's table)."""
    root = Fields.load(PAYPAL, body)
    event_id, raw_type = root.event_id("id"), root.text("event_type")
    occurred_at = root.iso_time("create_time")
    kind = _PAYPAL_KINDS.get(raw_type)
    if kind is None:
        return ignored(PAYPAL, (event_id, raw_type, occurred_at))
    resource = root.obj("resource")
    money = resource.obj("amount")
    currency = money.currency("currency_code")
    amount = money.decimal_minor("value", currency)
    related = _related_ids(resource)
    refs = {"authorization_id": related.get("authorization_id", "")}
    refund_id, refunded = "", None
    if kind is EventKind.REFUND_SUCCEEDED:
        refund_id, refunded = resource.text("id"), _total_refunded(resource, currency)
        refs["capture_id"] = related.get("capture_id") or _up_capture_id(resource)
    elif kind in (EventKind.AUTHORIZED, EventKind.CANCELED):
        refs["authorization_id"] = resource.text("id")
    else:
        refs["capture_id"] = resource.text("id")
    return ProviderEvent(
        PAYPAL,
        event_id,
        kind,
        raw_type,
        related.get("order_id", ""),
        occurred_at,
        amount_minor=amount,
        currency=currency,
        refund_reference=refund_id,
        authorized_minor=amount if kind is EventKind.AUTHORIZED else None,
        refunded_minor=refunded,
        request_reference=resource.optional_text("custom_id"),
        failure_reason=_processor_code(resource) if kind is EventKind.FAILED else "",
        refs={key: value for key, value in refs.items() if value},
    )


def _related_ids(resource: Fields) -> dict[str, str]:
    """``supplementary_data.related_ids`` (order_id, authorization_id), when present."""
    if not resource.has("supplementary_data"):
        return {}
    data = resource.obj("supplementary_data")
    if not data.has("related_ids"):
        return {}
    ids = data.obj("related_ids")
    found = {key: ids.optional_text(key) for key in ("order_id", "authorization_id", "capture_id")}
    return {key: value for key, value in found.items() if value}


def _total_refunded(refund: Fields, currency: str) -> int | None:
    if not refund.has("seller_payable_breakdown"):
        return None
    breakdown = refund.obj("seller_payable_breakdown")
    if not breakdown.has("total_refunded_amount"):
        return None
    return breakdown.obj("total_refunded_amount").decimal_minor("value", currency)


def _up_capture_id(refund: Fields) -> str:
    """The capture a refund belongs to: the last segment of its ``up`` link."""
    links = refund.raw("links")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("rel") == "up":
            href = link.get("href")
            if isinstance(href, str) and "/captures/" in href:
                return href.rstrip("/").rsplit("/", 1)[-1]
    return ""


def _processor_code(resource: Fields) -> str:
    processor = resource.raw("processor_response")
    if isinstance(processor, dict) and isinstance(processor.get("response_code"), str):
        return str(processor["response_code"])
    details = resource.raw("status_details")
    if isinstance(details, dict) and isinstance(details.get("reason"), str):
        return str(details["reason"])
    return ""


def parse_currencycloud(headers: Mapping[str, str], body: bytes) -> ProviderEvent:
    """A Currencycloud push notification (see the module docstring's table)."""
    root = Fields.load(CURRENCYCLOUD, body)
    header = root.obj("header")
    event_id = header.event_id("notification_id")
    sent_id = headers.get(CC_NOTIFICATION_ID_HEADER, "")
    if sent_id and sent_id != event_id:
        raise payload_invalid(
            CURRENCYCLOUD, CC_NOTIFICATION_ID_HEADER, "differs from header.notification_id"
        )
    raw_type = header.text("notification_type")
    expected = _CC_KINDS.get(raw_type)
    obj = root.obj("body")
    # The notification carries no time of its own: the object's last change is the event's.
    occurred_at = obj.iso_time("updated_at" if obj.has("updated_at") else "created_at")
    head: EventHead = (event_id, raw_type, occurred_at)
    if expected is None:
        return ignored(CURRENCYCLOUD, head)
    message_type, kind = expected
    if header.text("message_type") != message_type:
        raise header.invalid("message_type", f"must be {message_type!r} for {raw_type}")
    if kind is EventKind.CONVERSION_COMPLETED:
        return _cc_conversion(obj, head)
    currency = obj.currency("currency")
    failure = obj.optional_text("failure_reason")
    return ProviderEvent(
        CURRENCYCLOUD,
        event_id,
        kind,
        raw_type,
        obj.text("id"),
        occurred_at,
        amount_minor=obj.decimal_minor("amount", currency),
        currency=currency,
        request_reference=obj.optional_text("unique_request_id"),
        failure_reason=failure if kind is EventKind.PAYOUT_FAILED else "",
    )


def _cc_conversion(conversion: Fields, head: EventHead) -> ProviderEvent:
    buy, sell = conversion.currency("buy_currency"), conversion.currency("sell_currency")
    event_id, raw_type, occurred_at = head
    return ProviderEvent(
        CURRENCYCLOUD,
        event_id,
        EventKind.CONVERSION_COMPLETED,
        raw_type,
        conversion.text("id"),
        occurred_at,
        amount_minor=conversion.decimal_minor("client_buy_amount", buy),
        currency=buy,
        sell_amount_minor=conversion.decimal_minor("client_sell_amount", sell),
        sell_currency=sell,
        request_reference=conversion.optional_text("unique_request_id"),
    )
