"""Stripe's error and decline codes -> DeclineCode + ErrorKind, every entry of the table."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import pytest

from gateway_svc.adapters.providers.stripe_errors import (
    CODES,
    decline_of,
    error_of,
    safe_message,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind

D, INV, R, U = ErrorKind.DECLINED, ErrorKind.INVALID, ErrorKind.RETRIABLE, ErrorKind.UNKNOWN
C = DeclineCode

GENERIC = [
    "generic_decline",
    "card_declined",
    "do_not_honor",
    "do_not_try_again",
    "call_issuer",
    "pickup_card",
    "restricted_card",
    "security_violation",
    "service_not_allowed",
    "stop_payment_order",
    "transaction_not_allowed",
    "not_permitted",
    "no_action_taken",
    "revocation_of_all_authorizations",
    "revocation_of_authorization",
    "new_account_information_available",
    "invalid_account",
    "card_not_supported",
    "card_velocity_exceeded",
    "withdrawal_count_limit_exceeded",
    "testmode_decline",
    "duplicate_transaction",
    "approve_with_id",
    "offline_pin_required",
    "online_or_offline_pin_required",
    "incorrect_pin",
    "invalid_pin",
    "pin_try_exceeded",
    "incorrect_zip",
    "card_decline_rate_limit_exceeded",
]
REJECTED = [
    "parameter_missing",
    "parameter_invalid_integer",
    "parameter_invalid_empty",
    "parameter_invalid_string_blank",
    "parameter_invalid_string_empty",
    "parameter_unknown",
    "parameters_exclusive",
    "url_invalid",
    "resource_missing",
    "payment_intent_unexpected_state",
    "payment_method_unexpected_state",
    "charge_already_captured",
    "charge_not_refundable",
    "charge_expired_for_capture",
    "charge_disputed",
    "api_key_expired",
    "secret_key_required",
    "testmode_charges_only",
    "livemode_mismatch",
    "platform_api_key_expired",
    "account_invalid",
    "idempotency_error",
]
EXPECTED: dict[str, tuple[DeclineCode, ErrorKind]] = {
    **dict.fromkeys(GENERIC, (C.GENERIC_DECLINE, D)),
    "insufficient_funds": (C.INSUFFICIENT_FUNDS, D),
    "expired_card": (C.EXPIRED_CARD, D),
    "invalid_expiry_month": (C.EXPIRED_CARD, D),
    "invalid_expiry_year": (C.EXPIRED_CARD, D),
    "incorrect_cvc": (C.INCORRECT_CVC, D),
    "invalid_cvc": (C.INCORRECT_CVC, D),
    "incorrect_number": (C.INCORRECT_NUMBER, D),
    "invalid_number": (C.INCORRECT_NUMBER, D),
    "lost_card": (C.LOST_CARD, D),
    "stolen_card": (C.STOLEN_CARD, D),
    "fraudulent": (C.FRAUD_SUSPECTED, D),
    "merchant_blacklist": (C.FRAUD_SUSPECTED, D),
    "processing_error": (C.PROCESSING_ERROR, D),
    "try_again_later": (C.PROCESSING_ERROR, D),
    "issuer_not_available": (C.PROCESSING_ERROR, D),
    "reenter_transaction": (C.PROCESSING_ERROR, D),
    "authentication_required": (C.AUTHENTICATION_REQUIRED, D),
    "payment_intent_authentication_failure": (C.AUTHENTICATION_REQUIRED, D),
    "currency_not_supported": (C.CURRENCY_NOT_SUPPORTED, D),
    "invalid_amount": (C.AMOUNT_INVALID, D),
    **dict.fromkeys(REJECTED, (C.PROVIDER_REJECTED, INV)),
    "amount_too_small": (C.AMOUNT_INVALID, INV),
    "amount_too_large": (C.AMOUNT_INVALID, INV),
    "invalid_charge_amount": (C.AMOUNT_INVALID, INV),
    "invalid_charge_amount_no_decimal_compatible": (C.AMOUNT_INVALID, INV),
    "charge_already_refunded": (C.AMOUNT_INVALID, INV),
    "charge_exceeds_source_limit": (C.AMOUNT_INVALID, INV),
    "balance_insufficient": (C.AMOUNT_INVALID, INV),
    "rate_limit": (C.RATE_LIMITED, R),
    "lock_timeout": (C.PROVIDER_UNAVAILABLE, R),
    "idempotency_key_in_use": (C.UNKNOWN_OUTCOME, U),
}
STATUS_OF_KIND = {D: 402, INV: 400, R: 429, U: 409}


def reply(status: int, error: Mapping[str, object], **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps({"error": error}).encode(), headers=headers)


def test_every_table_entry_has_an_expectation() -> None:
    assert set(EXPECTED) == set(CODES)


@pytest.mark.parametrize(("raw", "expected"), sorted(EXPECTED.items()))
def test_each_code_translates(raw: str, expected: tuple[DeclineCode, ErrorKind]) -> None:
    code, kind = expected
    field = "type" if raw == "idempotency_error" else "code"
    error: dict[str, object] = {field: raw, "message": "Stripe said so."}
    if kind is D:
        decline = decline_of(error)
        assert (decline.code, decline.raw_code) == (code, raw)
        assert decline.message == "Stripe said so."
        return
    failure = error_of(reply(STATUS_OF_KIND[kind], error), error)
    assert (failure.code, failure.kind, failure.raw_code) == (code, kind, raw)
    assert failure.sent is True


def test_decline_code_wins_over_the_generic_code() -> None:
    error = {"code": "card_declined", "decline_code": "stolen_card", "type": "card_error"}
    decline = decline_of(error)
    assert (decline.code, decline.raw_code) == (C.STOLEN_CARD, "stolen_card")


def test_an_unknown_decline_code_is_a_generic_decline_keeping_stripes_word() -> None:
    decline = decline_of({"code": "card_declined", "decline_code": "brand_new_reason"})
    assert (decline.code, decline.raw_code) == (C.GENERIC_DECLINE, "brand_new_reason")


@pytest.mark.parametrize(
    ("param", "code"),
    [
        ("currency", C.CURRENCY_NOT_SUPPORTED),
        ("amount", C.AMOUNT_INVALID),
        ("amount_to_capture", C.AMOUNT_INVALID),
        ("description", C.PROVIDER_REJECTED),
    ],
)
def test_a_refused_parameter_names_what_was_wrong(param: str, code: DeclineCode) -> None:
    for error in (
        {"type": "invalid_request_error", "param": param, "message": "Invalid."},
        {"type": "invalid_request_error", "code": "parameter_missing", "param": param},
    ):
        failure = error_of(reply(400, error), error)
        assert (failure.kind, failure.code) == (INV, code)


@pytest.mark.parametrize(
    ("status", "headers", "kind", "code"),
    [
        (500, {}, U, C.UNKNOWN_OUTCOME),
        (500, {"stripe-should-retry": "false"}, U, C.UNKNOWN_OUTCOME),
        (500, {"stripe-should-retry": "true"}, R, C.UNKNOWN_OUTCOME),
        (502, {}, U, C.UNKNOWN_OUTCOME),
        (503, {}, R, C.PROVIDER_UNAVAILABLE),
        (503, {"stripe-should-retry": "false"}, U, C.UNKNOWN_OUTCOME),
        (429, {}, R, C.RATE_LIMITED),
        (400, {"stripe-should-retry": "true"}, R, C.PROVIDER_REJECTED),
        (404, {}, INV, C.PROVIDER_REJECTED),
        (401, {}, INV, C.PROVIDER_REJECTED),
        (403, {}, INV, C.PROVIDER_REJECTED),
        (409, {}, U, C.UNKNOWN_OUTCOME),
    ],
)
def test_statuses_and_stripes_retry_verdict(
    status: int, headers: dict[str, str], kind: ErrorKind, code: DeclineCode
) -> None:
    error = {"type": "api_error" if status >= 500 else "invalid_request_error", "message": "x"}
    failure = error_of(reply(status, error, **headers), error)
    assert (failure.kind, failure.http_status) == (kind, status)
    if kind is not R or status >= 500 or status == 429:
        assert failure.code == code


def test_a_key_in_use_stays_unknown_whatever_stripe_advises() -> None:
    error = {"type": "idempotency_error", "code": "idempotency_key_in_use", "message": "busy"}
    failure = error_of(reply(409, error, **{"stripe-should-retry": "true"}), error)
    assert failure.kind is U


def test_retry_after_is_kept_for_a_rate_limit() -> None:
    error = {"type": "invalid_request_error", "code": "rate_limit", "message": "slow down"}
    failure = error_of(reply(429, error, **{"retry-after": "2"}), error)
    assert (failure.kind, failure.retry_after_s) == (R, 2.0)


def test_an_auth_failure_never_repeats_stripes_message() -> None:
    error = {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_abc"}
    failure = error_of(reply(401, error), error)
    assert "sk_test" not in str(failure) and "sk_test" not in repr(failure)


@pytest.mark.parametrize(
    "text",
    [
        "Card 4242424242424242 was refused",
        "Key sk_live_51Habcdef is not allowed",
        "Restricted key rk_test_xyz",
    ],
)
def test_card_numbers_and_keys_are_scrubbed_from_messages(text: str) -> None:
    cleaned = safe_message(text)
    assert "4242424242424242" not in cleaned
    assert "_live_" not in cleaned and "rk_test" not in cleaned


def test_an_error_body_that_is_not_json_falls_back_to_the_status() -> None:
    failure = error_of(httpx.Response(502, content=b"<html>bad gateway</html>"), {})
    assert (failure.kind, failure.raw_code) == (U, "502")
