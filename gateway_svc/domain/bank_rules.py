"""Which bank details a beneficiary needs, by bank country, currency and payment type: the one
rule table.

Currencycloud publishes its requirements per (currency, bank country, entity type) through
``beneficiary_required_details``; this table holds the schemes the platform pays into and a
SWIFT fallback, so a merchant learns what is missing before any provider call. The first rule
that matches wins; the last ones match everything, so every request has exactly one rule.

==  ============================  =======  ========  =============================================
#   bank country                  currency payment   required
==  ============================  =======  ========  =============================================
1   GB                            GBP      regular   account_number (8 digits) + sort_code
2   US                            USD      regular   account_number (4-17 digits) + aba
3   AU                            AUD      regular   account_number (5-9 digits) + bsb_code
4   CA                            CAD      regular   account_number (7-12 digits) + institution_no
                                                     + branch_code
5   IN                            INR      regular   account_number (9-18 digits) + ifsc
6   MX                            MXN      regular   clabe (it carries the account number)
7   CN                            CNY      regular   account_number + cnaps
8   a SEPA country                EUR      regular   iban (bic_swift optional: SEPA routes on the
                                                     IBAN alone since 2016)
9   an IBAN country               any      regular   iban + bic_swift
10  an IBAN country               any      priority  iban + bic_swift (SWIFT into an IBAN country
                                                     needs the IBAN)
11  anywhere else                 any      priority  iban or account_number, + bic_swift
12  anywhere else                 any      regular   iban or account_number, + bic_swift (no
                                                     local scheme known: what SWIFT needs)
==  ============================  =======  ========  =============================================

A territory counts as the country whose IBAN scheme it uses (``routing_codes.IBAN_SCHEME``)
for rules 8 to 10: a bank in Guadeloupe takes FR IBANs. Details that a rule does not require
are still checked when given (a wrong BIC is wrong even where it is optional). Account numbers
not covered by a rule's own shape are 1 to 34 letters or digits, SWIFT's field 59 limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .fx_provider import PaymentType
from .routing_codes import IBAN_COUNTRIES, RoutingCodeType, iban_scheme

__all__ = [
    "ANY_ACCOUNT",
    "RULES",
    "SEPA_COUNTRIES",
    "AccountShape",
    "BankRule",
    "rule_for",
]

R = RoutingCodeType
REGULAR = frozenset({PaymentType.REGULAR})
PRIORITY = frozenset({PaymentType.PRIORITY})


@dataclass(frozen=True, slots=True)
class AccountShape:
    """The accepted form of an account number under a rule, and how to say it."""

    pattern: re.Pattern[str]
    description: str

    def problem(self, account_number: str) -> str | None:
        """None when ``account_number`` (normalized) has this shape, else why not."""
        return None if self.pattern.match(account_number) else f"must be {self.description}"


def _digits(low: int, high: int) -> AccountShape:
    shape = f"{low} digits" if low == high else f"{low} to {high} digits"
    return AccountShape(re.compile(rf"^[0-9]{{{low},{high}}}$"), shape)


ANY_ACCOUNT: Final = AccountShape(re.compile(r"^[A-Z0-9]{1,34}$"), "1 to 34 letters or digits")

_EU = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
SEPA_COUNTRIES: Final = frozenset(f"{_EU} IS LI NO CH GB MC SM AD VA GI".split())
"""The EPC's SEPA scheme area as IBAN schemes: the EU and EEA, Switzerland, the United
Kingdom, Monaco, San Marino, Andorra, the Vatican and Gibraltar. Territories join through
their parent's scheme (``iban_scheme``), as the Crown Dependencies and French overseas
departments do."""


@dataclass(frozen=True, slots=True)
class BankRule:
    """One row of the table: where it applies and which details it needs."""

    number: int
    name: str
    payment_types: frozenset[PaymentType]
    countries: frozenset[str] | None = None
    """IBAN schemes (``iban_scheme`` of the bank country) it applies to; None for any."""
    currencies: frozenset[str] | None = None
    """Currencies it applies to; None for any."""
    needs: tuple[tuple[str, ...], ...] = ()
    """Detail fields it requires: each tuple is a choice, at least one of it must be given
    (``("iban", "account_number")``), in the order a missing one is reported."""
    routing: tuple[RoutingCodeType, ...] = ()
    """Routing codes it requires, in slot order (the first goes in ``routing_code_type``)."""
    account: AccountShape = ANY_ACCOUNT

    def applies(self, bank_country: str, currency: str, payment_type: PaymentType) -> bool:
        """True when this rule covers the request (the table's first such rule wins)."""
        return (
            payment_type in self.payment_types
            and (self.countries is None or iban_scheme(bank_country) in self.countries)
            and (self.currencies is None or currency in self.currencies)
        )


def _local(
    number: int,
    country: str,
    currency: str,
    routing: tuple[RoutingCodeType, ...],
    account: AccountShape = ANY_ACCOUNT,
    needs: tuple[tuple[str, ...], ...] = (("account_number",),),
) -> BankRule:
    return BankRule(
        number=number,
        name=f"{country}/{currency} local",
        payment_types=REGULAR,
        countries=frozenset({country}),
        currencies=frozenset({currency}),
        needs=needs,
        routing=routing,
        account=account,
    )


_IBAN_AND_BIC = (("iban",), ("bic_swift",))
_SWIFT_NEEDS = (("iban", "account_number"), ("bic_swift",))

RULES: Final[tuple[BankRule, ...]] = (
    _local(1, "GB", "GBP", (R.SORT_CODE,), _digits(8, 8)),
    _local(2, "US", "USD", (R.ABA,), _digits(4, 17)),
    _local(3, "AU", "AUD", (R.BSB_CODE,), _digits(5, 9)),
    _local(4, "CA", "CAD", (R.INSTITUTION_NO, R.BRANCH_CODE), _digits(7, 12)),
    _local(5, "IN", "INR", (R.IFSC,), _digits(9, 18)),
    _local(6, "MX", "MXN", (R.CLABE,), needs=()),
    _local(7, "CN", "CNY", (R.CNAPS,)),
    BankRule(8, "SEPA/EUR", REGULAR, SEPA_COUNTRIES, frozenset({"EUR"}), (("iban",),)),
    BankRule(9, "IBAN country local", REGULAR, IBAN_COUNTRIES, None, _IBAN_AND_BIC),
    BankRule(10, "SWIFT to an IBAN country", PRIORITY, IBAN_COUNTRIES, None, _IBAN_AND_BIC),
    BankRule(11, "SWIFT", PRIORITY, None, None, _SWIFT_NEEDS),
    BankRule(12, "fallback", REGULAR, None, None, _SWIFT_NEEDS),
)


def rule_for(bank_country: str, currency: str, payment_type: PaymentType) -> BankRule:
    """The rule for a beneficiary's bank country, currency and payment type (always one)."""
    for rule in RULES:
        if rule.applies(bank_country, currency, payment_type):
            return rule
    raise AssertionError("the table ends with catch-all rules")  # pragma: no cover
