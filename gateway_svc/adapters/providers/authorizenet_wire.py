"""Authorize.net's wire format: request bodies in schema order, amounts, and reading replies.

Three facts shape this module:

- The JSON API validates against its XML schema, so every object's keys must be emitted in
  the XSD's sequence order (a misplaced key is refused with E00003). Each builder below
  writes its keys in that order; Python dicts keep insertion order through ``json.dumps``.
- Amounts are decimal strings in the currency's major unit ("10.50"); replies from the
  reporting API carry them as JSON numbers, parsed here as ``Decimal`` (never float).
  ``EXPONENT_OVERRIDES`` is the one place for a currency where Authorize.net would disagree
  with ISO 4217; none of the currencies it processes does today, so it is empty.
- Every reply starts with a UTF-8 byte-order mark ("Authorize.net prefixes JSON with a UTF-8
  BOM"), which ``utf-8-sig`` strips; and errors come with HTTP 200, so the status alone says
  nothing about success.

Authorize.net has no idempotency header. Each operation instead carries a reference derived
from the caller's idempotency key: ``refId`` (echoed back, at most 20 characters) and, for
authorizations and refunds, ``order.invoiceNumber`` (at most 20), which both makes a retried
request an exact duplicate for the gateway's duplicate window and lets ``lookup`` find the
transaction in the unsettled-transaction list without creating anything.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import httpx

from gateway_svc.adapters.providers.http import shared_status_error
from gateway_svc.domain.providers import Card, DeclineCode, ErrorKind, ProviderError
from svc_kit.currencies import exponent

API_PATH: Final = "/xml/v1/request.api"
REFERENCE_LENGTH: Final = 20
"""The XSD's maxLength for both refId and invoiceNumber."""
EXPONENT_OVERRIDES: Final[dict[str, int]] = {}
"""Currency -> exponent where Authorize.net departs from ISO 4217 (none known)."""
MASK: Final = "X" * 4
"""Authorize.net's mask: four X stand for hidden card digits, or a hidden expiry."""
OPAQUE_DESCRIPTOR: Final = "COMMON.ACCEPT.INAPP.PAYMENT"
"""An Accept.js payment nonce: what a token means to Authorize.net."""

Json = dict[str, Any]


def reference_for(idempotency_key: str) -> str:
    """The 20-character refId / invoiceNumber standing for an idempotency key.

    A hash, because keys may be longer than 20 characters and must not be truncated into
    collisions; 80 bits of SHA-256 make an accidental collision negligible.
    """
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:REFERENCE_LENGTH]


def currency_exponent(currency: str) -> int:
    """Decimal places Authorize.net uses for ``currency``."""
    return EXPONENT_OVERRIDES.get(currency, exponent(currency))


def to_amount(amount_minor: int, currency: str) -> str:
    """Minor units as Authorize.net's decimal string (1050 USD -> "10.50", 5 JPY -> "5")."""
    places = currency_exponent(currency)
    return str(Decimal(amount_minor).scaleb(-places).quantize(Decimal(1).scaleb(-places)))


