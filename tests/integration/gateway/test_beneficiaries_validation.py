"""Bad bank details over REST: 400 VALIDATION_FAILED with one BadRequest violation per bad
field, named by its path in the request, before the provider hears anything; and the
details themselves never come back, not even in an error.

The rule table itself is tested case by case in tests/unit/gateway (test_bank_details,
test_bank_rules, test_beneficiary_validation); these cases show the edge carries its verdict
intact: field paths, one violation per field, the 400, the ErrorInfo reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.testing import SandboxHandle
from tests.integration.gateway.faults_support import requests_to
from tests.integration.gateway.fx_support import (
    BENEFICIARIES,
    FxMerchant,
    de_beneficiary,
    gb_beneficiary,
    ok,
)
from tests.integration.gateway.payments_support import error_info, violated_fields

pytestmark = pytest.mark.asyncio(loop_scope="package")

CREATE = "POST /v2/beneficiaries/create"
VALIDATE = "POST /v2/beneficiaries/validate"
B = "beneficiary."

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "a DE IBAN failing mod-97 and a French BIC",
        de_beneficiary(iban="DE00370400440532013000", bic_swift="BNPAFRPP"),
        [f"{B}iban", f"{B}bic_swift"],
    ),
    (
        "a UK account of 7 digits and a 5-digit sort code",
        gb_beneficiary(account_number="3192681", routing_code_value="40-47-8"),
        [f"{B}routing_code_value", f"{B}account_number"],
    ),
    (
        "no name and an ABA failing its checksum",
        gb_beneficiary(
            name=" ",
            bank_country="US",
            currency="USD",
            account_number="123456789",
            routing_code_type="aba",
            routing_code_value="021000022",
        ),
        [f"{B}name", f"{B}routing_code_value"],
    ),
    (
        "a CLABE with a wrong check digit",
        gb_beneficiary(
            bank_country="MX",
            currency="MXN",
            account_number="",
            routing_code_type="clabe",
            routing_code_value="002010077777777770",
        ),
        [f"{B}routing_code_value"],
    ),
    (
        "SWIFT to the UK without IBAN or BIC",
        gb_beneficiary(payment_types=["PAYOUT_TYPE_REGULAR", "PAYOUT_TYPE_PRIORITY"]),
        [f"{B}iban", f"{B}bic_swift"],
    ),
    (
        "an unknown currency and no account holder",
        gb_beneficiary(currency="XYZ", bank_account_holder_name=""),
        [f"{B}currency", f"{B}bank_account_holder_name"],
    ),
]


@pytest.mark.parametrize(("case", "body", "fields"), CASES, ids=[c[0] for c in CASES])
async def test_bad_details_are_refused_field_by_field_before_the_provider_hears_of_them(
    fx_merchant: FxMerchant,
    sandbox: SandboxHandle,
    case: str,
    body: dict[str, Any],
    fields: list[str],
) -> None:
    before = await requests_to(sandbox, "currencycloud", CREATE)

    reply = await fx_merchant.post(BENEFICIARIES, {"beneficiary": body})

    assert reply.status_code == 400, case
    assert error_info(reply)["reason"] == "VALIDATION_FAILED"
    assert sorted(violated_fields(reply)) == sorted(fields)
    assert len(violated_fields(reply)) == len(set(violated_fields(reply)))
    assert await requests_to(sandbox, "currencycloud", CREATE) == before
    for secret in ("iban", "account_number"):
        value = str(body.get(secret, "")).replace(" ", "")
        if len(value) > 4:
            assert value not in reply.text.replace(" ", "")


async def test_validate_answers_the_normalized_beneficiary_without_saving_it(
    fx_merchant: FxMerchant, sandbox: SandboxHandle
) -> None:
    created = await requests_to(sandbox, "currencycloud", CREATE)
    asked = await requests_to(sandbox, "currencycloud", VALIDATE)
    body = gb_beneficiary(routing_code_value="40 47 84")

    checked = ok(await fx_merchant.post(f"{BENEFICIARIES}:validate", {"beneficiary": body}, None),
                 "beneficiary")  # fmt: skip
    refused = await fx_merchant.post(
        f"{BENEFICIARIES}:validate", {"beneficiary": {**body, "bank_country": "DE"}}, None
    )

    assert (checked["id"], checked["provider_reference"]) == ("", "")
    assert "create_time" not in checked
    assert (checked["routing_code_value"], checked["masked_account"]) == ("404784", "...6819")
    assert checked["bank_name"]  # the provider recognised the bank
    assert refused.status_code == 400
    assert await requests_to(sandbox, "currencycloud", VALIDATE) == asked + 1  # the good one
    assert await requests_to(sandbox, "currencycloud", CREATE) == created
    assert (await fx_merchant.get(BENEFICIARIES)).json()["beneficiaries"] == []
