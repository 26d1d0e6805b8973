"""What the bank's clients know: the accounts, and every acknowledged result.

The history is the checker's model. Every write is retried until it has a
definite answer, so the model is exact: each acknowledged creation is one
ledger transaction, each acknowledged post, void or reversal happened once,
and nothing else happened. Posted balances predicted from it must equal the
ledger's, to the minor unit.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger_bank.bank_rpc import Leg

FINAL_STATUSES = frozenset(
    {pb.TRANSACTION_STATUS_POSTED, pb.TRANSACTION_STATUS_VOIDED, pb.TRANSACTION_STATUS_EXPIRED}
)
REPLAY_POOL_SIZE = 5000


def status_name(status: int) -> str:
    """TRANSACTION_STATUS_POSTED -> POSTED."""
    return pb.TransactionStatus.Name(status).removeprefix("TRANSACTION_STATUS_")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Bank:
    """The accounts: funding (ASSET), fees (LIABILITY), customers (the first two are hot)."""

    funding: str
    fees: str
    customers: tuple[str, ...]
    funded_per_customer: int

    @property
    def hot(self) -> tuple[str, ...]:
        return self.customers[:2]

    @property
    def cold(self) -> tuple[str, ...]:
        return self.customers[2:]

    @property
    def funded_total(self) -> int:
        return self.funded_per_customer * len(self.customers)

    @property
    def every_account(self) -> tuple[str, ...]:
        return (self.funding, self.fees, *self.customers)

    def is_debit_normal(self, account_id: str) -> bool:
        return account_id == self.funding

    def normal_signed(self, leg: Leg) -> int:
        """How much a posted leg moves its account's normal-signed posted balance."""
        account_id, direction, amount = leg
        grows = (direction == pb.DIRECTION_DEBIT) == self.is_debit_normal(account_id)
        return amount if grows else -amount


@dataclass
class KnownTx:
    """One acknowledged transaction as the clients know it."""

    tx_id: str
    legs: list[Leg]
    status: int
    has_timeout: bool = False
    posted_legs: list[Leg] | None = None
    reverses: str = ""
    reversed_by: str = ""


@dataclass(frozen=True)
class Replayable:
    """An acknowledged write request, to be sent again with the same request_id."""

    method: str
    request: Any
    tx_id: str
    legs: list[Leg]


@dataclass
class History:
    """Every acknowledged result, the work pools the clients share, and the counters."""

    bank: Bank
    txs: dict[str, KnownTx] = field(default_factory=dict)
    open_holds: list[str] = field(default_factory=list)
    reversible: list[str] = field(default_factory=list)
    reversals: list[str] = field(default_factory=list)
    replayable: list[Replayable] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    # -- recording acknowledgements --------------------------------------

    def record_creation(self, tx: pb.Transaction, legs: list[Leg], *, has_timeout: bool) -> None:
        """A CreateTransaction (or reversal) was acknowledged with tx."""
        if tx.id in self.txs:
            self.violate(f"two creations were acknowledged with the same id {tx.id}")
            return
        known = KnownTx(tx.id, legs, tx.status, has_timeout, reverses=tx.reverses_transaction_id)
        if tx.status == pb.TRANSACTION_STATUS_POSTED:
            known.posted_legs = legs
        self.txs[tx.id] = known

    def record_resolution(self, tx: pb.Transaction, posted_legs: list[Leg]) -> None:
        """A post or void of a hold was acknowledged with tx (now final)."""
        known = self.txs[tx.id]
        if known.status in FINAL_STATUSES and known.posted_legs is not None:
            self.violate(
                f"hold {tx.id} resolved twice: first {status_name(known.status)},"
                f" then acknowledged as {status_name(tx.status)}"
            )
            return
        self.record_status_seen(tx.id, tx.status)
        known.posted_legs = posted_legs

    def record_status_seen(self, tx_id: str, status: int) -> None:
        """Any response showing tx_id's status: keep the latest; two finals must agree."""
        known = self.txs[tx_id]
        if status not in FINAL_STATUSES:
            return
        if known.status in FINAL_STATUSES and known.status != status:
            self.violate(
                f"transaction {tx_id} seen {status_name(known.status)}"
                f" and later {status_name(status)}"
            )
            return
        known.status = status

    def record_reversal(self, original_id: str, reversal_id: str) -> None:
        """original_id was reversed by reversal_id (acknowledged)."""
        original = self.txs[original_id]
        if original.reversed_by and original.reversed_by != reversal_id:
            self.violate(
                f"transaction {original_id} reversed twice:"
                f" by {original.reversed_by} and by {reversal_id}"
            )
        original.reversed_by = reversal_id

    def violate(self, what: str) -> None:
        """Record an invariant violation seen during the run."""
        self.violations.append(what)

    # -- shared work pools -----------------------------------------------

    def remember_for_replay(self, replay: Replayable, rng: random.Random) -> None:
        """Keep a bounded random sample of acknowledged requests."""
        if len(self.replayable) < REPLAY_POOL_SIZE:
            self.replayable.append(replay)
        else:
            self.replayable[rng.randrange(REPLAY_POOL_SIZE)] = replay

    def take_an_open_hold(self, rng: random.Random, *, leave_it_for_a_rival: bool) -> str | None:
        """A random unresolved hold; usually removed, sometimes left so two clients race."""
        if not self.open_holds:
            return None
        index = rng.randrange(len(self.open_holds))
        if leave_it_for_a_rival:
            return self.open_holds[index]
        self.open_holds[index] = self.open_holds[-1]
        return self.open_holds.pop()

    def pick_a_transaction_to_reverse(self, rng: random.Random) -> str | None:
        """Usually a posted non-reversal; sometimes a reversal (must be refused)."""
        if self.reversals and rng.random() < 0.1:
            return rng.choice(self.reversals)
        return rng.choice(self.reversible) if self.reversible else None

    # -- the model's predictions -----------------------------------------

    def predicted_posted_balances(self) -> Counter[str]:
        """Normal-signed posted balance per account, from acknowledged results only."""
        balances: Counter[str] = Counter(dict.fromkeys(self.bank.every_account, 0))
        for known in self.txs.values():
            if known.status == pb.TRANSACTION_STATUS_POSTED and known.posted_legs:
                for leg in known.posted_legs:
                    balances[leg[0]] += self.bank.normal_signed(leg)
        return balances

    def predicted_pending_debits(self) -> Counter[str]:
        """Debits held per account by holds that must still be pending (no timeout)."""
        held: Counter[str] = Counter(dict.fromkeys(self.bank.every_account, 0))
        for known in self.holds_still_pending(with_timeout=False):
            for account_id, direction, amount in known.legs:
                if direction == pb.DIRECTION_DEBIT:
                    held[account_id] += amount
        return held

    def holds_still_pending(self, *, with_timeout: bool) -> list[KnownTx]:
        """Holds no client saw resolved, with or without a timeout."""
        return [
            k
            for k in self.txs.values()
            if k.status == pb.TRANSACTION_STATUS_PENDING and k.has_timeout == with_timeout
        ]
