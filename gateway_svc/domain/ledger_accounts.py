"""A merchant's books in the ledger: five accounts per currency, and their codes.

Every merchant gets five accounts per currency, opened idempotently on first use
(``chart_of_accounts``). Codes are ``gw/<merchant_id>/<CUR>/<role>``: ``gw/`` keeps the
gateway's accounts apart from other services' in one ledger, and putting the merchant before
the currency lets ``ListAccounts(code_prefix="gw/<merchant_id>/")`` list a merchant's books.

=============  =========  ==============================================================
role           type       holds
=============  =========  ==============================================================
clearing       ASSET      money at (or held by) the providers for this merchant
payable        LIABILITY  what the platform owes the merchant; flagged
                          debits_must_not_exceed_credits: never negative
fees           REVENUE    platform fees charged to the merchant
provider_fees  EXPENSE    fees the providers charged
refunds        LIABILITY  refunds in flight: owed back to payers, not yet left the provider
=============  =========  ==============================================================
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from svc_kit.currencies import is_currency

__all__ = [
    "AccountRole",
    "AccountSpec",
    "Books",
    "LedgerAccountType",
    "chart_of_accounts",
]

_MAX_CODE_LEN = 200
_MAX_REQUEST_ID_LEN = 128
_MERCHANT_RE = re.compile(r"^[A-Za-z0-9_\-.:]+$")  # a code segment: no "/"


class LedgerAccountType(StrEnum):
    """The ledger's account types the gateway uses (the ledger's own enum is not importable
    across services; the service layer maps these names onto the proto's)."""

    ASSET = "ASSET"
    LIABILITY = "LIABILITY"
    REVENUE = "REVENUE"
    EXPENSE = "EXPENSE"

    @property
    def debit_normal(self) -> bool:
        """True for types whose balance grows with debits."""
        return self in (LedgerAccountType.ASSET, LedgerAccountType.EXPENSE)


class AccountRole(StrEnum):
    """The five accounts of a merchant's books in one currency (values end the codes)."""

    CLEARING = "clearing"
    PAYABLE = "payable"
    FEES = "fees"
    PROVIDER_FEES = "provider_fees"
    REFUNDS = "refunds"

    @property
    def type(self) -> LedgerAccountType:
        """The account type of this role (module docstring table)."""
        return _ROLE_TYPES[self]


_ROLE_TYPES = {
    AccountRole.CLEARING: LedgerAccountType.ASSET,
    AccountRole.PAYABLE: LedgerAccountType.LIABILITY,
    AccountRole.FEES: LedgerAccountType.REVENUE,
    AccountRole.PROVIDER_FEES: LedgerAccountType.EXPENSE,
    AccountRole.REFUNDS: LedgerAccountType.LIABILITY,
}


@dataclass(frozen=True, slots=True)
class Books:
    """One merchant's accounts in one currency."""

    merchant_id: str
    currency: str

    def __post_init__(self) -> None:
        if not _MERCHANT_RE.match(self.merchant_id):
            raise ValueError(f"merchant id {self.merchant_id!r} cannot appear in an account code")
        if not is_currency(self.currency):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency code")
        if len(self.code(AccountRole.PROVIDER_FEES)) > _MAX_CODE_LEN:
            raise ValueError("merchant id too long for an account code")

    def code(self, role: AccountRole) -> str:
        """The ledger account code of ``role`` in these books."""
        return f"gw/{self.merchant_id}/{self.currency}/{role.value}"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """One account to open (``CreateAccount``); ``request_id`` makes opening idempotent."""

    code: str
    name: str
    currency: str
    type: LedgerAccountType
    owner: str
    debits_must_not_exceed_credits: bool
    request_id: str


def _account_request_id(code: str) -> str:
    rid = f"open:{code}"
    if len(rid) <= _MAX_REQUEST_ID_LEN:
        return rid
    # Codes may be 200 characters, request ids only 128: a digest stays deterministic.
    return "open:" + hashlib.sha256(code.encode()).hexdigest()


def chart_of_accounts(books: Books) -> tuple[AccountSpec, ...]:
    """The five accounts of ``books``, to open on first use (repeats change nothing)."""
    return tuple(
        AccountSpec(
            code=books.code(role),
            name=f"{books.merchant_id} {books.currency} {role.value.replace('_', ' ')}",
            currency=books.currency,
            type=role.type,
            owner=books.merchant_id,
            debits_must_not_exceed_credits=role is AccountRole.PAYABLE,
            request_id=_account_request_id(books.code(role)),
        )
        for role in AccountRole
    )
