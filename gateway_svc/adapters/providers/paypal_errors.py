"""PayPal's failures in the gateway's terms: two tables and one classifier.

PayPal refuses a card in two ways, and both end as a ``Decline``:

- inside a success reply: the order completes but its capture is ``DECLINED`` (or its
  authorization ``DENIED``) with ``processor_response.response_code``, a card network code
  from the Payments v2 spec (5120 INSUFFICIENT_FUNDS ...). ``PROCESSOR_CODES`` maps them.
- as an error reply ``{"name", "message", "debug_id", "details": [{"issue", "description",
  "field"}]}`` whose issue is a payer-side refusal (``INSTRUMENT_DECLINED``,
  ``CARD_EXPIRED`` ...): DECLINED entries of ``ISSUES``.

How an error reply is classified, first match wins:

1. HTTP 401 (``invalid_token``, ``invalid_client``, ``AUTHENTICATION_FAILURE``): our
   credentials -> INVALID. (A 401 on an API call is first retried once with a fresh token,
   in ``paypal_auth``; what reaches here is a refusal of the credentials themselves.)
2. HTTP 429, 503 and other 5xx: the shared meaning (``http.shared_status_error``): 429/503
   RETRIABLE, other 5xx UNKNOWN (PayPal may have acted before failing).
3. HTTP 409: another request with the same ``PayPal-Request-Id`` is still being processed
   (PayPal: "processes the first request and might fail the second"). UNKNOWN, not RETRIABLE:
   the first request may still charge, so failing over could charge twice; a later retry
   with the same id gets the first request's outcome.
4. ``ISSUES``, by ``details[0].issue``; then ``NAMES``, by the error's ``name``.
5. Anything else: INVALID for a 4xx (PayPal refused the request), UNKNOWN otherwise.

Choices where PayPal is coarser than ``DeclineCode``: 9520 LOST_OR_STOLEN becomes LOST_CARD
and 5150 PICKUP_CARD_SPECIAL_CONDITIONS (the issuer's "pick up the card") STOLEN_CARD; 5180
INVALID_OR_RESTRICTED_CARD is INCORRECT_NUMBER, as PayPal's own Luhn-failure test trigger
answers it. A processor code the table does not know is a GENERIC_DECLINE.

Messages are PayPal's issue descriptions (generic sentences, never the request's values),
with long digit runs removed and the length capped: nothing PayPal echoes can put a card
number in a log line.
"""

from __future__ import annotations

import re
from typing import Final

import httpx

from gateway_svc.adapters.providers.http import shared_status_error
from gateway_svc.domain.providers import Decline, DeclineCode, ErrorKind, ProviderError

_D = DeclineCode

