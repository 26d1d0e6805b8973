"""Which bank details a beneficiary needs, by bank country and currency, and their checks.

Currencycloud publishes the requirements per (currency, bank country, entity type) through
``GET /v2/reference/beneficiary_required_details``; the simulator keeps a small fixed table
of the common local schemes and the SWIFT fallback, and checks values the way the banks'
schemes define them (so the gateway's own validation and this table can be compared):

==================  =================================================================
bank / currency     required
==================  =================================================================
GB / GBP            account_number (8 digits) + routing ``sort_code`` (6 digits)
US / USD            account_number + routing ``aba`` (9 digits, weights 3-7-1 mod 10)
AU / AUD            account_number + routing ``bsb_code`` (6 digits)
CA / CAD            account_number + ``institution_no`` (3 digits) + ``branch_code`` (5)
IN / INR            account_number + routing ``ifsc`` (4 letters, ``0``, 6 letters/digits)
MX / MXN            routing ``clabe`` (18 digits, weights 3-7-1 mod 10 check digit)
CN / CNY            account_number + routing ``cnaps`` (12 digits)
IBAN country, its   ``iban`` (the country's length, ISO 13616 mod-97) + ``bic_swift``
own currency or EUR
anything else       (``account_number`` or ``iban``) + ``bic_swift`` (a SWIFT payment)
==================  =================================================================

``bic_swift`` is ISO 9362 (4 letters, the 2-letter country, 2 letters/digits, an optional
3-character branch) and its country must be the bank country; so must an IBAN's. Missing
details use the codes recorded from Currencycloud (``account_number_is_missing``, and under
the ``routing_code`` key ``sort_code_is_missing``); malformed ones ``<field>_is_invalid``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from sandbox.currencycloud.wire import Problems, add

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24,
    "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28,
    "PT": 25, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}  # fmt: skip
IBAN_CURRENCIES: dict[str, str] = {
    "BG": "BGN", "CH": "CHF", "CZ": "CZK", "DK": "DKK", "GB": "GBP", "HU": "HUF",
    "IS": "ISK", "NO": "NOK", "PL": "PLN", "RO": "RON", "SE": "SEK", "TR": "TRY",
    "AE": "AED", "IL": "ILS", "SA": "SAR",
}  # fmt: skip
"""IBAN countries whose own currency is not the euro (the others pay locally in EUR)."""

_BIC = re.compile(r"^[A-Z]{4}([A-Z]{2})[A-Z0-9]{2}([A-Z0-9]{3})?$")
_IBAN = re.compile(r"^([A-Z]{2})[0-9]{2}[A-Z0-9]+$")
_IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9]{1,50}$")


def _digits(count: int) -> Callable[[str], bool]:
    return lambda value: len(value) == count and value.isdigit()


def aba_ok(value: str) -> bool:
    """An ABA routing number: 9 digits whose 3-7-1 weighted sum is a multiple of 10."""
    if len(value) != 9 or not value.isdigit():
        return False
    return sum(int(d) * (3, 7, 1)[i % 3] for i, d in enumerate(value)) % 10 == 0


def clabe_ok(value: str) -> bool:
    """A Mexican CLABE: 18 digits; the last is (10 - sum of 3-7-1 weighted products mod 10)."""
    if len(value) != 18 or not value.isdigit():
        return False
    total = sum((int(d) * (3, 7, 1)[i % 3]) % 10 for i, d in enumerate(value[:17]))
    return (10 - total % 10) % 10 == int(value[17])


def iban_ok(value: str, country: str) -> bool:
    """ISO 13616: the bank country's prefix and length, and mod-97 of the rearranged digits."""
    match = _IBAN.match(value)
    if match is None or match.group(1) != country or IBAN_LENGTHS.get(country) != len(value):
        return False
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def bic_ok(value: str, country: str) -> bool:
    """ISO 9362 structure, located in the bank country."""
    match = _BIC.match(value)
    return match is not None and match.group(1) == country


