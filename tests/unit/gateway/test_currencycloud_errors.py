"""Currencycloud's error table, entry by entry, and the classifier around it (no I/O)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway_svc.adapters.providers.currencycloud_errors import (
    CODES,
    FIELDS,
    classify,
    is_duplicate_request,
)
from gateway_svc.domain.fx_provider import (
    FieldViolation,
    ProviderNotFound,
    ProviderValidationError,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError


def cc_error(
    status: int, error_code: str, messages: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    body = {"error_code": error_code, "error_messages": messages or {}}
    return httpx.Response(status, json=body, headers=headers)


def reason(code: str, message: str = "m") -> list[dict[str, object]]:
    return [{"code": code, "message": message, "params": {}}]


@pytest.mark.parametrize(("code", "expected"), sorted(CODES.items()))
def test_every_code_as_a_reason_classifies_as_its_table_entry(
    code: str, expected: tuple[ErrorKind, DeclineCode]
) -> None:
    error = classify(cc_error(400, "something_failed", {"amount": reason(code, "why")}))
    assert isinstance(error, ProviderValidationError)
    assert (error.kind, error.code) == expected
    assert error.violations == (FieldViolation("amount", code, "why"),)


@pytest.mark.parametrize(
    ("code", "expected"), sorted((c, e) for c, e in CODES.items() if c.endswith("_failed"))
)
def test_every_whole_failure_code_classifies_without_reasons(
    code: str, expected: tuple[ErrorKind, DeclineCode]
) -> None:
    error = classify(cc_error(400, code))
    assert type(error) is ProviderError
    assert (error.kind, error.code, error.raw_code, error.http_status) == (*expected, code, 400)


@pytest.mark.parametrize(("key", "field"), sorted(FIELDS.items()))
def test_error_message_keys_are_renamed_to_our_fields(key: str, field: str) -> None:
    error = classify(cc_error(400, "payment_create_failed", {key: reason("some_code")}))
    assert isinstance(error, ProviderValidationError)
    assert [v.field for v in error.violations] == [field]


def test_currencycloud_s_recorded_validation_error_becomes_two_field_violations() -> None:
    # Recorded from Currencycloud's demo API (beneficiaries/validate, SDK test cassettes).
    response = cc_error(
        400,
        "beneficiary_not_valid",
        {
            "account_number": reason("account_number_is_missing", "Account number is missing"),
            "routing_code": reason("sort_code_is_missing", "Sort code is missing"),
        },
    )
    error = classify(response)
    assert isinstance(error, ProviderValidationError)
    assert (error.kind, error.code, error.raw_code) == (
        ErrorKind.INVALID,
        DeclineCode.PROVIDER_REJECTED,
        "beneficiary_not_valid",
    )
    assert error.fields() == {
        "account_number": [
            FieldViolation(
                "account_number", "account_number_is_missing", "Account number is missing"
            )
        ],
        "routing_code_value_1": [
            FieldViolation("routing_code_value_1", "sort_code_is_missing", "Sort code is missing")
        ],
    }
    assert "Account number is missing and 1 more" in error.message


def test_a_single_reason_object_instead_of_a_list_is_read_too() -> None:
    # Recorded shape of reference/bank_details: "base": {"code": ...} without the list.
    response = cc_error(
        400, "invalid_iban", {"base": {"code": "invalid_iban", "message": "IBAN is invalid."}}
    )
    error = classify(response)
    assert isinstance(error, ProviderValidationError)
    assert error.violations == (FieldViolation("", "invalid_iban", "IBAN is invalid."),)


def test_a_temporary_reason_makes_the_whole_refusal_retriable() -> None:
    messages = {
        "base": reason("rate_could_not_be_retrieved"),
        "amount": reason("amount_is_too_small"),
    }
    error = classify(cc_error(400, "rate_detailed_failed", messages, **{"retry-after": "2"}))
    assert (error.kind, error.code, error.retry_after_s) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        2.0,
    )


def test_the_first_specific_reason_wins_over_plain_rejections() -> None:
    messages = {
        "reason": reason("reason_is_required"),
        "buy_currency": reason("invalid_buy_currency"),
        "amount": reason("amount_is_too_small"),
    }
    error = classify(cc_error(400, "conversion_create_failed", messages))
    assert error.code is DeclineCode.CURRENCY_NOT_SUPPORTED


@pytest.mark.parametrize(
    ("status", "code", "kind", "decline"),
    [
        (429, "too_many_requests", ErrorKind.RETRIABLE, DeclineCode.RATE_LIMITED),
        (503, "service_unavailable", ErrorKind.RETRIABLE, DeclineCode.PROVIDER_UNAVAILABLE),
        (500, "internal_server_error", ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME),
        (502, "bad_gateway", ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME),
        (401, "auth_failed", ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED),
        (403, "permission_denied", ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED),
        (422, "unprocessable_entity", ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED),
        (400, "never_heard_of_it", ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED),
        (409, "never_heard_of_it", ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME),
    ],
)
def test_statuses_classify_with_the_body_s_code_kept(
    status: int, code: str, kind: ErrorKind, decline: DeclineCode
) -> None:
    messages = {"base": reason(code)} if status >= 429 else None
    error = classify(cc_error(status, code, messages, **{"retry-after": "3"}))
    assert (error.kind, error.code, error.raw_code, error.http_status) == (
        kind,
        decline,
        code,
        status,
    )
    if status in (429, 503):
        assert error.retry_after_s == 3.0


def test_a_404_is_provider_not_found() -> None:
    response = cc_error(404, "payment_not_found", {"id": reason("payment_not_found")})
    error = classify(response)
    assert isinstance(error, ProviderNotFound)
    assert (error.kind, error.raw_code) == (ErrorKind.INVALID, "payment_not_found")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400, text="<html>bad gateway</html>"),
        httpx.Response(400, json=["not", "an", "object"]),
        httpx.Response(400, json={"error_code": 7, "error_messages": "nope"}),
    ],
)
def test_an_unreadable_error_body_still_classifies_by_status(response: httpx.Response) -> None:
    error = classify(response)
    assert (error.kind, error.raw_code) == (ErrorKind.INVALID, "400")


def test_long_messages_are_capped() -> None:
    error = classify(cc_error(400, "x_failed", {"base": reason("c", "y" * 5000)}))
    assert isinstance(error, ProviderValidationError)
    assert len(error.violations[0].message) == 300


def test_duplicate_request_is_recognised_and_nothing_else_is() -> None:
    duplicate = classify(
        cc_error(
            400, "conversion_create_failed", {"duplicate_request": reason("duplicate_request")}
        )
    )
    other = classify(
        cc_error(400, "conversion_create_failed", {"amount": reason("amount_is_required")})
    )
    assert duplicate.kind is ErrorKind.INVALID
    assert is_duplicate_request(duplicate) is True
    assert is_duplicate_request(other) is False
    plain = ProviderError(ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, "duplicate_request")
    assert is_duplicate_request(plain) is False


def test_the_table_never_calls_a_refusal_unknown() -> None:
    # UNKNOWN means "Currencycloud may have acted"; only its own 500 code may say that.
    unknown = {code for code, (kind, _) in CODES.items() if kind is ErrorKind.UNKNOWN}
    assert unknown == {"internal_server_error"}