PROCESSOR_CODES: Final[dict[str, tuple[DeclineCode, str]]] = {
    "0500": (_D.GENERIC_DECLINE, "Do not honor."),
    "0580": (_D.GENERIC_DECLINE, "Unauthorized transaction."),
    "0100": (_D.GENERIC_DECLINE, "Referral: the issuer asks the payer to call."),
    "10BR": (_D.GENERIC_DECLINE, "Rejected by the issuer."),
    "5100": (_D.GENERIC_DECLINE, "Generic decline."),
    "5140": (_D.GENERIC_DECLINE, "The card is closed."),
    "5160": (_D.GENERIC_DECLINE, "Unauthorized user."),
    "5200": (_D.GENERIC_DECLINE, "Duplicate transaction."),
    "5210": (_D.GENERIC_DECLINE, "Invalid transaction."),
    "5700": (_D.GENERIC_DECLINE, "Transaction not permitted."),
    "5710": (_D.GENERIC_DECLINE, "Too many attempts with this card."),
    "5930": (_D.GENERIC_DECLINE, "The card is not activated."),
    "5950": (_D.GENERIC_DECLINE, "An updated card has been issued."),
    "9540": (_D.GENERIC_DECLINE, "Refused card."),
    "PP06": (_D.GENERIC_DECLINE, "The account is closed."),
    "PPAB": (_D.GENERIC_DECLINE, "The account is blocked by the issuer."),
    "5120": (_D.INSUFFICIENT_FUNDS, "Insufficient funds."),
    "5400": (_D.EXPIRED_CARD, "The card is expired."),
    "1380": (_D.EXPIRED_CARD, "Invalid expiration date."),
    "PPEF": (_D.EXPIRED_CARD, "Expired funding instrument."),
    "00N7": (_D.INCORRECT_CVC, "CVV2 check failed."),
    "5110": (_D.INCORRECT_CVC, "CVV2 check failed."),
    "1382": (_D.INCORRECT_CVC, "Invalid card verification value."),
    "PCVV": (_D.INCORRECT_CVC, "CVV check failed."),
    "0390": (_D.INCORRECT_NUMBER, "Account not found."),
    "1330": (_D.INCORRECT_NUMBER, "Invalid account."),
    "5180": (_D.INCORRECT_NUMBER, "Invalid or restricted card."),
    "9520": (_D.LOST_CARD, "Lost or stolen card."),
    "5150": (_D.STOLEN_CARD, "Pick up card: special conditions."),
    "9500": (_D.FRAUD_SUSPECTED, "Suspected fraud."),
    "9510": (_D.FRAUD_SUSPECTED, "Security violation."),
    "0960": (_D.PROCESSING_ERROR, "System malfunction."),
    "5910": (_D.PROCESSING_ERROR, "The issuer is not available."),
    "5920": (_D.PROCESSING_ERROR, "The issuer is not available."),
    "8000": (_D.PROCESSING_ERROR, "Processor system error."),
    "8100": (_D.PROCESSING_ERROR, "Communication error."),
    "8110": (_D.PROCESSING_ERROR, "Communication error."),
    "8220": (_D.PROCESSING_ERROR, "System unavailable."),
    "9100": (_D.PROCESSING_ERROR, "Declined, please retry."),
    "5650": (_D.AUTHENTICATION_REQUIRED, "Strong customer authentication is required."),
    "7700": (_D.AUTHENTICATION_REQUIRED, "3-D Secure error."),
    "7710": (_D.AUTHENTICATION_REQUIRED, "Authentication failed."),
    "PPD3": (_D.AUTHENTICATION_REQUIRED, "3-D Secure error."),
    "1310": (_D.AMOUNT_INVALID, "Invalid amount."),
    "1320": (_D.CURRENCY_NOT_SUPPORTED, "Invalid currency code."),
    "PPUC": (_D.CURRENCY_NOT_SUPPORTED, "Currency code unsupported."),
}
"""``processor_response.response_code`` of a declined capture or denied authorization."""

_DECLINED = ErrorKind.DECLINED
_INVALID = ErrorKind.INVALID

