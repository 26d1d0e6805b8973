"""The validation matrix: IBANs, BICs, every routing code type, and how they must agree.

Each case is one beneficiary's bank details with the exact field violations it must get
(none for a valid one), so both directions are pinned: a good detail passes, a bad one is
named on its own field, once.
"""

from __future__ import annotations

import pytest

from gateway_svc.domain import errors
from gateway_svc.domain.bank_details import (
    BankDetails,
    BankDetailsInput,
    RoutingCode,
    bank_details_violations,
    check_bank_details,
    iban_problem,
)
from gateway_svc.domain.fx_provider import PaymentType
from gateway_svc.domain.routing_codes import (
    RoutingCodeType,
    aba_problem,
    bic_problem,
    clabe_check_digit,
    clabe_problem,
    routing_code_problem,
)

REGULAR = (PaymentType.REGULAR,)
PRIORITY = (PaymentType.PRIORITY,)


def routed(kind: str, value: str, account: str = "") -> BankDetailsInput:
    return BankDetailsInput(
        account_number=account, routing_code_type=kind, routing_code_value=value
    )


def violated(
    raw: BankDetailsInput,
    country: str,
    currency: str,
    payment_types: tuple[PaymentType, ...] = REGULAR,
) -> list[str]:
    _, violations = bank_details_violations(raw, country, currency, payment_types)
    return [v.field for v in violations]


# -- IBANs across countries: (iban, bank country, currency, violated fields) ---------------------

IBAN_CASES = [
    ("DE89370400440532013000", "DE", "EUR", []),
    ("de89 3704 0044 0532 0130 00", "DE", "EUR", []),
    ("FR1420041010050500013M02606", "FR", "EUR", []),
    ("NL91ABNA0417164300", "NL", "EUR", []),
    ("BE71096123456769", "BE", "EUR", []),
    ("IT60X0542811101000000123456", "IT", "EUR", []),
    ("ES9121000418450200051332", "ES", "EUR", []),
    ("MT84MALT011000012345MTLCAST001S", "MT", "EUR", []),
    ("NO9386011117947", "NO", "EUR", []),
    ("IE29AIBK93115212345678", "IE", "EUR", []),
    ("MC5811222000010123456789030", "MC", "EUR", []),
    ("FR1420041010050500013M02606", "GP", "EUR", []),
    ("DE89370400440532013001", "DE", "EUR", ["beneficiary.iban"]),
    ("GB83WEST12345698765432", "GB", "EUR", ["beneficiary.iban"]),
    ("GB82WEST1234569876543", "GB", "EUR", ["beneficiary.iban"]),
    ("GB82WEST1234569876543A", "GB", "EUR", ["beneficiary.iban"]),
    ("NO93860111179470", "NO", "EUR", ["beneficiary.iban"]),
    ("XX89370400440532013000", "DE", "EUR", ["beneficiary.iban"]),
    ("GP1420041010050500013M02606", "GP", "EUR", ["beneficiary.iban"]),
    ("MA64011519000001205000534921", "MA", "EUR", ["beneficiary.iban", "beneficiary.bic_swift"]),
    ("DE89-3704-0044-0532-0130-00", "DE", "EUR", ["beneficiary.iban"]),
    ("DE89370400440532013000", "FR", "EUR", ["beneficiary.iban"]),
    ("", "DE", "EUR", ["beneficiary.iban"]),
]


@pytest.mark.parametrize(("iban", "country", "currency", "expected"), IBAN_CASES)
def test_ibans_are_checked_by_country_length_format_and_mod_97(iban, country, currency, expected):
    assert violated(BankDetailsInput(iban=iban), country, currency) == expected


def test_an_iban_is_stored_upper_case_without_spaces():
    details = check_bank_details(
        BankDetailsInput(iban=" gb82 west 1234 5698 7654 32 "), "GB", "EUR"
    )
    assert details.iban == "GB82WEST12345698765432"


