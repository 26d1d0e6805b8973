"""Country codes, BICs and national bank routing codes: their shapes and check digits.

Pure functions over strings, checked before any provider call (providers.md, "Validation").
Every ``*_problem`` function returns None for a good value and otherwise one sentence saying
what is wrong, written for the API caller; ``bank_details`` turns them into field violations.

Routing code types are the ones Currencycloud names (``routing_code_type_1``):

==============  ==================================================================  =======
type            shape                                                               where
==============  ==================================================================  =======
aba             9 digits; 3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) is a multiple      US
                of 10; the first two digits a Federal Reserve prefix (00-12,
                21-32, 61-72, 80)
sort_code       6 digits                                                            GB
bsb_code        6 digits                                                            AU
ifsc            4 letters, ``0``, 6 letters or digits                               IN
clabe           18 digits; the 18th is (10 - sum of (digit x 3,7,1,...) mod 10)    MX
                mod 10 over the first 17
institution_no  3 digits (the financial institution number)                         CA
branch_code     5 digits (the branch transit number)                                CA
cnaps           12 digits                                                           CN
bank_code       2 to 11 letters or digits (a national bank code)                    others
==============  ==================================================================  =======

Values are normalized before they are checked: spaces and hyphens dropped, letters upper
case (``12-34-56`` is sort code ``123456``), so a merchant can paste what a bank prints.
The shapes match the Currencycloud simulator's (``sandbox/currencycloud/bank_rules.py``), so a
value we accept is never refused by the provider for its shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Final

__all__ = [
    "COUNTRIES",
    "IBAN_COUNTRIES",
    "IBAN_SCHEME",
    "RoutingCodeType",
    "aba_problem",
    "bic_problem",
    "clabe_check_digit",
    "clabe_problem",
    "country_problem",
    "iban_scheme",
    "normalize_code",
    "routing_code_problem",
]


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


COUNTRIES: Final = _codes(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW XK
    """
)
"""ISO 3166-1 alpha-2, plus XK (Kosovo): not in ISO 3166, but SWIFT and the IBAN registry use
it, and Kosovar banks' BICs carry it."""

IBAN_COUNTRIES: Final = _codes(
    """
    AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI
    GL GR GT HN HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI
    NL NO OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE
    """
)
"""Countries of SWIFT's IBAN registry: schwifty's table without its "aspirational" formats
(reserved, not yet issued, "may be rejected by banking systems") and without the territories
it lists under their own prefix although their banks issue the parent's IBANs (see
``IBAN_SCHEME``). A test keeps this in step with schwifty's registry."""

