"""The posting engine: applies write commands to locked state, in memory, in order.

The storage layer locks the chain head and every account a flush touches,
loads them, and hands them to a ``PostingEngine``. The engine decides each
command with plain Python against that locked state (idempotency, account
status, currency, limit flags with pending counted), assigns journal sequence
numbers and hashes, and collects ``Effects`` for the storage layer to write
with atomic ``total = total + delta`` updates. Because the state is locked for
the whole flush, the checks here cannot race (ledger.md invariants 4 and 5).

A refused command changes nothing. ``apply_atomically`` applies a group all
or nothing by restoring a snapshot when any member is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from . import accounting, chain, rules
from .commands import (
    Command,
    CreateTx,
    ExpireTx,
    IdempotencyRecord,
    PostTx,
    ReverseTx,
    VoidTx,
    check_replay,
)
from .effects import ChainHead, Effects, JournalEvent, WrittenEntry
from .errors import (
    LedgerError,
    PendingExpired,
    TransactionAlreadyReversed,
    TransactionNotFound,
    TransactionNotPending,
    TransactionNotReversible,
)
from .model import Account, Direction, EntrySpec, Totals, Transaction, TxStatus

__all__ = ["ChainHead", "Effects", "JournalEvent", "PostingEngine", "WrittenEntry"]


class PostingEngine:
    """Decides a flush of commands against locked, loaded state. No I/O."""

    def __init__(
        self,
        *,
        head: ChainHead,
        accounts: dict[str, Account],
        transactions: dict[str, Transaction],
        remembered: dict[str, IdempotencyRecord],
        now: datetime,
        new_id: Callable[[str], str],
    ) -> None:
        self.head = head
        self.accounts = dict(accounts)
        self.transactions = dict(transactions)
        self.remembered = dict(remembered)
        self.now = now
        self._new_id = new_id
        self.effects = Effects()

    # -- public -----------------------------------------------------------

    def apply(self, cmd: Command) -> Transaction:
        """Apply one command, or raise a LedgerError having changed nothing."""
        # Computed once: it is checked against a stored record and stored for the next replay.
        fingerprint = cmd.fingerprint() if cmd.request_id else None
        if fingerprint is not None:
            result_id = check_replay(self.remembered.get(cmd.request_id), fingerprint)
            if result_id is not None:
                return self.transactions[result_id]
        if isinstance(cmd, CreateTx):
            tx = self._create(cmd)
        elif isinstance(cmd, PostTx):
            tx = self._post(cmd)
        elif isinstance(cmd, VoidTx):
            tx = self._release(cmd.transaction_id, TxStatus.VOIDED)
        elif isinstance(cmd, ExpireTx):
            tx = self._expire(cmd)
        else:
            tx = self._reverse(cmd)
        if fingerprint is not None:
            record = IdempotencyRecord(cmd.request_id, fingerprint, tx.id)
            self.remembered[cmd.request_id] = record
            self.effects.remembered.append(record)
        return tx

    def apply_atomically(self, cmds: Sequence[Command]) -> list[Transaction]:
        """Apply every command or none: on a refusal, restore and re-raise with its index."""
        saved = (self.head, dict(self.accounts), dict(self.transactions), dict(self.remembered))
        saved_effects = self.effects.copy()
        results: list[Transaction] = []
        for index, cmd in enumerate(cmds):
            try:
                results.append(self.apply(cmd))
            except Exception as exc:
                self.head, self.accounts, self.transactions, self.remembered = saved
                self.effects = saved_effects
                if isinstance(exc, LedgerError):
                    exc.metadata["index"] = str(index)
                raise
        return results

    # -- commands ---------------------------------------------------------

    def _create(self, cmd: CreateTx) -> Transaction:
        spec = cmd.tx
        # Checked again here, not only at the edge: money rules hold in the domain itself.
        rules.check_new_transaction(spec)
        self._check_writable(spec.entries)
        tx_id = self._new_id("txn")
        effective = spec.effective_time or self.now
        expire = None
        if spec.pending and spec.pending_timeout_s is not None:
            expire = self.now + timedelta(seconds=spec.pending_timeout_s)
        self._stage((spec.entries, spec.pending, 1))
        status = TxStatus.PENDING if spec.pending else TxStatus.POSTED
        event = self._journal(
            "CREATE",
            tx_id,
            chain.create_content(
                transaction_id=tx_id,
                status=status.value,
                entries=spec.entries,
                description=spec.description,
                external_ref=spec.external_ref,
                metadata=spec.metadata,
                effective_time=effective,
                expire_time=expire,
                reverses_id=None,
            ),
        )
        tx = Transaction(
            id=tx_id,
            sequence=event.sequence,
            hash=event.hash,
            status=status,
            entries=spec.entries,
            posted_entries=() if spec.pending else spec.entries,
            description=spec.description,
            external_ref=spec.external_ref,
            metadata=dict(spec.metadata),
            effective_time=effective,
            create_time=self.now,
            expire_time=expire,
        )
        self._write_entries(event.sequence, tx_id, spec.entries, spec.pending, effective)
        self.transactions[tx_id] = tx
        self.effects.created[tx_id] = tx
        return tx

    def _post(self, cmd: PostTx) -> Transaction:
        tx = self._pending(cmd.transaction_id)
        posted = accounting.posted_entries(tx, cmd.amount)
        self._stage((tx.entries, True, -1), (posted, False, 1))
        event = self._journal(
            "POST",
            tx.id,
            chain.resolve_content(kind="POST", transaction_id=tx.id, at=self.now, posted=posted),
        )
        self._write_entries(event.sequence, tx.id, posted, False, self.now)
        return self._resolved(tx, TxStatus.POSTED, posted)

    def _release(self, transaction_id: str, status: TxStatus) -> Transaction:
        # A due hold is exactly what EXPIRE releases; only post and void refuse it.
        tx = self._pending(transaction_id, expiring=status is TxStatus.EXPIRED)
        self._stage((tx.entries, True, -1))
        kind = "VOID" if status is TxStatus.VOIDED else "EXPIRE"
        content = chain.resolve_content(kind=kind, transaction_id=tx.id, at=self.now, posted=())
        self._journal(kind, tx.id, content)
        return self._resolved(tx, status, ())

    def _expire(self, cmd: ExpireTx) -> Transaction:
        tx = self._find(cmd.transaction_id)
        # The sweeper may race a post or void that won; expiring then is a no-op.
        if tx.status is not TxStatus.PENDING or tx.expire_time is None:
            return tx
        if tx.expire_time > self.now:
            return tx
        return self._release(tx.id, TxStatus.EXPIRED)

    def _reverse(self, cmd: ReverseTx) -> Transaction:
        orig = self._find(cmd.transaction_id)
        if orig.status is not TxStatus.POSTED or orig.reverses_id is not None:
            raise TransactionNotReversible(
                f"transaction {orig.id} is {orig.status.value}"
                + (" and is itself a reversal" if orig.reverses_id else ""),
                metadata={"transaction_id": orig.id, "status": orig.status.value},
            )
        if orig.reversed_by_id is not None:
            raise TransactionAlreadyReversed(
                f"transaction {orig.id} was already reversed by {orig.reversed_by_id}",
                metadata={"transaction_id": orig.id, "reversed_by": orig.reversed_by_id},
            )
        mirrored = tuple(replace(e, direction=e.direction.mirrored()) for e in orig.posted_entries)
        self._check_writable(mirrored)
        tx_id = self._new_id("txn")
        description = cmd.description or f"Reversal of {orig.id}"
        self._stage((mirrored, False, 1))
        event = self._journal(
            "CREATE",
            tx_id,
            chain.create_content(
                transaction_id=tx_id,
                status=TxStatus.POSTED.value,
                entries=mirrored,
                description=description,
                external_ref=orig.external_ref,
                metadata=orig.metadata,
                effective_time=self.now,
                expire_time=None,
                reverses_id=orig.id,
            ),
        )
        rev = Transaction(
            id=tx_id,
            sequence=event.sequence,
            hash=event.hash,
            status=TxStatus.POSTED,
            entries=mirrored,
            posted_entries=mirrored,
            description=description,
            external_ref=orig.external_ref,
            metadata=dict(orig.metadata),
            effective_time=self.now,
            create_time=self.now,
            reverses_id=orig.id,
        )
        self._write_entries(event.sequence, tx_id, mirrored, False, self.now)
        self.transactions[tx_id] = rev
        self.effects.created[tx_id] = rev
        self._update(replace(orig, reversed_by_id=tx_id))
        return rev

    # -- helpers ----------------------------------------------------------

    def _find(self, transaction_id: str) -> Transaction:
        tx = self.transactions.get(transaction_id)
        if tx is None:
            raise TransactionNotFound(
                f"no transaction {transaction_id!r}", metadata={"transaction_id": transaction_id}
            )
        return tx

    def _pending(self, transaction_id: str, *, expiring: bool = False) -> Transaction:
        tx = self._find(transaction_id)
        if tx.status is not TxStatus.PENDING:
            raise TransactionNotPending(
                f"transaction {tx.id} is {tx.status.value}, not PENDING",
                metadata={"transaction_id": tx.id, "status": tx.status.value},
            )
        if not expiring and tx.expire_time is not None and tx.expire_time <= self.now:
            raise PendingExpired(
                f"transaction {tx.id} expired at {chain.canonical_time(tx.expire_time)}",
                metadata={"transaction_id": tx.id},
            )
        return tx

    def _resolved(
        self, tx: Transaction, status: TxStatus, posted: tuple[EntrySpec, ...]
    ) -> Transaction:
        done = replace(tx, status=status, resolve_time=self.now, posted_entries=posted)
        self._update(done)
        return done

    def _update(self, tx: Transaction) -> None:
        self.transactions[tx.id] = tx
        if tx.id in self.effects.created:
            self.effects.created[tx.id] = tx
        else:
            self.effects.updated[tx.id] = tx

    def _check_writable(self, entries: Sequence[EntrySpec]) -> None:
        accounting.check_writable(self.accounts, entries)

    def _stage(self, *parts: tuple[Sequence[EntrySpec], bool, int]) -> None:
        """Add (entries, pending, sign) parts to the accounts' totals, all or nothing.

        Limits are checked on the final totals of every touched account before
        anything changes, so a refused command leaves the state as it was.
        """
        per_account: dict[str, list[int]] = {}
        for entries, pending, sign in parts:
            for e in entries:
                d = per_account.get(e.account_id)
                if d is None:
                    d = per_account[e.account_id] = [0, 0, 0, 0]
                d[accounting.slot(e, pending=pending)] += sign * e.amount
        staged: list[tuple[Account, Totals, Totals]] = []
        for aid, d in per_account.items():
            acct = self.accounts[aid]
            delta = Totals(*d)
            totals = acct.totals.plus(delta)
            accounting.check_limits(acct, totals)
            staged.append((acct, delta, totals))
        deltas = self.effects.deltas
        for acct, delta, totals in staged:
            self.accounts[acct.id] = acct.with_totals(totals)
            prior = deltas.get(acct.id)
            deltas[acct.id] = delta if prior is None else prior.plus(delta)

    def _write_entries(
        self,
        sequence: int,
        tx_id: str,
        entries: Sequence[EntrySpec],
        pending: bool,
        effective: datetime,
    ) -> None:
        written = self.effects.entries
        if pending:
            for i, e in enumerate(entries):
                written.append(WrittenEntry(sequence, i, tx_id, e, True, effective, None))
            return
        # Running posted balances after each entry: replay this posting's entries
        # onto the posted balances as they were before it (now minus its effect).
        sign: dict[str, int] = {}
        running: dict[str, int] = {}
        for e in entries:
            if e.account_id not in sign:
                acct = self.accounts[e.account_id]
                sign[acct.id] = 1 if acct.type.debit_normal else -1
                running[acct.id] = acct.balances.posted
            running[e.account_id] -= _signed(e, sign[e.account_id])
        for i, e in enumerate(entries):
            running[e.account_id] += _signed(e, sign[e.account_id])
            written.append(
                WrittenEntry(sequence, i, tx_id, e, False, effective, running[e.account_id])
            )

    def _journal(self, kind: str, tx_id: str, content: bytes) -> JournalEvent:
        event = JournalEvent(
            sequence=self.head.sequence + 1,
            kind=kind,
            transaction_id=tx_id,
            prev_hash=self.head.hash,
            hash=chain.link(self.head.hash, content),
            time=self.now,
        )
        self.head = ChainHead(event.sequence, event.hash)
        self.effects.journal.append(event)
        return event


def _signed(e: EntrySpec, normal_sign: int) -> int:
    """How much ``e`` moves its account's posted balance (``normal_sign``: 1 debit-normal)."""
    return normal_sign * (e.amount if e.direction is Direction.DEBIT else -e.amount)
