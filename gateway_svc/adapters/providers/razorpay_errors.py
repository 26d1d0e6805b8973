"""Razorpay's failures in the gateway's terms: one table, one classifier.

Razorpay reports every failure as ``{"error": {"code", "description", "source", "step",
"reason", "field", "metadata"}}`` (razorpay.com/docs/errors). ``code`` is coarse
(BAD_REQUEST_ERROR, GATEWAY_ERROR, SERVER_ERROR); ``reason`` says what happened
(``card_declined``, ``insufficient_funds``, ``input_validation_failed`` ...); a failed card
payment also carries ``metadata.payment_id``. A payment read back (``GET /v1/payments/{id}``)
carries the same facts as ``error_code`` / ``error_reason`` / ``error_description``.

How a reply is classified, first match wins:

1. HTTP 401: our credentials are wrong -> INVALID.
2. HTTP 429, 503 and other 5xx: the shared meaning (``http.shared_status_error``): 429/503
   RETRIABLE, any other 5xx (Razorpay's 500 SERVER_ERROR, 502 GATEWAY_ERROR) UNKNOWN,
   because the request may have been acted on.
3. HTTP 409: Razorpay's refund idempotency conflict. "still in progress" is RETRIABLE (the
   same key will get the first request's answer); a different request under a used key is
   INVALID (our bug).
4. ``RAZORPAY_CODES``, looked up by ``reason/field``, then ``reason``, then ``code``. A
   DECLINED entry is a card decline, returned as a declined charge, never raised.
5. A reason the table does not know: a decline (GENERIC_DECLINE) when the reply names a
   failed payment, else INVALID.

Razorpay does not separate lost from stolen cards: a card its issuer blocked is
``debit_instrument_blocked`` (LOST_CARD here, the common cause of a block) and an issuer's
fraud refusal ``payment_risk_check_failed`` (FRAUD_SUSPECTED). Its bank and gateway
technical errors fail the payment for good (a new attempt is a new payment), so they are
declines with PROCESSING_ERROR, as Stripe's ``processing_error`` is.

Messages are Razorpay's descriptions (written for payers), with any long digit run removed
and the length capped, so nothing a provider echoes can put a card number in our logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from gateway_svc.adapters.providers.http import shared_status_error
from gateway_svc.domain.providers import Decline, DeclineCode, ErrorKind, ProviderError

_DECLINED = ErrorKind.DECLINED
_INVALID = ErrorKind.INVALID

RAZORPAY_CODES: Final[dict[str, tuple[DeclineCode, ErrorKind]]] = {
    # Card payment failures: error.reason / a payment's error_reason.
    "card_declined": (DeclineCode.GENERIC_DECLINE, _DECLINED),
    "payment_failed": (DeclineCode.GENERIC_DECLINE, _DECLINED),
    "card_not_enrolled": (DeclineCode.GENERIC_DECLINE, _DECLINED),
    "card_disabled_for_online_payments": (DeclineCode.GENERIC_DECLINE, _DECLINED),
    "debit_instrument_inactive": (DeclineCode.GENERIC_DECLINE, _DECLINED),
    "transaction_limit_exceeded": (DeclineCode.GENERIC_DECLINE, _DECLINED),
    "payment_cancelled": (DeclineCode.GENERIC_DECLINE, _DECLINED),
    "insufficient_funds": (DeclineCode.INSUFFICIENT_FUNDS, _DECLINED),
    # Razorpay's test-card page spells it without the s.
    "insufficient_fund": (DeclineCode.INSUFFICIENT_FUNDS, _DECLINED),
    "card_expired": (DeclineCode.EXPIRED_CARD, _DECLINED),
    "incorrect_cvv": (DeclineCode.INCORRECT_CVC, _DECLINED),
    "card_number_invalid": (DeclineCode.INCORRECT_NUMBER, _DECLINED),
    "debit_instrument_blocked": (DeclineCode.LOST_CARD, _DECLINED),
    "payment_risk_check_failed": (DeclineCode.FRAUD_SUSPECTED, _DECLINED),
    "authentication_failed": (DeclineCode.AUTHENTICATION_REQUIRED, _DECLINED),
    "invalid_otp": (DeclineCode.AUTHENTICATION_REQUIRED, _DECLINED),
    "incorrect_otp": (DeclineCode.AUTHENTICATION_REQUIRED, _DECLINED),
    "gateway_technical_error": (DeclineCode.PROCESSING_ERROR, _DECLINED),
    "bank_technical_error": (DeclineCode.PROCESSING_ERROR, _DECLINED),
    "payment_timed_out": (DeclineCode.PROCESSING_ERROR, _DECLINED),
    # Request errors: reason/field first, then reason.
    "input_validation_failed/amount": (DeclineCode.AMOUNT_INVALID, _INVALID),
    "input_validation_failed/currency": (DeclineCode.CURRENCY_NOT_SUPPORTED, _INVALID),
    "input_validation_failed": (DeclineCode.PROVIDER_REJECTED, _INVALID),
    # error.code, when the reason is "NA" or unknown.
    "BAD_REQUEST_ERROR": (DeclineCode.PROVIDER_REJECTED, _INVALID),
    "GATEWAY_ERROR": (DeclineCode.PROCESSING_ERROR, _DECLINED),
    "SERVER_ERROR": (DeclineCode.UNKNOWN_OUTCOME, ErrorKind.UNKNOWN),
}

_NA = "NA"
_MAX_MESSAGE_CHARS = 200
_DIGIT_RUN = re.compile(r"\d{12,}")


@dataclass(frozen=True, slots=True)
class RazorpayError:
    """Razorpay's error object, parsed leniently (missing parts are empty strings)."""

    code: str = ""
    description: str = ""
    reason: str = ""
    field: str = ""
    payment_id: str = ""
    order_id: str = ""

    @property
    def raw_code(self) -> str:
        """The most specific code Razorpay gave: the reason, else the code."""
        return self.reason if self.reason and self.reason != _NA else self.code


