"""The Currencycloud simulator's beneficiaries: required details by country and their checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.currencycloud.bank_rules import aba_ok, bic_ok, clabe_ok, iban_ok
from tests.unit.sandbox.test_currencycloud_sim_support import (
    DE_BENEFICIARY,
    GB_BENEFICIARY,
    Driver,
    body_of,
    codes_of,
)

HOLDER = {"name": "Payee", "bank_account_holder_name": "Payee"}


@pytest.fixture
def cc() -> Driver:
    return Driver()


def details(country: str, currency: str, **bank: str) -> dict[str, str]:
    return {**HOLDER, "bank_country": country, "currency": currency, **bank}


def routing(kind: str, value: str, slot: str = "1") -> dict[str, str]:
    return {f"routing_code_type_{slot}": kind, f"routing_code_value_{slot}": value}


VALID = [
    pytest.param(GB_BENEFICIARY, id="GB sort code"),
    pytest.param(DE_BENEFICIARY, id="DE IBAN + BIC"),
    pytest.param(
        details("US", "USD", account_number="000123456789", **routing("aba", "021000021")),
        id="US ABA",
    ),
    pytest.param(
        details("AU", "AUD", account_number="12345678", **routing("bsb_code", "062000")),
        id="AU BSB",
    ),
    pytest.param(
        details("IN", "INR", account_number="50100012345678", **routing("ifsc", "HDFC0000001")),
        id="IN IFSC",
    ),
    pytest.param(details("MX", "MXN", **routing("clabe", "002010077777777771")), id="MX CLABE"),
    pytest.param(
        details(
            "CA",
            "CAD",
            account_number="1234567",
            **routing("institution_no", "001"),
            **routing("branch_code", "00011", "2"),
        ),
        id="CA institution + branch",
    ),
    pytest.param(
        details("CN", "CNY", account_number="6222020200012345", **routing("cnaps", "102100099996")),
        id="CN CNAPS",
    ),
    pytest.param(
        details("FR", "EUR", iban="FR1420041010050500013M02606", bic_swift="BNPAFRPP"), id="FR"
    ),
    pytest.param(
        details("CH", "CHF", iban="CH9300762011623852957", bic_swift="UBSWCHZH80A"), id="CH CHF"
    ),
    pytest.param(
        details("JP", "JPY", account_number="1234567", bic_swift="MHCBJPJT"), id="JP SWIFT"
    ),
]


@pytest.mark.parametrize("fields", VALID)
async def test_valid_details_for_each_scheme_pass_validation(
    cc: Driver, fields: dict[str, str]
) -> None:
    reply = await cc.post("/v2/beneficiaries/validate", fields)
    assert reply.status == 200, reply.body
    assert "id" not in body_of(reply)
    assert cc.sim.beneficiaries.records == {}


INVALID = [
    pytest.param(
        {"bank_country": "GB", "currency": "GBP"},
        {
            "name": ["name_is_required"],
            "bank_account_holder_name": ["bank_account_holder_name_is_required"],
            "account_number": ["account_number_is_missing"],
            "routing_code": ["sort_code_is_missing"],
        },
        id="GB without details",
    ),
    pytest.param(
        details("US", "USD", account_number="1", **routing("aba", "021000022")),
        {"routing_code_value_1": ["aba_is_invalid"]},
        id="ABA checksum",
    ),
    pytest.param(
        details("GB", "GBP", account_number="12345678", **routing("sort_code", "12-34-56")),
        {"routing_code_value_1": ["sort_code_is_invalid"]},
        id="sort code with dashes",
    ),
    pytest.param(
        details("MX", "MXN", **routing("clabe", "002010077777777772")),
        {"routing_code_value_1": ["clabe_is_invalid"]},
        id="CLABE check digit",
    ),
    pytest.param(
        details("IN", "INR", account_number="1", **routing("ifsc", "HDFC1000001")),
        {"routing_code_value_1": ["ifsc_is_invalid"]},
        id="IFSC fifth character",
    ),
    pytest.param(
        {**DE_BENEFICIARY, "iban": "DE89370400440532013001"},
        {"iban": ["iban_is_invalid"]},
        id="IBAN mod-97",
    ),
    pytest.param(
        {**DE_BENEFICIARY, "iban": "GB29NWBK60161331926819"},
        {"iban": ["iban_is_invalid"]},
        id="IBAN of another country",
    ),
    pytest.param(
        {**DE_BENEFICIARY, "bic_swift": "NWBKGB2L"},
        {"bic_swift": ["bic_swift_is_invalid"]},
        id="BIC of another country",
    ),
    pytest.param(
        {**DE_BENEFICIARY, "iban": "", "bic_swift": ""},
        {"iban": ["iban_is_missing"], "bic_swift": ["bic_swift_is_missing"]},
        id="EUR without IBAN or BIC",
    ),
    pytest.param(
        details("JP", "JPY"),
        {"account_number": ["account_number_is_missing"], "bic_swift": ["bic_swift_is_missing"]},
        id="SWIFT without details",
    ),
    pytest.param(
        {**GB_BENEFICIARY, "bank_country": "gb", "currency": "POUND"},
        {
            "bank_country": ["bank_country_is_in_invalid_format"],
            "currency": ["currency_is_in_invalid_format"],
        },
        id="country and currency codes",
    ),
    pytest.param(
        {**GB_BENEFICIARY, "routing_code_type_1": "zip_code"},
        {
            "routing_code_type_1": ["routing_code_type_1_not_in_range"],
            "routing_code": ["sort_code_is_missing"],
        },
        id="unknown routing type",
    ),
    pytest.param(
        {**GB_BENEFICIARY, "beneficiary_entity_type": "individual"},
        {
            "beneficiary_first_name": ["beneficiary_first_name_is_missing"],
            "beneficiary_last_name": ["beneficiary_last_name_is_missing"],
        },
        id="individual without names",
    ),
    pytest.param(
        {**GB_BENEFICIARY, "beneficiary_entity_type": "trust"},
        {"beneficiary_entity_type": ["beneficiary_entity_type_not_in_range"]},
        id="unknown entity type",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), INVALID)
async def test_validate_names_every_bad_field_with_currencycloud_s_codes(
    cc: Driver, fields: dict[str, str], expected: dict[str, list[str]]
) -> None:
    reply = await cc.post("/v2/beneficiaries/validate", fields)
    assert (reply.status, body_of(reply)["error_code"]) == (400, "beneficiary_not_valid")
    assert codes_of(reply) == expected


async def test_create_refuses_with_beneficiary_create_failed(cc: Driver) -> None:
    reply = await cc.post("/v2/beneficiaries/create", {"bank_country": "GB", "currency": "GBP"})
    assert (reply.status, body_of(reply)["error_code"]) == (400, "beneficiary_create_failed")
    assert cc.sim.beneficiaries.records == {}


async def test_a_created_beneficiary_reads_back_as_currencycloud_records_it(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary(beneficiary_external_reference="ext-1")
    body = body_of(await cc.get(f"/v2/beneficiaries/{beneficiary_id}"))
    assert body["id"] == beneficiary_id
    assert body["payment_types"] == ["regular"]
    assert (body["iban"], body["bic_swift"], body["default_beneficiary"]) == (None, None, "false")
    assert body["routing_code_value_1"] == "123456"
    found = body_of(
        await cc.get("/v2/beneficiaries/find", {"beneficiary_external_reference": "ext-1"})
    )
    assert [b["id"] for b in found["beneficiaries"]] == [beneficiary_id]
    assert found["pagination"]["total_entries"] == 1


async def test_a_swift_beneficiary_can_take_priority_payments(cc: Driver) -> None:
    reply = await cc.post("/v2/beneficiaries/create", DE_BENEFICIARY)
    assert body_of(reply)["payment_types"] == ["priority", "regular"]


async def test_a_deleted_beneficiary_is_gone(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary()
    deleted = await cc.post(f"/v2/beneficiaries/{beneficiary_id}/delete")
    assert (deleted.status, body_of(deleted)["id"]) == (200, beneficiary_id)
    missing = await cc.get(f"/v2/beneficiaries/{beneficiary_id}")
    assert (missing.status, codes_of(missing)) == (404, {"id": ["beneficiary_not_found"]})
    assert cc.sim.snapshot()["deleted_beneficiaries"] == [beneficiary_id]


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (aba_ok, "011000015", "011000016"),
        (clabe_ok, "032180000118359719", "032180000118359718"),
        (lambda v: iban_ok(v, "NO"), "NO9386011117947", "NO938601111794"),
        (lambda v: bic_ok(v, "DE"), "DEUTDEFF", "DEUTDEF"),
    ],
)
def test_each_checksum_accepts_a_real_value_and_refuses_a_near_miss(
    check: Callable[[str], bool], good: str, bad: str
) -> None:
    assert (check(good), check(bad)) == (True, False)
