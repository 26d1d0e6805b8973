"""The required-details rule table: which rule covers what, and what each one demands."""

from __future__ import annotations

from dataclasses import replace

import pytest
from schwifty import registry
from schwifty.exceptions import InvalidCountryCode

from gateway_svc.domain.bank_details import BankDetailsInput, bank_details_violations
from gateway_svc.domain.bank_rules import RULES, SEPA_COUNTRIES, rule_for
from gateway_svc.domain.fx_provider import PaymentType
from gateway_svc.domain.routing_codes import (
    COUNTRIES,
    IBAN_COUNTRIES,
    IBAN_SCHEME,
    iban_scheme,
)
from svc_kit.currencies import known_currencies

REG, PRI = PaymentType.REGULAR, PaymentType.PRIORITY

# (bank country, currency, payment type) -> the number of the rule that must cover it.
COVERAGE = [
    ("GB", "GBP", REG, 1),
    ("US", "USD", REG, 2),
    ("AU", "AUD", REG, 3),
    ("CA", "CAD", REG, 4),
    ("IN", "INR", REG, 5),
    ("MX", "MXN", REG, 6),
    ("CN", "CNY", REG, 7),
    ("DE", "EUR", REG, 8),
    ("GB", "EUR", REG, 8),
    ("GP", "EUR", REG, 8),
    ("JE", "EUR", REG, 8),
    ("CH", "EUR", REG, 8),
    ("CH", "CHF", REG, 9),
    ("PL", "PLN", REG, 9),
    ("AE", "AED", REG, 9),
    ("GB", "USD", REG, 9),
    ("TR", "EUR", REG, 9),
    ("GB", "GBP", PRI, 10),
    ("DE", "EUR", PRI, 10),
    ("IM", "GBP", PRI, 10),
    ("US", "USD", PRI, 11),
    ("JP", "JPY", PRI, 11),
    ("MX", "MXN", PRI, 11),
    ("JP", "JPY", REG, 12),
    ("US", "EUR", REG, 12),
    ("GB", "JPY", REG, 9),
    ("CA", "USD", REG, 12),
    ("MA", "MAD", REG, 12),
]


@pytest.mark.parametrize(("country", "currency", "payment_type", "number"), COVERAGE)
def test_the_first_matching_rule_covers_each_request(country, currency, payment_type, number):
    assert rule_for(country, currency, payment_type).number == number


def test_every_rule_is_reached_by_some_request():
    assert {n for *_, n in COVERAGE} == {r.number for r in RULES}
    assert [r.number for r in RULES] == list(range(1, len(RULES) + 1))


CURRENCIES = sorted(known_currencies())


@pytest.mark.parametrize("payment_type", list(PaymentType))
def test_every_country_and_currency_has_exactly_the_first_applicable_rule(payment_type):
    for country in COUNTRIES:
        for currency in CURRENCIES:
            rule = rule_for(country, currency, payment_type)
            assert rule.applies(country, currency, payment_type)
            assert payment_type in rule.payment_types
            earlier = [r for r in RULES if r.number < rule.number]
            assert not any(r.applies(country, currency, payment_type) for r in earlier)


def test_priority_payments_always_need_a_bic():
    for country in COUNTRIES:
        rule = rule_for(country, "USD", PRI)
        assert ("bic_swift",) in rule.needs
        assert rule.number == (10 if iban_scheme(country) in IBAN_COUNTRIES else 11)


def test_local_rules_apply_only_to_their_own_country_and_currency():
    for rule in RULES[:7]:
        assert rule.countries is not None and rule.currencies is not None
        assert len(rule.countries) == len(rule.currencies) == 1
        assert rule.payment_types == {REG}


def test_sepa_and_territories_are_iban_schemes():
    assert SEPA_COUNTRIES <= IBAN_COUNTRIES
    assert set(IBAN_SCHEME.values()) <= SEPA_COUNTRIES
    assert not set(IBAN_SCHEME) & IBAN_COUNTRIES


def test_the_iban_countries_follow_schwiftys_registry():
    """Official formats only: schwifty's aspirational ones and the territories' own prefixes
    are left out on purpose (see routing_codes.IBAN_COUNTRIES)."""
    official = set()
    for country in COUNTRIES:
        try:
            spec = registry.get_iban_spec(country)
        except InvalidCountryCode:
            continue
        if not spec.aspirational:
            official.add(country)
    assert official - set(IBAN_SCHEME) == IBAN_COUNTRIES


# -- what each rule demands: good details per rule, then each required detail removed ---------

