"""The ledger's types: accounts, their running totals, transactions and entries.

Every amount is an ``int`` of minor units; a currency is an ISO 4217 code.
Objects are frozen: a change is a new value, which is what lets the posting
engine undo an atomic batch by dropping the values it made.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class AccountType(enum.Enum):
    """Accounting type; fixes the normal balance."""

    ASSET = "ASSET"
    LIABILITY = "LIABILITY"
    EQUITY = "EQUITY"
    REVENUE = "REVENUE"
    EXPENSE = "EXPENSE"

    @property
    def debit_normal(self) -> bool:
        """True for types whose balance grows with debits (ASSET, EXPENSE)."""
        return self in (AccountType.ASSET, AccountType.EXPENSE)


class Direction(enum.Enum):
    """The side of an account an entry is written to."""

    DEBIT = "DEBIT"
    CREDIT = "CREDIT"

    def mirrored(self) -> Direction:
        """The other side: what a reversal writes."""
        return Direction.CREDIT if self is Direction.DEBIT else Direction.DEBIT


class AccountStatus(enum.Enum):
    """Whether an account takes new entries."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"


class TxStatus(enum.Enum):
    """Where a transaction is in its life. Only PENDING ever changes."""

    PENDING = "PENDING"
    POSTED = "POSTED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Totals:
    """An account's four running totals (TigerBeetle's model), in minor units."""

    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    def plus(self, other: Totals) -> Totals:
        """Element-wise sum; deltas may be negative (a released hold)."""
        return Totals(
            self.debits_posted + other.debits_posted,
            self.credits_posted + other.credits_posted,
            self.debits_pending + other.debits_pending,
            self.credits_pending + other.credits_pending,
        )

    def is_zero(self) -> bool:
        """True when all four totals are zero."""
        return self == Totals()


@dataclass(frozen=True)
class Balances:
    """Balances derived from totals, signed by the account's normal balance."""

    posted: int
    pending: int
    available: int


def balances(totals: Totals, *, debit_normal: bool) -> Balances:
    """Posted, pending (posted + all pending) and available (posted - pending outgoing)."""
    sign = 1 if debit_normal else -1
    posted = sign * (totals.debits_posted - totals.credits_posted)
    pending_net = sign * (totals.debits_pending - totals.credits_pending)
    outgoing = totals.credits_pending if debit_normal else totals.debits_pending
    return Balances(posted=posted, pending=posted + pending_net, available=posted - outgoing)


@dataclass(frozen=True)
class NewAccount:
    """What a caller asks for when opening an account."""

    code: str
    name: str
    currency: str
    type: AccountType
    owner: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False


@dataclass(frozen=True)
class Account:
    """An account as stored: immutable but for its totals and status."""

    id: str
    code: str
    name: str
    currency: str
    type: AccountType
    owner: str
    metadata: dict[str, str]
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    status: AccountStatus
    create_time: datetime
    totals: Totals = Totals()

    @property
    def balances(self) -> Balances:
        """This account's derived balances."""
        return balances(self.totals, debit_normal=self.type.debit_normal)

    def with_totals(self, totals: Totals) -> Account:
        """This account with other running totals.

        ``dataclasses.replace`` re-runs the generated ``__init__`` field by field; the
        posting engine makes one of these per account per transaction, so it copies the
        instance dict instead (a sixth of the cost; no field is derived or validated).
        """
        new = object.__new__(Account)
        new.__dict__.update(self.__dict__)
        new.__dict__["totals"] = totals
        return new


@dataclass(frozen=True)
class EntrySpec:
    """One leg of a transaction: account, side, positive amount and its currency."""

    account_id: str
    direction: Direction
    amount: int
    currency: str


@dataclass(frozen=True)
class NewTransaction:
    """What a caller asks for when recording a transaction."""

    entries: tuple[EntrySpec, ...]
    description: str = ""
    external_ref: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    effective_time: datetime | None = None
    pending: bool = False
    pending_timeout_s: float | None = None


@dataclass(frozen=True)
class Transaction:
    """A recorded transaction. ``posted_entries`` are what count in posted balances."""

    id: str
    sequence: int
    hash: str
    status: TxStatus
    entries: tuple[EntrySpec, ...]
    posted_entries: tuple[EntrySpec, ...]
    description: str
    external_ref: str
    metadata: dict[str, str]
    effective_time: datetime
    create_time: datetime
    expire_time: datetime | None = None
    resolve_time: datetime | None = None
    reverses_id: str | None = None
    reversed_by_id: str | None = None


@dataclass(frozen=True)
class StatementLine:
    """One posted entry with the account's posted balance right after it."""

    sequence: int
    index: int
    transaction_id: str
    direction: Direction
    amount: int
    currency: str
    balance_after: int
    effective_time: datetime
    description: str

    @property
    def entry_id(self) -> str:
        """A stable id: the journal sequence that wrote the entry, and its position."""
        return f"ent_{self.sequence}_{self.index}"
