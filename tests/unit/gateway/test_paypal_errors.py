"""PayPal's error table, entry by entry, and the classifier around it (no I/O)."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway_svc.adapters.providers.paypal import request_id
from gateway_svc.adapters.providers.paypal_errors import (
    ISSUES,
    NAMES,
    PROCESSOR_CODES,
    classify,
    processor_decline,
    safe_text,
)
from gateway_svc.adapters.providers.paypal_money import to_minor, to_value
from gateway_svc.adapters.providers.paypal_wire import charge_from_order
from gateway_svc.domain.providers import ChargeStatus, DeclineCode, ErrorKind, ProviderError


def paypal_error(status: int, name: str, issue: str = "", **headers: str) -> httpx.Response:
    body: dict[str, object] = {"name": name, "message": "m", "debug_id": "abc123"}
    if issue:
        body["details"] = [{"issue": issue, "description": f"{issue} happened."}]
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(("code", "expected"), sorted(PROCESSOR_CODES.items()))
def test_every_processor_code_has_its_decline(code: str, expected: tuple[DeclineCode, str]) -> None:
    decline = processor_decline(code)
    assert (decline.code, decline.message, decline.raw_code) == (*expected, code)


def test_an_unknown_processor_code_is_a_generic_decline() -> None:
    decline = processor_decline("ZZ99")
    assert (decline.code, decline.raw_code) == (DeclineCode.GENERIC_DECLINE, "ZZ99")


@pytest.mark.parametrize(("issue", "expected"), sorted(ISSUES.items()))
def test_every_issue_classifies_as_its_table_entry(
    issue: str, expected: tuple[ErrorKind, DeclineCode]
) -> None:
    error = classify(paypal_error(422, "UNPROCESSABLE_ENTITY", issue))
    assert (error.kind, error.code, error.raw_code, error.http_status) == (*expected, issue, 422)
    assert error.message == f"{issue} happened."


@pytest.mark.parametrize(("name", "expected"), sorted(NAMES.items()))
def test_every_name_classifies_when_the_issue_is_absent(
    name: str, expected: tuple[ErrorKind, DeclineCode]
) -> None:
    status = 401 if name in ("AUTHENTICATION_FAILURE", "invalid_token", "invalid_client") else 400
    error = classify(paypal_error(status, name))
    assert (error.kind, error.code, error.raw_code) == (*expected, name)


def test_the_table_never_calls_a_payer_refusal_retriable() -> None:
    kinds = {kind for kind, _ in ISSUES.values()} | {kind for kind, _ in NAMES.values()}
    assert kinds == {ErrorKind.DECLINED, ErrorKind.INVALID}


@pytest.mark.parametrize(
    ("response", "kind", "code"),
    [
        (httpx.Response(401, json={"error": "invalid_token"}), ErrorKind.INVALID,
         DeclineCode.PROVIDER_REJECTED),
        (paypal_error(429, "RATE_LIMIT_REACHED", **{"retry-after": "7"}), ErrorKind.RETRIABLE,
         DeclineCode.RATE_LIMITED),
        (paypal_error(503, "SERVICE_UNAVAILABLE"), ErrorKind.RETRIABLE,
         DeclineCode.PROVIDER_UNAVAILABLE),
        (paypal_error(500, "INTERNAL_SERVER_ERROR"), ErrorKind.UNKNOWN,
         DeclineCode.UNKNOWN_OUTCOME),
        (httpx.Response(502, text="<html>bad gateway</html>"), ErrorKind.UNKNOWN,
         DeclineCode.UNKNOWN_OUTCOME),
        (httpx.Response(409, json={"name": "CONFLICT"}), ErrorKind.UNKNOWN,
         DeclineCode.UNKNOWN_OUTCOME),
        (paypal_error(422, "UNPROCESSABLE_ENTITY", "SOMETHING_NEW"), ErrorKind.INVALID,
         DeclineCode.PROVIDER_REJECTED),
        (httpx.Response(400, text="not json"), ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED),
        (httpx.Response(418, json=[1, 2]), ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED),
        (httpx.Response(302), ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME),
    ],
)  # fmt: skip
def test_statuses_outside_the_table(
    response: httpx.Response, kind: ErrorKind, code: DeclineCode
) -> None:
    error = classify(response)
    assert (error.kind, error.code, error.http_status) == (kind, code, response.status_code)


def test_rate_limiting_keeps_paypals_wait() -> None:
    error = classify(paypal_error(429, "RATE_LIMIT_REACHED", **{"retry-after": "7"}))
    assert (error.retry_after_s, error.raw_code) == (7.0, "RATE_LIMIT_REACHED")


def test_messages_never_carry_a_card_number() -> None:
    body = {
        "name": "INVALID_REQUEST",
        "details": [{"issue": "X", "description": "bad number 4242424242424242 given"}],
    }
    error = classify(httpx.Response(400, content=json.dumps(body).encode()))
    assert "4242424242424242" not in error.message
    assert safe_text("", "fallback") == "fallback"
    assert len(safe_text("x" * 500, "")) == 200


# -- money and request ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "value"),
    [(1050, "USD", "10.50"), (5, "USD", "0.05"), (500, "JPY", "500"), (1000, "HUF", "10"),
     (123_400, "TWD", "1234"), (99, "EUR", "0.99")],
)  # fmt: skip
def test_minor_units_round_trip_through_paypal_values(
    minor: int, currency: str, value: str
) -> None:
    assert to_value(minor, currency) == value
    assert to_minor(value, currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "code"),
    [(1050, "HUF", DeclineCode.AMOUNT_INVALID), (0, "USD", DeclineCode.AMOUNT_INVALID),
     (-5, "USD", DeclineCode.AMOUNT_INVALID), (100, "KWD", DeclineCode.CURRENCY_NOT_SUPPORTED),
     (100, "INR", DeclineCode.CURRENCY_NOT_SUPPORTED)],
)  # fmt: skip
def test_amounts_paypal_cannot_represent_are_invalid_and_unsent(
    minor: int, currency: str, code: DeclineCode
) -> None:
    with pytest.raises(ProviderError) as caught:
        to_value(minor, currency)
    assert (caught.value.kind, caught.value.code, caught.value.sent) == (
        ErrorKind.INVALID,
        code,
        False,
    )


@pytest.mark.parametrize("value", ["ten", "1.234", None, 10, "1,00"])
def test_an_amount_we_cannot_read_in_a_reply_is_unknown(value: object) -> None:
    with pytest.raises(ProviderError) as caught:
        to_minor(value, "USD")
    assert caught.value.kind is ErrorKind.UNKNOWN


def test_an_order_reply_without_its_parts_is_unknown() -> None:
    broken_replies: list[object] = [
        {},
        {"id": "X", "status": "COMPLETED"},
        [],
        {"id": "X", "purchase_units": [1]},
    ]
    for broken in broken_replies:
        with pytest.raises(ProviderError) as caught:
            charge_from_order(broken)
        assert caught.value.kind is ErrorKind.UNKNOWN


def test_a_pending_capture_is_a_pending_charge() -> None:
    order = {
        "id": "O1",
        "intent": "CAPTURE",
        "status": "COMPLETED",
        "purchase_units": [
            {
                "amount": {"currency_code": "USD", "value": "5.00"},
                "payments": {
                    "captures": [
                        {"id": "C1", "status": "PENDING", "amount": {"currency_code": "USD",
                                                                   "value": "5.00"}}
                    ]
                },
            }
        ],
    }  # fmt: skip
    charge = charge_from_order(order)
    assert (charge.status, charge.captured_minor, charge.fee_minor) == (
        ChargeStatus.PENDING,
        0,
        None,
    )


def test_request_ids_are_deterministic_per_operation_and_within_paypals_limit() -> None:
    assert request_id("capture", "k1") == request_id("capture", "k1") == "paymesh-capture-k1"
    assert request_id("capture", "k1") != request_id("refund", "k1")
    long_key = "k" * 200
    assert len(request_id("authorize", long_key)) <= 108
    assert request_id("authorize", long_key) == request_id("authorize", long_key)
    assert request_id("authorize", "clé\n") != request_id("authorize", "cle\n")
    assert request_id("authorize", "clé\n").isascii()