def test_iban_problems_say_what_is_wrong():
    assert iban_problem("GB82WEST1234569876543") == "must be 22 characters for GB"
    assert iban_problem("GB83WEST12345698765432") == "fails the IBAN check digits (mod 97)"
    assert "FR IBANs" in (iban_problem("GP1420041010050500013M02606") or "")


# -- BIC forms: (bic, iban, bank country, violated fields) ----------------------------------------

DE_IBAN = "DE89370400440532013000"
FR_IBAN = "FR1420041010050500013M02606"
BIC_CASES = [
    ("DEUTDEFF", DE_IBAN, "DE", []),
    ("DEUTDEFF500", DE_IBAN, "DE", []),
    ("deut de ff", DE_IBAN, "DE", []),
    ("COBADEFF380", DE_IBAN, "DE", []),
    ("BNPAGPGP", FR_IBAN, "GP", []),
    ("BNPAFRPP", FR_IBAN, "GP", []),
    ("DEU1DEFF", DE_IBAN, "DE", ["beneficiary.bic_swift"]),
    ("DEUTXXFF", DE_IBAN, "DE", ["beneficiary.bic_swift"]),
    ("DEUTDEF", DE_IBAN, "DE", ["beneficiary.bic_swift"]),
    ("DEUTDEFF50", DE_IBAN, "DE", ["beneficiary.bic_swift"]),
    ("DEUTDEFF5000", DE_IBAN, "DE", ["beneficiary.bic_swift"]),
    ("DEUTDE_F", DE_IBAN, "DE", ["beneficiary.bic_swift"]),
    ("BNPAFRPP", DE_IBAN, "DE", ["beneficiary.bic_swift"]),
]


@pytest.mark.parametrize(("bic", "iban", "country", "expected"), BIC_CASES)
def test_bics_are_iso_9362_in_a_known_country_agreeing_with_the_iban(bic, iban, country, expected):
    raw = BankDetailsInput(iban=iban, bic_swift=bic)
    assert violated(raw, country, "EUR") == expected


def test_without_an_iban_a_bic_must_be_in_the_bank_country():
    raw = BankDetailsInput(account_number="12345678", bic_swift="CHASUS33")
    assert violated(raw, "US", "JPY") == []
    assert violated(raw, "CA", "JPY") == ["beneficiary.bic_swift"]


def test_a_bic_disagreeing_with_the_iban_says_so():
    _, (violation,) = bank_details_violations(
        BankDetailsInput(iban=DE_IBAN, bic_swift="BNPAFRPP"), "DE", "EUR", REGULAR
    )
    assert violation.description == "is a bank in FR, but the IBAN's country is DE"


def test_bic_problems_name_the_part_that_is_wrong():
    assert bic_problem("DEUTDEFF") is None
    assert bic_problem("DEUTXXFF") == "names an unknown country 'XX'"
    assert "8 or 11 characters" in (bic_problem("DEU1DEFF") or "")


# -- each routing code type: (type, value, violated fields) ---------------------------------------

ROUTING_CASES = [
    ("aba", "021000021", []),
    ("aba", "026009593", []),
    ("aba", "021000022", ["beneficiary.routing_code_value"]),
    ("aba", "02100002", ["beneficiary.routing_code_value"]),
    ("aba", "130000006", ["beneficiary.routing_code_value"]),
    ("sort_code", "40-47-84", []),
    ("sort_code", "404784", []),
    ("sort_code", "40478", ["beneficiary.routing_code_value"]),
    ("sort_code", "40478A", ["beneficiary.routing_code_value"]),
    ("bsb_code", "062-000", []),
    ("bsb_code", "06200", ["beneficiary.routing_code_value"]),
    ("ifsc", "HDFC0001234", []),
    ("ifsc", "hdfc0001234", []),
    ("ifsc", "HDFC1001234", ["beneficiary.routing_code_value"]),
    ("ifsc", "HDF00001234", ["beneficiary.routing_code_value"]),
    ("clabe", "032180000118359719", []),
    ("clabe", "032180000118359718", ["beneficiary.routing_code_value"]),
    ("clabe", "03218000011835971", ["beneficiary.routing_code_value"]),
    ("institution_no", "001", []),
    ("institution_no", "01", ["beneficiary.routing_code_value"]),
    ("branch_code", "12345", []),
    ("branch_code", "1234", ["beneficiary.routing_code_value"]),
    ("cnaps", "102100099996", []),
    ("cnaps", "10210009999", ["beneficiary.routing_code_value"]),
    ("bank_code", "ABC123", []),
    ("bank_code", "A", ["beneficiary.routing_code_value"]),
    ("swift", "DEUTDEFF", ["beneficiary.routing_code_type"]),
    ("", "404784", ["beneficiary.routing_code_type"]),
    ("sort_code", "", ["beneficiary.routing_code_value"]),
]


