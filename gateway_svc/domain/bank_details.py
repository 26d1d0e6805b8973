"""A beneficiary's bank details, normalized and checked before any provider call.

``check_bank_details`` raises one ``ValidationFailed`` carrying ONE field violation per bad
field (the first reason found for it), with paths as the proto names them under a prefix
(``beneficiary.iban``, ``beneficiary.bic_swift``, ``beneficiary.routing_code_value`` ...):

- every detail given is checked for its shape, whether or not the rule needs it: IBANs by
  country length, national format and mod-97 (schwifty); BICs by ISO 9362 structure and a
  known country; routing codes by type (``routing_codes``); account numbers by the rule's
  shape;
- an IBAN must belong to the bank country, and a BIC to the IBAN's country (or, without an
  IBAN, to the bank country), where territories count as the country whose IBAN scheme they
  use (``routing_codes.IBAN_SCHEME``: a Guadeloupe bank ``BNPAGPGP`` with an FR IBAN agrees);
- then the rule table (``bank_rules``) says which details the bank country, currency and each
  requested payment type need; what is missing is reported on the field that would hold it.

IBANs are upper case without spaces (``gb82 west 1234...`` is stored as ``GB82WEST1234...``);
BICs and routing codes likewise, routing codes also without hyphens (``12-34-56``).

Not enforced: national check digits inside the BBAN. schwifty can check them, but refuses some
IBANs that banks issue and publish (the German ``DE44500105175407324931`` of the IBAN
standard's examples), and a refused real account is worse than one the provider refuses.

schwifty is the one third-party import of the domain: it reads the IBAN registry bundled in
its package (JSON data files) when first used. That is deterministic package data, not I/O on
anything the platform configures, so the domain stays pure in the sense that matters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from schwifty import IBAN, registry
from schwifty.exceptions import (
    InvalidChecksumDigits,
    InvalidLength,
    InvalidStructure,
    SchwiftyException,
)

from svc_kit.currencies import is_currency
from svc_kit.faults import FieldViolation

from .bank_rules import ANY_ACCOUNT, BankRule, rule_for
from .errors import ValidationFailed
from .fx_provider import PaymentType
from .routing_codes import (
    IBAN_COUNTRIES,
    IBAN_SCHEME,
    RoutingCodeType,
    bic_problem,
    country_problem,
    iban_scheme,
    normalize_code,
    routing_code_problem,
)
from .validation import FUND_CODES

__all__ = [
    "BankDetails",
    "BankDetailsInput",
    "RoutingCode",
    "bank_details_violations",
    "check_bank_details",
    "iban_problem",
    "invalid",
    "mask",
]

_SLOTS = (
    ("routing_code_type", "routing_code_value"),
    ("routing_code_type_2", "routing_code_value_2"),
)
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$")


def mask(value: str) -> str:
    """Only the last four characters, for display and logs: bank details are personal data."""
    return f"...{value[-4:]}" if value else ""


@dataclass(frozen=True, slots=True, repr=False)
class BankDetailsInput:
    """Bank details as the merchant sent them (any case, spaces allowed)."""

    account_number: str = ""
    iban: str = ""
    bic_swift: str = ""
    routing_code_type: str = ""
    routing_code_value: str = ""
    routing_code_type_2: str = ""
    routing_code_value_2: str = ""

    def __repr__(self) -> str:
        return f"BankDetailsInput(account={mask(self.account_number or self.iban)!r})"


@dataclass(frozen=True, slots=True)
class RoutingCode:
    """One national routing code, normalized."""

    type: RoutingCodeType
    value: str


@dataclass(frozen=True, slots=True, repr=False)
class BankDetails:
    """Bank details that passed ``check_bank_details``, normalized. ``repr`` masks them."""

    account_number: str = ""
    iban: str = ""
    bic_swift: str = ""
    routing_codes: tuple[RoutingCode, ...] = field(default=())

    def routing_code(self, kind: RoutingCodeType) -> str:
        """The value of the routing code of type ``kind``, or ``""``."""
        return next((c.value for c in self.routing_codes if c.type is kind), "")

    @property
    def account_identifier(self) -> str:
        """What names the account: the account number, else the IBAN, else the CLABE."""
        return self.account_number or self.iban or self.routing_code(RoutingCodeType.CLABE)

    @property
    def masked_account(self) -> str:
        """The account's last four characters (``...4321``), the only part ever displayed."""
        return mask(self.account_identifier)

    def __repr__(self) -> str:
        return f"BankDetails(account={self.masked_account!r}, bic_swift={self.bic_swift!r})"


def iban_problem(iban: str) -> str | None:
    """What is wrong with ``iban`` (normalized), or None: registry country, length, national
    format and the ISO 7064 mod-97 check."""
    if not _IBAN_SHAPE.match(iban):
        return "must be 2 letters, 2 check digits and up to 30 letters or digits"
    country = iban[:2]
    if country in IBAN_SCHEME:
        return f"cannot start with {country}: banks there issue {IBAN_SCHEME[country]} IBANs"
    if country not in IBAN_COUNTRIES:
        return f"cannot start with {country}: it is not a country of the IBAN registry"
    try:
        IBAN(iban)
    except InvalidLength:
        length = registry.get_iban_spec(country).iban_length
        return f"must be {length} characters for {country}"
    except InvalidStructure:
        return f"does not match the {country} account format"
    except InvalidChecksumDigits:
        return "fails the IBAN check digits (mod 97)"
    except SchwiftyException:
        return "is not a valid IBAN"
    # A second path to the same truth (TIGER_STYLE): the bare ISO 13616 arithmetic.
    numeric = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return None if int(numeric) % 97 == 1 else "fails the IBAN check digits (mod 97)"