DE_IBAN = "DE89370400440532013000"
GOOD: dict[int, tuple[str, str, PaymentType, BankDetailsInput]] = {
    1: ("GB", "GBP", REG, BankDetailsInput("31926819", routing_code_type="sort_code",
                                           routing_code_value="60-16-13")),
    2: ("US", "USD", REG, BankDetailsInput("000123456789", routing_code_type="aba",
                                           routing_code_value="021000021")),
    3: ("AU", "AUD", REG, BankDetailsInput("123456789", routing_code_type="bsb_code",
                                           routing_code_value="062-000")),
    4: ("CA", "CAD", REG, BankDetailsInput("1234567", routing_code_type="institution_no",
                                           routing_code_value="001",
                                           routing_code_type_2="branch_code",
                                           routing_code_value_2="12345")),
    5: ("IN", "INR", REG, BankDetailsInput("50100012345678", routing_code_type="ifsc",
                                           routing_code_value="HDFC0001234")),
    6: ("MX", "MXN", REG, BankDetailsInput(routing_code_type="clabe",
                                           routing_code_value="032180000118359719")),
    7: ("CN", "CNY", REG, BankDetailsInput("6222020200012345678", routing_code_type="cnaps",
                                           routing_code_value="102100099996")),
    8: ("DE", "EUR", REG, BankDetailsInput(iban=DE_IBAN)),
    9: ("CH", "CHF", REG, BankDetailsInput(iban="CH9300762011623852957", bic_swift="UBSWCHZH80A")),
    10: ("DE", "USD", PRI, BankDetailsInput(iban=DE_IBAN, bic_swift="DEUTDEFF")),
    11: ("JP", "JPY", PRI, BankDetailsInput("1234567", bic_swift="MHCBJPJT")),
    12: ("JP", "JPY", REG, BankDetailsInput("1234567", bic_swift="MHCBJPJT")),
}  # fmt: skip


def fields_of(number: int, **changes: str) -> list[str]:
    country, currency, payment_type, raw = GOOD[number]
    _, violations = bank_details_violations(
        replace(raw, **changes), country, currency, (payment_type,)
    )
    return [v.field for v in violations]


@pytest.mark.parametrize("number", sorted(GOOD))
def test_each_rules_complete_details_pass(number):
    assert rule_for(*GOOD[number][:3]).number == number
    assert fields_of(number) == []


NO_SLOT_1 = {"routing_code_type": "", "routing_code_value": ""}
NO_SLOT_2 = {"routing_code_type_2": "", "routing_code_value_2": ""}
MISSING = [
    (1, {"account_number": ""}, "account_number"),
    (1, NO_SLOT_1, "routing_code_type"),
    (1, {"account_number": "1234567"}, "account_number"),
    (2, {"account_number": ""}, "account_number"),
    (2, NO_SLOT_1, "routing_code_type"),
    (2, {"account_number": "123"}, "account_number"),
    (3, {"account_number": ""}, "account_number"),
    (3, NO_SLOT_1, "routing_code_type"),
    (3, {"account_number": "1234567890"}, "account_number"),
    (4, {"account_number": ""}, "account_number"),
    (4, NO_SLOT_1, "routing_code_type"),
    (4, NO_SLOT_2, "routing_code_type_2"),
    (5, {"account_number": ""}, "account_number"),
    (5, NO_SLOT_1, "routing_code_type"),
    (6, NO_SLOT_1, "routing_code_type"),
    (7, {"account_number": ""}, "account_number"),
    (7, NO_SLOT_1, "routing_code_type"),
    (8, {"iban": ""}, "iban"),
    (9, {"iban": ""}, "iban"),
    (9, {"bic_swift": ""}, "bic_swift"),
    (10, {"iban": "", "account_number": "1234567"}, "iban"),
    (10, {"bic_swift": ""}, "bic_swift"),
    (11, {"account_number": ""}, "iban"),
    (11, {"bic_swift": ""}, "bic_swift"),
    (12, {"account_number": ""}, "iban"),
    (12, {"bic_swift": ""}, "bic_swift"),
]


@pytest.mark.parametrize(("number", "changes", "field"), MISSING)
def test_each_required_detail_is_named_when_missing_or_misshapen(number, changes, field):
    assert fields_of(number, **changes) == [f"beneficiary.{field}"]


def test_a_missing_detail_says_which_rule_requires_it():
    _, (violation,) = bank_details_violations(replace(GOOD[1][3], **NO_SLOT_1), "GB", "GBP", (REG,))
    assert violation.description.startswith("must be sort_code")
    assert "GB/GBP local payments (rule 1)" in violation.description


def test_either_detail_satisfies_a_choice():
    assert fields_of(11, account_number="", iban=DE_IBAN, bic_swift="DEUTDEFF") == [
        "beneficiary.iban"  # a DE IBAN, but the bank country is JP
    ]
    _, violations = bank_details_violations(
        BankDetailsInput(bic_swift="MHCBJPJT"), "JP", "JPY", (PRI,)
    )
    assert violations[0].description.startswith("(or account_number) is required")


def test_a_beneficiary_for_both_payment_types_meets_both_rules():
    raw = GOOD[2][3]
    _, violations = bank_details_violations(raw, "US", "USD", (REG, PRI))
    assert [v.field for v in violations] == ["beneficiary.bic_swift"]
    _, violations = bank_details_violations(
        replace(raw, bic_swift="CHASUS33"), "US", "USD", (REG, PRI)
    )
    assert violations == []


def test_optional_details_are_still_checked_when_given():
    assert fields_of(8, bic_swift="DEUTDEF") == ["beneficiary.bic_swift"]
    assert fields_of(6, account_number="12 34-") == ["beneficiary.account_number"]