ROUTING_CHECKS: dict[str, Callable[[str], bool]] = {
    "sort_code": _digits(6),
    "aba": aba_ok,
    "bsb_code": _digits(6),
    "ifsc": lambda value: bool(_IFSC.match(value)),
    "clabe": clabe_ok,
    "institution_no": _digits(3),
    "branch_code": _digits(5),
    "cnaps": _digits(12),
    "bank_code": lambda value: bool(_ACCOUNT.match(value)),
}
_ROUTING_NAMES = {
    "sort_code": "Sort code",
    "aba": "ABA routing number",
    "bsb_code": "BSB code",
    "ifsc": "IFSC",
    "clabe": "CLABE",
    "institution_no": "Institution number",
    "branch_code": "Branch code",
    "cnaps": "CNAPS code",
    "bank_code": "Bank code",
}

LOCAL_SCHEMES: dict[tuple[str, str], tuple[bool, tuple[str, ...]]] = {
    ("GB", "GBP"): (True, ("sort_code",)),
    ("US", "USD"): (True, ("aba",)),
    ("AU", "AUD"): (True, ("bsb_code",)),
    ("CA", "CAD"): (True, ("institution_no", "branch_code")),
    ("IN", "INR"): (True, ("ifsc",)),
    ("MX", "MXN"): (False, ("clabe",)),
    ("CN", "CNY"): (True, ("cnaps",)),
}
"""(bank country, currency) -> (account_number required, routing code types required)."""


def bank_problems(fields: Mapping[str, str], country: str, currency: str, out: Problems) -> None:
    """Record every missing or malformed bank detail of ``fields`` for (country, currency)."""
    _check_given(fields, country, out)
    scheme = LOCAL_SCHEMES.get((country, currency))
    if scheme is not None:
        needs_account, routing_types = scheme
        if needs_account and not fields.get("account_number"):
            add(out, "account_number", "account_number_is_missing", "Account number is missing")
        routing = _routing(fields)
        for kind in routing_types:
            if kind not in routing:
                name = _ROUTING_NAMES[kind]
                add(out, "routing_code", f"{kind}_is_missing", f"{name} is missing")
        return
    if country in IBAN_LENGTHS and currency in ("EUR", IBAN_CURRENCIES.get(country)):
        if not fields.get("iban"):
            add(out, "iban", "iban_is_missing", "IBAN is missing")
    elif not fields.get("iban") and not fields.get("account_number"):
        add(out, "account_number", "account_number_is_missing", "Account number is missing")
    if not fields.get("bic_swift"):
        add(out, "bic_swift", "bic_swift_is_missing", "BIC/SWIFT is missing")


def _check_given(fields: Mapping[str, str], country: str, out: Problems) -> None:
    """Malformed values, whatever the scheme (a detail given must be right)."""
    account = fields.get("account_number", "")
    if account and not _ACCOUNT.match(account):
        add(
            out,
            "account_number",
            "account_number_is_invalid",
            "Account number is in invalid format",
        )
    iban = fields.get("iban", "")
    if iban and not iban_ok(iban, country):
        add(out, "iban", "iban_is_invalid", "IBAN is in invalid format")
    bic = fields.get("bic_swift", "")
    if bic and not bic_ok(bic, country):
        add(out, "bic_swift", "bic_swift_is_invalid", "BIC/SWIFT is in invalid format")
    for slot in ("1", "2"):
        kind = fields.get(f"routing_code_type_{slot}", "")
        value = fields.get(f"routing_code_value_{slot}", "")
        if not kind and not value:
            continue
        field = f"routing_code_type_{slot}"
        if kind not in ROUTING_CHECKS:
            allowed = ", ".join(ROUTING_CHECKS)
            add(out, field, f"{field}_not_in_range", f"{field} should be in range: {allowed}")
        elif not ROUTING_CHECKS[kind](value):
            name = _ROUTING_NAMES[kind]
            add(out, f"routing_code_value_{slot}", f"{kind}_is_invalid", f"{name} is invalid")


def _routing(fields: Mapping[str, str]) -> set[str]:
    return {
        fields[f"routing_code_type_{slot}"]
        for slot in ("1", "2")
        if fields.get(f"routing_code_type_{slot}") and fields.get(f"routing_code_value_{slot}")
    }