ISSUES: Final[dict[str, tuple[ErrorKind, DeclineCode]]] = {
    # The payer's instrument was refused: a decline, final.
    "INSTRUMENT_DECLINED": (_DECLINED, _D.GENERIC_DECLINE),
    "TRANSACTION_REFUSED": (_DECLINED, _D.GENERIC_DECLINE),
    "PAYER_CANNOT_PAY": (_DECLINED, _D.GENERIC_DECLINE),
    "PAYER_ACCOUNT_RESTRICTED": (_DECLINED, _D.GENERIC_DECLINE),
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED": (_DECLINED, _D.GENERIC_DECLINE),
    "CARD_CLOSED": (_DECLINED, _D.GENERIC_DECLINE),
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": (_DECLINED, _D.GENERIC_DECLINE),
    "CARD_EXPIRED": (_DECLINED, _D.EXPIRED_CARD),
    "INVALID_SECURITY_CODE_LENGTH": (_DECLINED, _D.INCORRECT_CVC),
    "CARD_TYPE_NOT_SUPPORTED": (_DECLINED, _D.GENERIC_DECLINE),
    "REFUND_FAILED_INSUFFICIENT_FUNDS": (_DECLINED, _D.INSUFFICIENT_FUNDS),
    "PAYER_ACTION_REQUIRED": (_DECLINED, _D.AUTHENTICATION_REQUIRED),
    # Our request does not fit PayPal's rules: another provider may take it.
    "CURRENCY_NOT_SUPPORTED": (_INVALID, _D.CURRENCY_NOT_SUPPORTED),
    "CURRENCY_NOT_SUPPORTED_FOR_CARD_TYPE": (_INVALID, _D.CURRENCY_NOT_SUPPORTED),
    "CURRENCY_NOT_SUPPORTED_FOR_COUNTRY": (_INVALID, _D.CURRENCY_NOT_SUPPORTED),
    "INVALID_CURRENCY_CODE": (_INVALID, _D.CURRENCY_NOT_SUPPORTED),
    "DECIMAL_PRECISION": (_INVALID, _D.AMOUNT_INVALID),
    "CANNOT_BE_ZERO_OR_NEGATIVE": (_INVALID, _D.AMOUNT_INVALID),
    "AMOUNT_MISMATCH": (_INVALID, _D.AMOUNT_INVALID),
    "MAX_CAPTURE_AMOUNT_EXCEEDED": (_INVALID, _D.AMOUNT_INVALID),
    "REFUND_AMOUNT_EXCEEDED": (_INVALID, _D.AMOUNT_INVALID),
    "CAPTURE_FULLY_REFUNDED": (_INVALID, _D.AMOUNT_INVALID),
    "MAX_NUMBER_OF_REFUNDS_EXCEEDED": (_INVALID, _D.AMOUNT_INVALID),
    # The payment is not in a state that allows the operation: our state is stale or wrong.
    "AUTHORIZATION_VOIDED": (_INVALID, _D.PROVIDER_REJECTED),
    "AUTHORIZATION_ALREADY_CAPTURED": (_INVALID, _D.PROVIDER_REJECTED),
    "AUTHORIZATION_EXPIRED": (_INVALID, _D.PROVIDER_REJECTED),
    "MAX_CAPTURE_COUNT_EXCEEDED": (_INVALID, _D.PROVIDER_REJECTED),
    "PREVIOUSLY_CAPTURED": (_INVALID, _D.PROVIDER_REJECTED),
    "PREVIOUSLY_VOIDED": (_INVALID, _D.PROVIDER_REJECTED),
    "CANNOT_BE_VOIDED": (_INVALID, _D.PROVIDER_REJECTED),
    "ORDER_ALREADY_CAPTURED": (_INVALID, _D.PROVIDER_REJECTED),
    "ORDER_ALREADY_AUTHORIZED": (_INVALID, _D.PROVIDER_REJECTED),
    "ORDER_NOT_APPROVED": (_INVALID, _D.PROVIDER_REJECTED),
    "ACTION_DOES_NOT_MATCH_INTENT": (_INVALID, _D.PROVIDER_REJECTED),
    "REFUND_NOT_ALLOWED": (_INVALID, _D.PROVIDER_REJECTED),
    "REFUND_TIME_LIMIT_EXCEEDED": (_INVALID, _D.PROVIDER_REJECTED),
    "CURRENCY_MISMATCH": (_INVALID, _D.PROVIDER_REJECTED),
    "REFUND_CAPTURE_CURRENCY_MISMATCH": (_INVALID, _D.PROVIDER_REJECTED),
    "DUPLICATE_INVOICE_ID": (_INVALID, _D.PROVIDER_REJECTED),
    "DUPLICATE_REQUEST_ID": (_INVALID, _D.PROVIDER_REJECTED),
    # The request's shape (400) or our account's permissions (403).
    "MISSING_REQUIRED_PARAMETER": (_INVALID, _D.PROVIDER_REJECTED),
    "INVALID_PARAMETER_VALUE": (_INVALID, _D.PROVIDER_REJECTED),
    "INVALID_PARAMETER_SYNTAX": (_INVALID, _D.PROVIDER_REJECTED),
    "INVALID_STRING_LENGTH": (_INVALID, _D.PROVIDER_REJECTED),
    "INVALID_ARRAY_MAX_ITEMS": (_INVALID, _D.PROVIDER_REJECTED),
    "MALFORMED_REQUEST_JSON": (_INVALID, _D.PROVIDER_REJECTED),
    "INVALID_RESOURCE_ID": (_INVALID, _D.PROVIDER_REJECTED),
    "PERMISSION_DENIED": (_INVALID, _D.PROVIDER_REJECTED),
    "PAYEE_ACCOUNT_RESTRICTED": (_INVALID, _D.PROVIDER_REJECTED),
    "PAYEE_ACCOUNT_LOCKED_OR_CLOSED": (_INVALID, _D.PROVIDER_REJECTED),
    "COMPLIANCE_VIOLATION": (_INVALID, _D.PROVIDER_REJECTED),
}
"""``details[0].issue`` of an error reply."""