def to_minor(value: object, currency: str) -> int:
    """A reply's amount (JSON number as Decimal, or a string) in minor units.

    Raises ValueError for anything that is not a whole number of minor units.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"not an amount: {type(value).__name__}")
    try:
        minor = Decimal(value).scaleb(currency_exponent(currency))
    except InvalidOperation:
        raise ValueError("not a decimal amount") from None
    if not minor.is_finite() or minor != minor.to_integral_value():
        raise ValueError("not a whole number of minor units")
    return int(minor)


def expiration_of(card: Card) -> str:
    """The card's expiry as the XSD's gYearMonth ("2030-04")."""
    return f"{card.exp_year:04d}-{card.exp_month:02d}"


def envelope(method: str, login_id: str, transaction_key: str, ref_id: str | None) -> Json:
    """``{method: {merchantAuthentication, refId}}``: the part every request starts with."""
    inner: Json = {"merchantAuthentication": {"name": login_id, "transactionKey": transaction_key}}
    if ref_id is not None:
        inner["refId"] = ref_id
    return {method: inner}


def transaction_request(
    transaction_type: str,
    *,
    amount: str | None = None,
    currency: str | None = None,
    payment: Json | None = None,
    ref_trans_id: str | None = None,
    invoice_number: str | None = None,
    description: str = "",
    zip_code: str = "",
    duplicate_window_s: int | None = None,
    user_fields: dict[str, str] | None = None,
) -> Json:
    """A ``transactionRequest`` with its keys in the XSD's order (transactionType, amount,
    currencyCode, payment, refTransId, order, billTo, transactionSettings, userFields)."""
    request: Json = {"transactionType": transaction_type}
    if amount is not None:
        request["amount"] = amount
    if currency is not None:
        request["currencyCode"] = currency
    if payment is not None:
        request["payment"] = payment
    if ref_trans_id is not None:
        request["refTransId"] = ref_trans_id
    if invoice_number is not None:
        order: Json = {"invoiceNumber": invoice_number}
        if description:
            order["description"] = description[:255]
        request["order"] = order
    if zip_code:
        request["billTo"] = {"zip": zip_code[:20]}
    if duplicate_window_s is not None:
        request["transactionSettings"] = {
            "setting": [{"settingName": "duplicateWindow", "settingValue": str(duplicate_window_s)}]
        }
    if user_fields:
        request["userFields"] = {
            "userField": [{"name": name, "value": value} for name, value in user_fields.items()]
        }
    return request


def card_payment(card: Card) -> Json:
    """``payment.creditCard`` for a raw (sandbox) card."""
    return {
        "creditCard": {
            "cardNumber": card.number,
            "expirationDate": expiration_of(card),
            "cardCode": card.cvc,
        }
    }


def token_payment(token: str) -> Json:
    """``payment.opaqueData`` for an Accept.js nonce."""
    return {"opaqueData": {"dataDescriptor": OPAQUE_DESCRIPTOR, "dataValue": token}}


def masked_card_payment(last4: str) -> Json:
    """What a refund identifies the card by: its last four digits and a masked expiry."""
    return {"creditCard": {"cardNumber": f"{MASK}{last4}", "expirationDate": MASK}}


def encode(body: Json) -> bytes:
    """The request body (compact JSON, keys as built)."""
    return json.dumps(body, separators=(",", ":")).encode()


def read_reply(response: httpx.Response, *, mutation: bool) -> Json:
    """The reply's JSON object, or the ProviderError its status or body means.

    ``mutation``: whether the request could have changed anything, which decides whether an
    unreadable reply is UNKNOWN (it may have acted) or RETRIABLE (a read: nothing to lose).
    """
    error = shared_status_error(response)
    if error is not None:
        raise error
    if response.status_code != 200:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            f"Authorize.net answered HTTP {response.status_code}",
            raw_code=str(response.status_code),
            http_status=response.status_code,
        )
    try:
        reply = json.loads(response.content.decode("utf-8-sig"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        reply = None
    if not isinstance(reply, dict):
        raise ProviderError(
            ErrorKind.UNKNOWN if mutation else ErrorKind.RETRIABLE,
            DeclineCode.UNKNOWN_OUTCOME if mutation else DeclineCode.PROVIDER_UNAVAILABLE,
            "Authorize.net's reply was not a JSON object",
            http_status=200,
        )
    return reply


def first_message(reply: Json) -> tuple[str, str, str]:
    """(resultCode, first message code, first message text) of a reply's ``messages``."""
    messages = reply.get("messages")
    if not isinstance(messages, dict):
        return "", "", ""
    listed = messages.get("message")
    first = listed[0] if isinstance(listed, list) and listed else listed
    if not isinstance(first, dict):
        return str(messages.get("resultCode", "")), "", ""
    return (
        str(messages.get("resultCode", "")),
        str(first.get("code", "")),
        str(first.get("text", "")),
    )
