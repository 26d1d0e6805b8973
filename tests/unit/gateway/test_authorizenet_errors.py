"""The Authorize.net adapter's translation tables: reason codes, message codes, statuses,
HTTP replies and amounts, without any I/O."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from gateway_svc.adapters.providers import authorizenet_errors as errors
from gateway_svc.adapters.providers import authorizenet_wire as wire
from gateway_svc.adapters.providers.authorizenet_results import (
    STATUSES,
    charge_from_details,
    decline_of,
    read_transaction,
)
from gateway_svc.domain.providers import (
    Card,
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    ProviderError,
)
from sandbox.authorizenet.schema import ROOTS, validate

DEC, RET, UNK, INV = ErrorKind.DECLINED, ErrorKind.RETRIABLE, ErrorKind.UNKNOWN, ErrorKind.INVALID


EXPECTED_REASONS: list[tuple[str, DeclineCode, ErrorKind]] = [
    ("2", DeclineCode.GENERIC_DECLINE, DEC),
    ("3", DeclineCode.GENERIC_DECLINE, DEC),
    ("4", DeclineCode.LOST_CARD, DEC),
    ("5", DeclineCode.AMOUNT_INVALID, INV),
    ("6", DeclineCode.INCORRECT_NUMBER, DEC),
    ("7", DeclineCode.EXPIRED_CARD, DEC),
    ("8", DeclineCode.EXPIRED_CARD, DEC),
    ("11", DeclineCode.UNKNOWN_OUTCOME, UNK),
    ("13", DeclineCode.PROVIDER_REJECTED, INV),
    ("16", DeclineCode.PROVIDER_REJECTED, INV),
    ("17", DeclineCode.PROVIDER_REJECTED, INV),
    *((str(n), DeclineCode.PROCESSING_ERROR, RET) for n in (19, 20, 21, 22, 23, 25, 26)),
    ("27", DeclineCode.GENERIC_DECLINE, DEC),
    ("28", DeclineCode.PROVIDER_REJECTED, INV),
    *((str(n), DeclineCode.PROVIDER_REJECTED, INV) for n in (24, 29, 30, 31, 34, 35)),
    ("33", DeclineCode.PROVIDER_REJECTED, INV),
    ("37", DeclineCode.INCORRECT_NUMBER, DEC),
    ("39", DeclineCode.CURRENCY_NOT_SUPPORTED, INV),
    ("44", DeclineCode.INCORRECT_CVC, DEC),
    ("45", DeclineCode.INCORRECT_CVC, DEC),
    *((str(n), DeclineCode.AMOUNT_INVALID, INV) for n in (47, 48, 49, 51, 55)),
    ("50", DeclineCode.PROVIDER_REJECTED, INV),
    ("54", DeclineCode.PROVIDER_REJECTED, INV),
    *((str(n), DeclineCode.PROCESSING_ERROR, RET) for n in range(57, 64)),
    ("65", DeclineCode.INCORRECT_CVC, DEC),
    ("78", DeclineCode.INCORRECT_CVC, DEC),
    *((str(n), DeclineCode.UNKNOWN_OUTCOME, UNK) for n in (120, 121, 122)),
    ("127", DeclineCode.GENERIC_DECLINE, DEC),
    *((str(n), DeclineCode.FRAUD_SUSPECTED, DEC) for n in (141, 145, 250, 251, 254)),
    ("310", DeclineCode.PROVIDER_REJECTED, INV),
    ("311", DeclineCode.PROVIDER_REJECTED, INV),
]


@pytest.mark.parametrize(("reason", "code", "kind"), EXPECTED_REASONS)
def test_each_reason_code_translates(reason: str, code: DeclineCode, kind: ErrorKind) -> None:
    translation = errors.for_reason(reason, "3")
    assert (translation.code, translation.kind) == (code, kind)
    decline = decline_of(reason, "2")
    assert (decline is not None) == (kind is DEC)
    if decline is not None:
        assert (decline.code, decline.raw_code) == (code, reason)


def test_every_reason_in_the_table_has_an_expectation() -> None:
    # A row added to the table without an expectation here fails, not silently.
    assert {row[0] for row in EXPECTED_REASONS} == set(errors.REASONS)


@pytest.mark.parametrize(("response_code", "kind"), [("2", DEC), ("3", INV)])
def test_an_unlisted_reason_is_a_decline_or_a_refusal_by_response_code(
    response_code: str, kind: ErrorKind
) -> None:
    assert errors.for_reason("9999", response_code).kind is kind


EXPECTED_MESSAGES: list[tuple[str, ErrorKind]] = [
    ("E00001", UNK),
    *((c, INV) for c in ("E00002", "E00003", "E00004", "E00005", "E00006", "E00007")),
    *((c, INV) for c in ("E00008", "E00009", "E00027", "E00040")),
    ("E00104", RET),
    ("E09999", INV),
]


@pytest.mark.parametrize(("code", "kind"), EXPECTED_MESSAGES)
def test_each_message_code_translates(code: str, kind: ErrorKind) -> None:
    assert errors.for_message(code).kind is kind


def test_every_message_code_has_an_expectation() -> None:
    assert set(errors.MESSAGES) <= {row[0] for row in EXPECTED_MESSAGES}


def test_translations_carry_no_card_data() -> None:
    rows = [*errors.REASONS.values(), *errors.MESSAGES.values()]
    assert all(not any(ch.isdigit() for ch in row.message) for row in rows)


def test_scrub_blanks_quoted_values_and_card_numbers() -> None:
    text = (
        "The 'AnetApi/xml/v1/schema/AnetApiSchema.xsd:cardNumber' element is invalid - The value"
        " '41111111111111111' is invalid according to its datatype 'String'"
    )
    scrubbed = errors.scrub(text + " 4111111111111111")
    assert "4111" not in scrubbed
    assert "value '[redacted]'" in scrubbed


def reply(status: int, payload: object, headers: dict[str, str] | None = None) -> httpx.Response:
    body = wire_body(payload)
    return httpx.Response(status, content=body, headers=headers)


def wire_body(payload: object) -> bytes:
    return b"\xef\xbb\xbf" + json.dumps(payload).encode()


def test_a_reply_with_a_bom_is_read() -> None:
    parsed = wire.read_reply(reply(200, {"messages": {"resultCode": "Ok"}}), mutation=True)
    assert parsed == {"messages": {"resultCode": "Ok"}}


@pytest.mark.parametrize(
    ("status", "headers", "kind", "code"),
    [
        (503, None, RET, DeclineCode.PROVIDER_UNAVAILABLE),
        (500, None, UNK, DeclineCode.UNKNOWN_OUTCOME),
        (502, None, UNK, DeclineCode.UNKNOWN_OUTCOME),
        (429, {"retry-after": "3"}, RET, DeclineCode.RATE_LIMITED),
        (404, None, INV, DeclineCode.PROVIDER_REJECTED),
    ],
)
def test_http_statuses_translate(
    status: int, headers: dict[str, str] | None, kind: ErrorKind, code: DeclineCode
) -> None:
    with pytest.raises(ProviderError) as caught:
        wire.read_reply(reply(status, {}, headers), mutation=True)
    assert (caught.value.kind, caught.value.code, caught.value.http_status) == (kind, code, status)
    if status == 429:
        assert caught.value.retry_after_s == 3.0


@pytest.mark.parametrize(("mutation", "kind"), [(True, UNK), (False, RET)])
def test_an_unreadable_reply_is_unknown_only_when_it_may_have_acted(
    mutation: bool, kind: ErrorKind
) -> None:
    with pytest.raises(ProviderError) as caught:
        wire.read_reply(httpx.Response(200, content=b"<html>oops</html>"), mutation=mutation)
    assert caught.value.kind is kind


def test_a_refusal_before_any_transaction_raises_its_message_code() -> None:
    refused = {
        "messages": {
            "resultCode": "Error",
            "message": [{"code": "E00003", "text": "The value '4111111111111111' is invalid"}],
        }
    }
    with pytest.raises(ProviderError) as caught:
        read_transaction(refused)
    assert (caught.value.kind, caught.value.raw_code) == (INV, "E00003")
    assert "4111111111111111" not in str(caught.value)


def test_an_ok_reply_without_a_transaction_is_unknown() -> None:
    with pytest.raises(ProviderError) as caught:
        read_transaction({"messages": {"resultCode": "Ok", "message": []}})
    assert caught.value.kind is UNK


def test_a_transaction_response_is_read() -> None:
    result = read_transaction(
        {
            "transactionResponse": {
                "responseCode": "5",
                "transId": "123",
                "accountNumber": f"{wire.MASK}0015",
                "accountType": "MasterCard",
                "messages": [{"code": "2000", "description": "Need payer consent."}],
                "secureAcceptance": {"SecureAcceptanceUrl": "https://pay.example/x"},
            },
            "messages": {"resultCode": "Ok", "message": [{"code": "I00001", "text": "x"}]},
        }
    )
    assert (result.response_code, result.reason, result.last4) == ("5", "2000", "0015")
    assert result.action_url == "https://pay.example/x"


def details(status: str, response_code: int = 1, reason: int = 1) -> dict[str, object]:
    return {
        "transId": "77",
        "transactionStatus": status,
        "responseCode": response_code,
        "responseReasonCode": reason,
        "authAmount": Decimal("100.00"),
        "settleAmount": Decimal("60.5"),
        "payment": {"creditCard": {"cardNumber": f"{wire.MASK}1111", "cardType": "Visa"}},
    }


@pytest.mark.parametrize(("word", "status"), sorted(STATUSES.items()))
def test_each_transaction_status_maps(word: str, status: ChargeStatus) -> None:
    charge = charge_from_details(details(word, reason=2), "USD")
    assert (charge.status, charge.raw_status, charge.refs["last4"]) == (status, word, "1111")
    assert charge.captured_minor == (6_050 if status is ChargeStatus.CAPTURED else 0)
    assert (charge.decline is not None) == (status is ChargeStatus.DECLINED)


def test_an_unknown_status_is_pending_and_payer_consent_requires_action() -> None:
    assert charge_from_details(details("somethingNew"), "USD").status is ChargeStatus.PENDING
    waiting = charge_from_details(details("pendingPayerConsent", 5, 2000), "USD")
    assert waiting.status is ChargeStatus.REQUIRES_ACTION


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1050, "USD", "10.50"), (5, "USD", "0.05"), (500, "JPY", "500"), (1234, "KWD", "1.234")],
)
def test_amounts_convert_both_ways(minor: int, currency: str, text: str) -> None:
    assert wire.to_amount(minor, currency) == text
    assert wire.to_minor(text, currency) == minor
    assert wire.to_minor(Decimal(text), currency) == minor


@pytest.mark.parametrize("value", ["10.505", "abc", True, 1.5])
def test_an_amount_that_is_not_whole_minor_units_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"amount|decimal|minor units"):
        wire.to_minor(value, "USD")


def test_references_are_20_characters_deterministic_and_distinct() -> None:
    long_key = "k" * 300
    assert len(wire.reference_for(long_key)) == wire.REFERENCE_LENGTH
    assert wire.reference_for(long_key) == wire.reference_for(long_key)
    assert wire.reference_for(long_key) != wire.reference_for(long_key + "x")


def test_request_bodies_follow_the_schema_order() -> None:
    card = Card("4111111111111111", 4, 2030, "123")
    bodies = [
        wire.transaction_request(
            "authOnlyTransaction",
            amount="10.00",
            currency="USD",
            payment=wire.card_payment(card),
            invoice_number="inv",
            description="d",
            zip_code="46282",
            duplicate_window_s=28800,
            user_fields={"reference": "r"},
        ),
        wire.transaction_request(
            "refundTransaction",
            amount="1.00",
            currency="USD",
            payment=wire.masked_card_payment("1111"),
            ref_trans_id="1",
            invoice_number="inv",
            duplicate_window_s=28800,
        ),
        wire.transaction_request("priorAuthCaptureTransaction", amount="1", ref_trans_id="1"),
        wire.transaction_request("voidTransaction", ref_trans_id="1"),
    ]
    for transaction in bodies:
        body = wire.envelope("createTransactionRequest", "login", "key", "ref")
        body["createTransactionRequest"]["transactionRequest"] = transaction
        validate(
            "createTransactionRequest",
            body["createTransactionRequest"],
            ROOTS["createTransactionRequest"],
        )
    assert list(bodies[0]) == [
        "transactionType",
        "amount",
        "currencyCode",
        "payment",
        "order",
        "billTo",
        "transactionSettings",
        "userFields",
    ]