NAMES: Final[dict[str, tuple[ErrorKind, DeclineCode]]] = {
    "INVALID_REQUEST": (_INVALID, _D.PROVIDER_REJECTED),
    "UNPROCESSABLE_ENTITY": (_INVALID, _D.PROVIDER_REJECTED),
    "RESOURCE_NOT_FOUND": (_INVALID, _D.PROVIDER_REJECTED),
    "NOT_AUTHORIZED": (_INVALID, _D.PROVIDER_REJECTED),
    "AUTHENTICATION_FAILURE": (_INVALID, _D.PROVIDER_REJECTED),
    "invalid_token": (_INVALID, _D.PROVIDER_REJECTED),
    "invalid_client": (_INVALID, _D.PROVIDER_REJECTED),
}
"""The error's ``name`` (or OAuth ``error``), when its issue is absent or unknown."""

_DIGITS = re.compile(r"\d{6,}")


def safe_text(text: object, default: str) -> str:
    """A provider sentence fit for a merchant and a log: no long digit runs, bounded."""
    if not isinstance(text, str) or not text.strip():
        return default
    return _DIGITS.sub("[redacted]", text.strip())[:200]


def processor_decline(response_code: str) -> Decline:
    """The decline for a ``processor_response.response_code``."""
    code, message = PROCESSOR_CODES.get(
        response_code, (DeclineCode.GENERIC_DECLINE, "Declined by the card issuer.")
    )
    return Decline(code, message, raw_code=response_code)


def classify(response: httpx.Response) -> ProviderError:
    """The ``ProviderError`` for a PayPal error reply (``kind`` DECLINED: a payer refusal).

    Never raises: a body that is not PayPal's JSON falls back on the HTTP status.
    """
    name, issue, description = _error_fields(response)
    raw = issue or name or str(response.status_code)
    status = response.status_code
    if status == 401:
        return ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            "PayPal refused our credentials",
            raw_code=raw,
            http_status=status,
        )
    shared = shared_status_error(response, raw)
    if shared is not None:
        return shared
    if status == 409:
        return ProviderError(
            ErrorKind.UNKNOWN,
            DeclineCode.UNKNOWN_OUTCOME,
            "PayPal is still processing a request with this PayPal-Request-Id",
            raw_code=raw,
            http_status=status,
        )
    entry = ISSUES.get(issue) or NAMES.get(name)
    if entry is None:
        entry = (
            (ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED)
            if 400 <= status < 500
            else (ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME)
        )
    kind, code = entry
    message = safe_text(description, f"PayPal refused the request ({raw})")
    return ProviderError(kind, code, message, raw_code=raw, http_status=status)


def _error_fields(response: httpx.Response) -> tuple[str, str, str]:
    """(name, first issue, its description) of PayPal's error body; empty when absent."""
    try:
        body = response.json()
    except ValueError:
        return "", "", ""
    if not isinstance(body, dict):
        return "", "", ""
    name = body.get("name") or body.get("error") or ""
    description = body.get("message") or body.get("error_description") or ""
    issue = ""
    details = body.get("details")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        issue = details[0].get("issue") or ""
        description = details[0].get("description") or description
    return str(name), str(issue), str(description)
