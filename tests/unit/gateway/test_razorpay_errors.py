"""Razorpay's error table and classifier: every entry, every status rule, nothing leaked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway_svc.adapters.providers.razorpay_errors import (
    RAZORPAY_CODES,
    RazorpayError,
    decline_of,
    error_of,
    error_of_payment,
    parse_error,
    safe_text,
    translate,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind

DEC, INV, UNK = ErrorKind.DECLINED, ErrorKind.INVALID, ErrorKind.UNKNOWN
RET = ErrorKind.RETRIABLE
BAD = "BAD_REQUEST_ERROR"

EXPECTED: dict[str, tuple[DeclineCode, ErrorKind]] = {
    "card_declined": (DeclineCode.GENERIC_DECLINE, DEC),
    "payment_failed": (DeclineCode.GENERIC_DECLINE, DEC),
    "card_not_enrolled": (DeclineCode.GENERIC_DECLINE, DEC),
    "card_disabled_for_online_payments": (DeclineCode.GENERIC_DECLINE, DEC),
    "debit_instrument_inactive": (DeclineCode.GENERIC_DECLINE, DEC),
    "transaction_limit_exceeded": (DeclineCode.GENERIC_DECLINE, DEC),
    "payment_cancelled": (DeclineCode.GENERIC_DECLINE, DEC),
    "insufficient_funds": (DeclineCode.INSUFFICIENT_FUNDS, DEC),
    "insufficient_fund": (DeclineCode.INSUFFICIENT_FUNDS, DEC),
    "card_expired": (DeclineCode.EXPIRED_CARD, DEC),
    "incorrect_cvv": (DeclineCode.INCORRECT_CVC, DEC),
    "card_number_invalid": (DeclineCode.INCORRECT_NUMBER, DEC),
    "debit_instrument_blocked": (DeclineCode.LOST_CARD, DEC),
    "payment_risk_check_failed": (DeclineCode.FRAUD_SUSPECTED, DEC),
    "authentication_failed": (DeclineCode.AUTHENTICATION_REQUIRED, DEC),
    "invalid_otp": (DeclineCode.AUTHENTICATION_REQUIRED, DEC),
    "incorrect_otp": (DeclineCode.AUTHENTICATION_REQUIRED, DEC),
    "gateway_technical_error": (DeclineCode.PROCESSING_ERROR, DEC),
    "bank_technical_error": (DeclineCode.PROCESSING_ERROR, DEC),
    "payment_timed_out": (DeclineCode.PROCESSING_ERROR, DEC),
    "input_validation_failed/amount": (DeclineCode.AMOUNT_INVALID, INV),
    "input_validation_failed/currency": (DeclineCode.CURRENCY_NOT_SUPPORTED, INV),
    "input_validation_failed": (DeclineCode.PROVIDER_REJECTED, INV),
    "BAD_REQUEST_ERROR": (DeclineCode.PROVIDER_REJECTED, INV),
    "GATEWAY_ERROR": (DeclineCode.PROCESSING_ERROR, DEC),
    "SERVER_ERROR": (DeclineCode.UNKNOWN_OUTCOME, UNK),
}


def test_the_table_is_exactly_the_reviewed_one() -> None:
    assert RAZORPAY_CODES == EXPECTED


def error_for_key(key: str) -> RazorpayError:
    """The error object a table key stands for."""
    if key.isupper():
        return RazorpayError(code=key, reason="NA")
    reason, _, field = key.partition("/")
    return RazorpayError(code="BAD_REQUEST_ERROR", reason=reason, field=field)


@pytest.mark.parametrize(("key", "expected"), sorted(EXPECTED.items()))
def test_each_entry_translates_as_the_table_says(
    key: str, expected: tuple[DeclineCode, ErrorKind]
) -> None:
    assert translate(error_for_key(key)) == expected


@pytest.mark.parametrize(
    ("key", "expected"), sorted(k for k in EXPECTED.items() if k[1][1] is ErrorKind.DECLINED)
)
def test_declined_entries_become_declines_with_razorpays_own_code(
    key: str, expected: tuple[DeclineCode, ErrorKind]
) -> None:
    error = error_for_key(key)
    decline = decline_of(RazorpayError(error.code, "Declined by bank", error.reason, error.field))
    assert decline is not None
    assert (decline.code, decline.message) == (expected[0], "Declined by bank")
    assert decline.raw_code == (error.reason if error.reason != "NA" else error.code)


@pytest.mark.parametrize(
    "key", sorted(k for k, v in EXPECTED.items() if v[1] is not ErrorKind.DECLINED)
)
def test_other_entries_are_not_declines(key: str) -> None:
    assert decline_of(error_for_key(key)) is None


def test_an_unknown_reason_of_a_failed_payment_is_a_generic_decline() -> None:
    error = RazorpayError(code="BAD_REQUEST_ERROR", reason="brand_new_reason", payment_id="pay_1")
    assert translate(error) == (DeclineCode.GENERIC_DECLINE, ErrorKind.DECLINED)


def test_an_unknown_reason_without_a_payment_is_invalid() -> None:
    error = RazorpayError(code="SOMETHING_NEW", reason="brand_new_reason")
    assert translate(error) == (DeclineCode.PROVIDER_REJECTED, ErrorKind.INVALID)


def test_a_field_the_table_does_not_refine_falls_back_to_the_reason() -> None:
    error = RazorpayError(code="BAD_REQUEST_ERROR", reason="input_validation_failed", field="email")
    assert translate(error) == (DeclineCode.PROVIDER_REJECTED, ErrorKind.INVALID)


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://api.razorpay.com/v1/orders")
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def body(code: str, description: str, reason: str = "NA", **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "description": description, "reason": reason, **extra}}


MISMATCH = "Different request with the same idempotency key has already been processed."
IN_PROGRESS = "Another request with the same idempotency key is still in progress."
NOT_INTEGER = body(BAD, "The amount must be an integer.", "input_validation_failed", field="amount")
STATUS_CASES = [
    (401, body(BAD, "The api key provided is invalid"), INV, "provider_rejected", BAD),
    (429, body(BAD, "Too many requests"), RET, "rate_limited", BAD),
    (503, body("SERVER_ERROR", "down"), RET, "provider_unavailable", "SERVER_ERROR"),
    (500, body("SERVER_ERROR", "The server failed."), UNK, "unknown_outcome", "SERVER_ERROR"),
    (502, body("GATEWAY_ERROR", "bad gateway"), UNK, "unknown_outcome", "GATEWAY_ERROR"),
    (504, b"<html>gateway timeout</html>", UNK, "unknown_outcome", "504"),
    (409, body(BAD, MISMATCH), INV, "provider_rejected", BAD),
    (409, body(BAD, IN_PROGRESS), RET, "provider_unavailable", BAD),
    (400, NOT_INTEGER, INV, "amount_invalid", "input_validation_failed"),
    (400, body(BAD, "The id provided does not exist"), INV, "provider_rejected", BAD),
    (400, body(BAD, "declined", "card_declined"), DEC, "generic_decline", "card_declined"),
    (400, b"not json", INV, "provider_rejected", "400"),
    (404, body(BAD, "nope"), INV, "provider_rejected", BAD),
]


@pytest.mark.parametrize(("status", "payload", "kind", "code", "raw"), STATUS_CASES)
def test_error_of_applies_the_status_rules_before_the_table(
    status: int, payload: Any, kind: ErrorKind, code: str, raw: str
) -> None:
    error = error_of(response(status, payload))
    assert (error.kind, error.code.value, error.raw_code, error.http_status) == (
        kind,
        code,
        raw,
        status,
    )


def test_retry_after_is_read_from_a_rate_limit() -> None:
    error = error_of(response(429, body("BAD_REQUEST_ERROR", "slow"), {"retry-after": "3"}))
    assert error.retry_after_s == 3.0


def test_parse_error_reads_metadata_and_tolerates_junk() -> None:
    parsed = parse_error(
        body(
            "BAD_REQUEST_ERROR",
            "Payment failed",
            "card_declined",
            field=None,
            metadata={"payment_id": "pay_1", "order_id": "order_1"},
        )
    )
    assert (parsed.payment_id, parsed.order_id, parsed.field) == ("pay_1", "order_1", "")
    assert parse_error([1, 2]) == RazorpayError()
    assert parse_error({"error": "flat"}) == RazorpayError()
    assert parse_error({"error": {"metadata": []}}).payment_id == ""


def test_a_failed_payment_entity_gives_the_same_error() -> None:
    entity = {
        "id": "pay_1",
        "order_id": "order_1",
        "error_code": "BAD_REQUEST_ERROR",
        "error_reason": "incorrect_cvv",
        "error_description": "Wrong CVV",
    }
    error = error_of_payment(entity)
    assert (error.raw_code, error.payment_id) == ("incorrect_cvv", "pay_1")
    decline = decline_of(error)
    assert decline is not None and decline.code is DeclineCode.INCORRECT_CVC


def test_messages_never_carry_a_card_number_and_stay_short() -> None:
    echoed = "Card 4242424242424242 was declined " + "x" * 400
    assert "4242424242424242" not in safe_text(echoed) and len(safe_text(echoed)) == 200
    error = error_of(response(400, body("BAD_REQUEST_ERROR", echoed)))
    assert "4242424242424242" not in str(error) and "4242424242424242" not in repr(error)
    decline = decline_of(RazorpayError("BAD_REQUEST_ERROR", echoed, "card_declined"))
    assert decline is not None and "4242424242424242" not in decline.message


def test_an_unknown_reason_of_a_failed_gateway_payment_keeps_the_processing_error() -> None:
    error = RazorpayError(code="GATEWAY_ERROR", reason="brand_new_reason", payment_id="pay_1")
    assert translate(error) == (DeclineCode.PROCESSING_ERROR, ErrorKind.DECLINED)
