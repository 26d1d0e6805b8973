"""VerifyLedger's judgements: pure comparisons over what storage hands in.

Storage recomputes totals from entries and streams the journal with each
event's content rebuilt from the rows as they are now; these functions say
what disagrees (ledger.md invariant 8).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from . import chain
from .model import Totals


class DiscrepancyKind(enum.Enum):
    """What VerifyLedger can find wrong."""

    ACCOUNT_TOTAL_MISMATCH = "ACCOUNT_TOTAL_MISMATCH"
    HASH_CHAIN_BROKEN = "HASH_CHAIN_BROKEN"
    TRANSACTION_UNBALANCED = "TRANSACTION_UNBALANCED"
    CURRENCY_NOT_ZERO_SUM = "CURRENCY_NOT_ZERO_SUM"
    SEQUENCE_GAP = "SEQUENCE_GAP"


@dataclass(frozen=True)
class Discrepancy:
    """One problem: its kind, the id or currency concerned, and a human explanation."""

    kind: DiscrepancyKind
    subject: str
    detail: str


def compare_totals(
    stored: Mapping[str, Totals], recomputed: Mapping[str, Totals]
) -> list[Discrepancy]:
    """Accounts whose stored running totals differ from the sum of their entries."""
    out = []
    for account_id in sorted(stored.keys() | recomputed.keys()):
        have = stored.get(account_id, Totals())
        want = recomputed.get(account_id, Totals())
        if have != want:
            out.append(
                Discrepancy(
                    DiscrepancyKind.ACCOUNT_TOTAL_MISMATCH,
                    account_id,
                    f"stored {_fmt(have)} but entries sum to {_fmt(want)}",
                )
            )
    return out


def zero_sum(totals_by_currency: Mapping[str, Totals]) -> list[Discrepancy]:
    """Currencies whose ledger-wide debits and credits differ (posted or pending)."""
    out = []
    for currency, tot in sorted(totals_by_currency.items()):
        if tot.debits_posted != tot.credits_posted or tot.debits_pending != tot.credits_pending:
            out.append(
                Discrepancy(
                    DiscrepancyKind.CURRENCY_NOT_ZERO_SUM,
                    currency,
                    f"{currency} {_fmt(tot)}: debits and credits differ",
                )
            )
    return out


def sum_by_currency(items: Mapping[str, tuple[str, Totals]]) -> dict[str, Totals]:
    """Add up ``account_id -> (currency, totals)`` per currency."""
    out: dict[str, Totals] = defaultdict(Totals)
    for currency, tot in items.values():
        out[currency] = out[currency].plus(tot)
    return dict(out)


class ChainChecker:
    """Walks the journal in sequence order, checking links, hashes and gaps."""

    def __init__(self) -> None:
        self.expected_sequence = 1
        self.last_hash = chain.GENESIS_HASH
        self.found: list[Discrepancy] = []

    def check(
        self, *, sequence: int, prev_hash: str, stored_hash: str, content: bytes, subject: str
    ) -> None:
        """Check one event whose content was rebuilt from the rows as they are now."""
        if sequence != self.expected_sequence:
            self.found.append(
                Discrepancy(
                    DiscrepancyKind.SEQUENCE_GAP,
                    str(sequence),
                    f"expected journal sequence {self.expected_sequence}, found {sequence}",
                )
            )
        if prev_hash != self.last_hash:
            self._broken(subject, sequence, "its previous-hash link does not match")
        recomputed = chain.link(prev_hash, content)
        if recomputed != stored_hash:
            self._broken(subject, sequence, "its content no longer matches its hash")
        self.expected_sequence = sequence + 1
        self.last_hash = stored_hash

    def finish(self, head_sequence: int, head_hash: str) -> list[Discrepancy]:
        """Compare the walk's end with the stored head; return everything found."""
        if head_sequence != self.expected_sequence - 1 or head_hash != self.last_hash:
            self._broken("head", head_sequence, "the chain head does not match the last event")
        return self.found

    def _broken(self, subject: str, sequence: int, why: str) -> None:
        self.found.append(
            Discrepancy(
                DiscrepancyKind.HASH_CHAIN_BROKEN, subject, f"journal event {sequence}: {why}"
            )
        )


def _fmt(t: Totals) -> str:
    return (
        f"posted D{t.debits_posted}/C{t.credits_posted}"
        f" pending D{t.debits_pending}/C{t.credits_pending}"
    )