class _Violations:
    """Violations keyed by field path: the first reason for a field is the one reported."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self.found: dict[str, FieldViolation] = {}

    def path(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def add(self, name: str, description: str | None) -> None:
        path = self.path(name)
        if description is not None and path not in self.found:
            self.found[path] = FieldViolation(path, description)

    def has(self, name: str) -> bool:
        return self.path(name) in self.found


def _normalized(raw: BankDetailsInput) -> dict[str, str]:
    return {
        "account_number": re.sub(r"\s", "", raw.account_number).upper(),
        "iban": re.sub(r"\s", "", raw.iban).upper(),
        "bic_swift": re.sub(r"\s", "", raw.bic_swift).upper(),
        "routing_code_type": raw.routing_code_type.strip().lower(),
        "routing_code_value": normalize_code(raw.routing_code_value),
        "routing_code_type_2": raw.routing_code_type_2.strip().lower(),
        "routing_code_value_2": normalize_code(raw.routing_code_value_2),
    }


def _check_iban_and_bic(given: dict[str, str], bank_country: str | None, out: _Violations) -> None:
    iban, bic = given["iban"], given["bic_swift"]
    iban_ok = False
    if iban:
        out.add("iban", iban_problem(iban))
        iban_ok = not out.has("iban")
        if iban_ok and bank_country and iban_scheme(iban[:2]) != iban_scheme(bank_country):
            out.add("iban", f"is a {iban[:2]} IBAN, but bank_country is {bank_country}")
    if bic:
        out.add("bic_swift", bic_problem(bic))
        where = iban[:2] if iban_ok else bank_country
        if not out.has("bic_swift") and where and iban_scheme(bic[4:6]) != iban_scheme(where):
            source = "the IBAN's country" if iban_ok else "bank_country"
            out.add("bic_swift", f"is a bank in {bic[4:6]}, but {source} is {where}")


def _check_routing(given: dict[str, str], out: _Violations) -> list[RoutingCode]:
    codes: list[RoutingCode] = []
    for type_field, value_field in _SLOTS:
        kind_text, value = given[type_field], given[value_field]
        if not kind_text and not value:
            continue
        if not kind_text:
            out.add(type_field, f"is required with {value_field}")
            continue
        try:
            kind = RoutingCodeType(kind_text)
        except ValueError:
            out.add(type_field, f"must be one of {', '.join(t.value for t in RoutingCodeType)}")
            continue
        if any(c.type is kind for c in codes):
            out.add(type_field, f"repeats {kind.value}")
        elif not value:
            out.add(value_field, f"is required with routing code type {kind.value}")
        else:
            out.add(value_field, routing_code_problem(kind, value))
            codes.append(RoutingCode(kind, value))
    return codes


def _check_rule(rule: BankRule, given: dict[str, str], out: _Violations) -> None:
    why = f"for {rule.name} payments (rule {rule.number})"
    if given["account_number"] and rule.account is not ANY_ACCOUNT:
        out.add("account_number", rule.account.problem(given["account_number"]))
    for choice in rule.needs:
        if not any(given[name] or out.has(name) for name in choice):
            either = f"(or {' or '.join(choice[1:])}) " if len(choice) > 1 else ""
            out.add(choice[0], f"{either}is required {why}")
    # A kind named in a slot is not missing even when its value is bad: that slot's value
    # already carries the violation, and one complaint per field is the rule.
    named = {given[t] for t, _ in _SLOTS}
    free = [t for t, _ in _SLOTS if given[t] not in {k.value for k in rule.routing}]
    for kind in rule.routing:
        if kind.value not in named:
            slot = free.pop(0) if free else _SLOTS[0][0]
            out.add(slot, f"must be {kind.value}: that routing code is required {why}")


def bank_details_violations(
    raw: BankDetailsInput,
    bank_country: str,
    currency: str,
    payment_types: Iterable[PaymentType],
    prefix: str = "beneficiary",
) -> tuple[BankDetails, list[FieldViolation]]:
    """The normalized details and every violation (one per field) for a bank in
    ``bank_country`` paid in ``currency`` by each of ``payment_types``."""
    out = _Violations(prefix)
    out.add("bank_country", country_problem(bank_country))
    if not is_currency(currency) or currency in FUND_CODES:
        out.add("currency", "must be an ISO 4217 currency code (upper case, such as EUR)")
    country = None if out.has("bank_country") else bank_country
    given = _normalized(raw)
    _check_iban_and_bic(given, country, out)
    if given["account_number"]:
        out.add("account_number", ANY_ACCOUNT.problem(given["account_number"]))
    codes = _check_routing(given, out)
    if country is not None and not out.has("currency"):
        for payment_type in dict.fromkeys(payment_types):
            _check_rule(rule_for(country, currency, payment_type), given, out)
    details = BankDetails(
        account_number=given["account_number"],
        iban=given["iban"],
        bic_swift=given["bic_swift"],
        routing_codes=tuple(codes),
    )
    return details, list(out.found.values())


def check_bank_details(
    raw: BankDetailsInput,
    bank_country: str,
    currency: str,
    payment_types: Iterable[PaymentType] = (PaymentType.REGULAR,),
    prefix: str = "beneficiary",
) -> BankDetails:
    """The normalized details, or one ValidationFailed with a violation per bad field."""
    details, violations = bank_details_violations(
        raw, bank_country, currency, payment_types, prefix
    )
    if violations:
        raise invalid("invalid bank details", violations)
    return details


def invalid(what: str, violations: list[FieldViolation]) -> ValidationFailed:
    """One ValidationFailed naming the first violation and counting the rest."""
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return ValidationFailed(
        f"{what}: {first.field} {first.description}{more}", violations=violations
    )
