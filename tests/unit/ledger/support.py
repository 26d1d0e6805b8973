"""Builders and a fake storage for the ledger's pure unit tests. No I/O.

``Store`` does what the storage layer does around a flush: it holds the
persisted state, builds a ``PostingEngine`` from it, and afterwards writes the
engine's ``effects`` back (totals += deltas, transactions created/updated,
idempotency records, journal rows, entry rows, the new chain head). Tests that
span flushes use it, so what carries over is what the effects say, not the
engine's in-memory dicts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger_svc.domain.commands import Command, IdempotencyRecord
from ledger_svc.domain.engine import ChainHead, JournalEvent, PostingEngine, WrittenEntry
from ledger_svc.domain.model import (
    Account,
    AccountStatus,
    AccountType,
    Direction,
    EntrySpec,
    NewTransaction,
    Totals,
    Transaction,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Ids:
    """A deterministic ``new_id``: ``txn_0001``, ``txn_0002``, ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):04d}"


def account(
    account_id: str,
    type_: AccountType = AccountType.ASSET,
    currency: str = "USD",
    *,
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
    status: AccountStatus = AccountStatus.OPEN,
    totals: Totals | None = None,
) -> Account:
    """An account as storage would load it."""
    return Account(
        id=account_id,
        code=f"code/{account_id}",
        name=f"Account {account_id}",
        currency=currency,
        type=type_,
        owner="",
        metadata={},
        debits_must_not_exceed_credits=debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=credits_must_not_exceed_debits,
        status=status,
        create_time=T0,
        totals=totals or Totals(),
    )


def debit(account_id: str, amount: int, currency: str = "USD") -> EntrySpec:
    return EntrySpec(account_id, Direction.DEBIT, amount, currency)


def credit(account_id: str, amount: int, currency: str = "USD") -> EntrySpec:
    return EntrySpec(account_id, Direction.CREDIT, amount, currency)


def transfer(
    debit_id: str,
    credit_id: str,
    amount: int,
    currency: str = "USD",
    *,
    pending: bool = False,
    pending_timeout_s: float | None = None,
    **fields: Any,
) -> NewTransaction:
    """A two-entry transaction: debit one account, credit another."""
    return NewTransaction(
        entries=(debit(debit_id, amount, currency), credit(credit_id, amount, currency)),
        pending=pending,
        pending_timeout_s=pending_timeout_s,
        **fields,
    )


def engine_with(*accounts: Account, now: datetime = T0) -> PostingEngine:
    """A fresh engine over the given accounts and an empty journal."""
    return PostingEngine(
        head=ChainHead(),
        accounts={a.id: a for a in accounts},
        transactions={},
        remembered={},
        now=now,
        new_id=Ids(),
    )


def snapshot(engine: PostingEngine) -> tuple[object, ...]:
    """Everything a refused command must leave as it was (values are frozen)."""
    fx = engine.effects
    return (
        engine.head,
        dict(engine.accounts),
        dict(engine.transactions),
        dict(engine.remembered),
        list(fx.journal),
        dict(fx.created),
        dict(fx.updated),
        list(fx.entries),
        dict(fx.deltas),
        list(fx.remembered),
    )


def effects_are_empty(engine: PostingEngine) -> bool:
    fx = engine.effects
    return not (fx.journal or fx.created or fx.updated or fx.entries or fx.deltas or fx.remembered)


@dataclass
class Store:
    """Persisted ledger state, written only from an engine's effects."""

    accounts: dict[str, Account] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    remembered: dict[str, IdempotencyRecord] = field(default_factory=dict)
    head: ChainHead = field(default_factory=ChainHead)
    journal: list[JournalEvent] = field(default_factory=list)
    entries: list[WrittenEntry] = field(default_factory=list)
    ids: Ids = field(default_factory=Ids)
    now: datetime = T0

    def open(self, *accounts: Account) -> None:
        for a in accounts:
            self.accounts[a.id] = a

    def close(self, account_id: str) -> None:
        self.accounts[account_id] = replace(self.accounts[account_id], status=AccountStatus.CLOSED)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def engine(self) -> PostingEngine:
        return PostingEngine(
            head=self.head,
            accounts=dict(self.accounts),
            transactions=dict(self.transactions),
            remembered=dict(self.remembered),
            now=self.now,
            new_id=self.ids,
        )

    def persist(self, engine: PostingEngine) -> None:
        """Write a flush's effects the way the storage layer does."""
        fx = engine.effects
        for aid, delta in fx.deltas.items():
            self.accounts[aid] = replace(
                self.accounts[aid], totals=self.accounts[aid].totals.plus(delta)
            )
        for tx_id, tx in fx.created.items():
            assert tx_id not in self.transactions, "created twice"
            self.transactions[tx_id] = tx
        for tx_id, tx in fx.updated.items():
            assert tx_id in self.transactions, "updated a transaction never created"
            self.transactions[tx_id] = tx
        for record in fx.remembered:
            self.remembered[record.request_id] = record
        self.journal.extend(fx.journal)
        self.entries.extend(fx.entries)
        self.head = engine.head

    def flush(self, *cmds: Command) -> list[Transaction]:
        """One flush applying each command on its own; refusals propagate unpersisted."""
        engine = self.engine()
        results = [engine.apply(cmd) for cmd in cmds]
        self.persist(engine)
        return results
