"""What a flush decides: journal events, entries, transactions, total deltas.

The posting engine fills an ``Effects``; the storage layer writes it. Plain
data, so a flush can be undone by dropping a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from . import chain
from .commands import IdempotencyRecord
from .model import EntrySpec, Totals, Transaction


@dataclass(frozen=True)
class ChainHead:
    """The last journal event: its sequence number and hash."""

    sequence: int = 0
    hash: str = chain.GENESIS_HASH


@dataclass(frozen=True)
class JournalEvent:
    """One hash-chained journal row."""

    sequence: int
    kind: str
    transaction_id: str
    prev_hash: str
    hash: str
    time: datetime


@dataclass(frozen=True)
class WrittenEntry:
    """An entry row to insert. Posted entries carry the posted balance after them."""

    sequence: int
    index: int
    transaction_id: str
    spec: EntrySpec
    pending: bool
    effective_time: datetime
    balance_after: int | None


@dataclass
class Effects:
    """Everything a flush must write, in the order it was decided."""

    journal: list[JournalEvent] = field(default_factory=list)
    created: dict[str, Transaction] = field(default_factory=dict)
    updated: dict[str, Transaction] = field(default_factory=dict)
    entries: list[WrittenEntry] = field(default_factory=list)
    deltas: dict[str, Totals] = field(default_factory=dict)
    remembered: list[IdempotencyRecord] = field(default_factory=list)

    def copy(self) -> Effects:
        return Effects(
            list(self.journal),
            dict(self.created),
            dict(self.updated),
            list(self.entries),
            dict(self.deltas),
            list(self.remembered),
        )