def safe_text(text: str) -> str:
    """A provider message fit for logs and merchants: no long digit runs, bounded length."""
    return _DIGIT_RUN.sub("[redacted]", text)[:_MAX_MESSAGE_CHARS]


def parse_error(payload: object) -> RazorpayError:
    """The ``error`` object of a reply body (anything unexpected gives empty fields)."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(error, Mapping):
        return RazorpayError()
    metadata = error.get("metadata")
    meta: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}
    return RazorpayError(
        code=_text(error.get("code")),
        description=_text(error.get("description")),
        reason=_text(error.get("reason")),
        field=_text(error.get("field")),
        payment_id=_text(meta.get("payment_id")),
        order_id=_text(meta.get("order_id")),
    )


def error_of_payment(payment: Mapping[str, Any]) -> RazorpayError:
    """The failure recorded on a payment entity (``error_code``, ``error_reason`` ...)."""
    return RazorpayError(
        code=_text(payment.get("error_code")),
        description=_text(payment.get("error_description")),
        reason=_text(payment.get("error_reason")),
        payment_id=_text(payment.get("id")),
        order_id=_text(payment.get("order_id")),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def translate(error: RazorpayError) -> tuple[DeclineCode, ErrorKind]:
    """The table's verdict for an error object (steps 4 and 5 of the module docstring)."""
    reason = error.reason if error.reason != _NA else ""
    for key in (f"{reason}/{error.field}" if reason and error.field else "", reason):
        if key and key in RAZORPAY_CODES:
            return RAZORPAY_CODES[key]
    by_code = RAZORPAY_CODES.get(error.code)
    if reason and error.payment_id:
        # A payment failed for a reason we have not met: still a decline, not our bug.
        declined = by_code is not None and by_code[1] is _DECLINED
        return by_code if by_code and declined else (DeclineCode.GENERIC_DECLINE, _DECLINED)
    return by_code or (DeclineCode.PROVIDER_REJECTED, _INVALID)


def decline_of(error: RazorpayError) -> Decline | None:
    """A Decline when the error is a card decline, else None."""
    code, kind = translate(error)
    if kind is not _DECLINED:
        return None
    message = safe_text(error.description) or "the card payment failed"
    return Decline(code, message, error.raw_code)


def error_of(response: httpx.Response, error: RazorpayError | None = None) -> ProviderError:
    """The ProviderError for a non-200 reply (see the module docstring for the order)."""
    if error is None:
        try:
            error = parse_error(response.json())
        except ValueError:
            error = RazorpayError()
    status = response.status_code
    description = safe_text(error.description)
    if status == 401:
        return ProviderError(
            _INVALID,
            DeclineCode.PROVIDER_REJECTED,
            f"Razorpay refused our API credentials: {description or 'HTTP 401'}",
            raw_code=error.raw_code or "401",
            http_status=status,
        )
    shared = shared_status_error(response, error.raw_code)
    if shared is not None:
        return shared
    if status == 409:
        in_progress = "progress" in error.description.lower()
        return ProviderError(
            ErrorKind.RETRIABLE if in_progress else _INVALID,
            DeclineCode.PROVIDER_UNAVAILABLE if in_progress else DeclineCode.PROVIDER_REJECTED,
            f"Razorpay idempotency conflict: {description or 'HTTP 409'}",
            raw_code=error.raw_code or "409",
            http_status=status,
        )
    code, kind = translate(error)
    return ProviderError(
        kind,
        code,
        f"Razorpay refused the request: {description or f'HTTP {status}'}",
        raw_code=error.raw_code or str(status),
        http_status=status,
    )