@pytest.mark.parametrize(("kind", "value", "expected"), ROUTING_CASES)
def test_routing_codes_are_checked_by_type(kind, value, expected):
    # Bank country ZZ stops the rule table: only the code's own shape is judged here.
    fields = violated(routed(kind, value), "ZZ", "EUR")
    assert [f for f in fields if f != "beneficiary.bank_country"] == expected


def test_every_routing_code_type_has_a_shape():
    assert {routing_code_problem(t, "") is not None for t in RoutingCodeType} == {True}


def test_the_aba_checksum_weights_are_3_7_1():
    assert aba_problem("021000021") is None
    for position in range(9):
        digits = list("021000021")
        digits[position] = str((int(digits[position]) + 1) % 10)
        assert aba_problem("".join(digits)) is not None, position


def test_the_clabe_check_digit_is_banxicos():
    assert clabe_check_digit("03218000011835971") == 9
    assert clabe_problem("002010077777777771") is None


def test_a_routing_code_is_stored_normalized():
    raw = routed("SORT_CODE ", " 40-47 84", account="31926819")
    details = check_bank_details(raw, "GB", "GBP")
    assert details.routing_codes == (RoutingCode(RoutingCodeType.SORT_CODE, "404784"),)
    assert details.routing_code(RoutingCodeType.SORT_CODE) == "404784"


def test_the_same_routing_code_type_twice_is_named_on_the_second_slot():
    raw = BankDetailsInput(
        account_number="1234567",
        routing_code_type="branch_code",
        routing_code_value="12345",
        routing_code_type_2="branch_code",
        routing_code_value_2="54321",
    )
    assert "beneficiary.routing_code_type_2" in violated(raw, "CA", "CAD")


# -- one violation per field, all fields at once -------------------------------------------


def test_every_bad_field_is_reported_once_in_one_error():
    raw = BankDetailsInput(
        account_number="12-34",
        iban="DE00370400440532013000",
        bic_swift="DEU1DEFF",
        routing_code_type="aba",
        routing_code_value="021000022",
    )
    with pytest.raises(errors.ValidationFailed) as info:
        check_bank_details(raw, "DE", "EUR", (PaymentType.REGULAR, PaymentType.PRIORITY))
    fields = [v.field for v in info.value.violations]
    assert fields == [
        "beneficiary.iban",
        "beneficiary.bic_swift",
        "beneficiary.account_number",
        "beneficiary.routing_code_value",
    ]
    assert "(and 3 more)" in info.value.message


def test_an_unknown_country_or_currency_is_named_and_skips_the_rule_table():
    assert violated(BankDetailsInput(), "gb", "GBP") == ["beneficiary.bank_country"]
    assert violated(BankDetailsInput(), "GB", "GBX") == ["beneficiary.currency"]


def test_the_prefix_names_the_enclosing_message():
    _, violations = bank_details_violations(BankDetailsInput(), "US", "USD", REGULAR, prefix="")
    assert [v.field for v in violations] == ["account_number", "routing_code_type"]


def test_bank_details_never_show_more_than_the_last_four_characters():
    details = BankDetails(account_number="31926819", bic_swift="NWBKGB2L")
    assert details.masked_account == "...6819"
    assert "3192" not in repr(details)
    raw = BankDetailsInput(iban="GB82WEST12345698765432")
    assert "WEST" not in repr(raw) and "5432" in repr(raw)