IBAN_SCHEME: Final[dict[str, str]] = {
    **dict.fromkeys(("GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "TF"), "FR"),
    **dict.fromkeys(("JE", "GG", "IM"), "GB"),
    "AX": "FI",
}
"""Territories whose banks use another country's IBAN scheme (the IBAN registry's notes):
French overseas departments and collectivities use FR IBANs, the Crown Dependencies GB IBANs,
the Aland Islands FI IBANs. Their banks' BICs may carry the territory's own code
(``BNPAGPGP`` in Guadeloupe) or the parent's, so an IBAN and a BIC, or either and the bank
country, agree when their schemes are the same. Monaco, San Marino, the Faroes and Greenland
have their own IBAN prefixes and are not listed."""


def iban_scheme(country: str) -> str:
    """The country whose IBAN scheme ``country``'s banks use (itself unless a territory)."""
    return IBAN_SCHEME.get(country, country)


def normalize_code(value: str) -> str:
    """A code as checked and stored: no spaces or hyphens, letters upper case."""
    return re.sub(r"[\s\-]", "", value).upper()


def country_problem(country: str) -> str | None:
    """An upper-case ISO 3166-1 alpha-2 code (or XK)."""
    if country in COUNTRIES:
        return None
    return "must be an ISO 3166-1 alpha-2 country code (upper case, such as GB)"


_BIC_RE = re.compile(r"^[A-Z]{4}([A-Z]{2})[A-Z0-9]{2}(?:[A-Z0-9]{3})?$")


def bic_problem(bic: str) -> str | None:
    """ISO 9362: 4 letters (SWIFT's rule for the party prefix), a known 2-letter country,
    2 letters or digits (location), optionally 3 more (branch). ``bic`` is normalized."""
    match = _BIC_RE.match(bic)
    if match is None:
        return (
            "must be 8 or 11 characters: 4 letters, a 2-letter country, 2 letters or digits,"
            " and an optional 3-character branch"
        )
    if match.group(1) not in COUNTRIES:
        return f"names an unknown country {match.group(1)!r}"
    return None


_FED_PREFIXES = frozenset(
    [f"{n:02d}" for n in (*range(13), *range(21, 33), *range(61, 73))] + ["80"]
)


def aba_problem(value: str) -> str | None:
    """A US ABA routing transit number (see the module docstring)."""
    if len(value) != 9 or not value.isdigit():
        return "must be 9 digits"
    if value[:2] not in _FED_PREFIXES:
        return "must start with a Federal Reserve routing prefix (00-12, 21-32, 61-72 or 80)"
    weighted = sum(int(d) * (3, 7, 1)[i % 3] for i, d in enumerate(value))
    return None if weighted % 10 == 0 else "fails the ABA checksum"


def clabe_check_digit(first17: str) -> int:
    """The CLABE control digit of its first 17 digits (Banxico's weights 3, 7, 1)."""
    total = sum(int(d) * (3, 7, 1)[i % 3] % 10 for i, d in enumerate(first17))
    return (10 - total % 10) % 10


def clabe_problem(value: str) -> str | None:
    """A Mexican CLABE: 18 digits ending in its control digit."""
    if len(value) != 18 or not value.isdigit():
        return "must be 18 digits"
    if clabe_check_digit(value[:17]) != int(value[17]):
        return "fails the CLABE check digit"
    return None


def _pattern(regex: str, shape: str) -> Callable[[str], str | None]:
    compiled = re.compile(regex)
    return lambda value: None if compiled.match(value) else f"must be {shape}"


class RoutingCodeType(StrEnum):
    """A national bank routing code, by Currencycloud's name for it."""

    ABA = "aba"
    SORT_CODE = "sort_code"
    BSB_CODE = "bsb_code"
    IFSC = "ifsc"
    CLABE = "clabe"
    INSTITUTION_NO = "institution_no"
    BRANCH_CODE = "branch_code"
    CNAPS = "cnaps"
    BANK_CODE = "bank_code"


_CHECKS: Final[dict[RoutingCodeType, Callable[[str], str | None]]] = {
    RoutingCodeType.ABA: aba_problem,
    RoutingCodeType.SORT_CODE: _pattern(r"^[0-9]{6}$", "6 digits"),
    RoutingCodeType.BSB_CODE: _pattern(r"^[0-9]{6}$", "6 digits"),
    RoutingCodeType.IFSC: _pattern(
        r"^[A-Z]{4}0[A-Z0-9]{6}$", "4 letters, then 0, then 6 letters or digits"
    ),
    RoutingCodeType.CLABE: clabe_problem,
    RoutingCodeType.INSTITUTION_NO: _pattern(r"^[0-9]{3}$", "3 digits"),
    RoutingCodeType.BRANCH_CODE: _pattern(r"^[0-9]{5}$", "5 digits"),
    RoutingCodeType.CNAPS: _pattern(r"^[0-9]{12}$", "12 digits"),
    RoutingCodeType.BANK_CODE: _pattern(r"^[A-Z0-9]{2,11}$", "2 to 11 letters or digits"),
}


def routing_code_problem(kind: RoutingCodeType, value: str) -> str | None:
    """What is wrong with ``value`` (normalized) as a routing code of type ``kind``."""
    return _CHECKS[kind](value)
