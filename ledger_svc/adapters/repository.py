"""The ledger's storage on one database connection (SQLite or PostgreSQL).

Contract (the contract suite in tests/integration/ledger runs it against both):
- Every method runs inside the caller's open transaction; none commits.
- ``lock_head`` (or ``open_flush``, which starts with it) must be the first
  write-path call of a flush. On PostgreSQL it
  takes the head row ``FOR UPDATE``; on SQLite ``BEGIN IMMEDIATE`` already
  holds the database's write lock. Either way the flush runs alone.
- ``lock_accounts`` locks in sorted id order, so even callers that skip the
  head lock (CloseAccount) cannot deadlock with a flush.
- ``write_effects`` writes with ``total = total + delta``: never a value read
  into Python and written back.

On PostgreSQL the flush path (``lock_head``, ``remembered``, ``lock_accounts``,
``write_effects``) goes through psycopg itself (``pg_flush``); everything else, and
all of SQLite, through SQLAlchemy Core.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger_svc.domain.chain import sorted_json
from ledger_svc.domain.commands import IdempotencyRecord
from ledger_svc.domain.engine import ChainHead, Effects
from ledger_svc.domain.model import Account, AccountStatus, Transaction

from . import tables as t
from .pg_flush import PgFlush
from .rows import account_from_row, account_to_row, transaction_from_rows, transaction_to_row


class LedgerRepository:
    """Reads and writes the ledger's tables on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self._pg: PgFlush | None = None

    async def _pg_flush(self) -> PgFlush:
        """The flush statements on this connection's own psycopg connection (PostgreSQL)."""
        if self._pg is None:
            raw = await self.conn.get_raw_connection()
            self._pg = PgFlush(raw.driver_connection)  # type: ignore[arg-type]
        return self._pg

    # -- accounts ---------------------------------------------------------

    async def insert_account(self, acct: Account) -> bool:
        """Insert a new account; False when its code is taken (nothing written)."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(t.accounts).values(account_to_row(acct)))
        except IntegrityError:
            return False
        return True

    async def get_account(self, account_id: str, *, lock: bool = False) -> Account | None:
        """One account by id."""
        stmt = select(t.accounts).where(t.accounts.c.id == account_id)
        if lock and self.postgres:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else account_from_row(row)

    async def get_account_by_code(self, code: str) -> Account | None:
        """One account by its unique code."""
        stmt = select(t.accounts).where(t.accounts.c.code == code)
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else account_from_row(row)

    async def close_account(self, account_id: str) -> None:
        """Mark an account CLOSED (the caller holds its lock)."""
        stmt = (
            update(t.accounts)
            .where(t.accounts.c.id == account_id)
            .values(status=AccountStatus.CLOSED.value)
        )
        await self.conn.execute(stmt)

    async def lock_accounts(self, ids: Iterable[str]) -> dict[str, Account]:
        """Lock and load the named accounts in sorted id order; missing ids are absent."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        if self.postgres:
            return await (await self._pg_flush()).lock_accounts(wanted)
        stmt = select(t.accounts).where(t.accounts.c.id.in_(wanted)).order_by(t.accounts.c.id)
        rows = (await self.conn.execute(stmt)).mappings().all()
        return {r["id"]: account_from_row(r) for r in rows}

    # -- flush state ------------------------------------------------------

    async def lock_head(self) -> ChainHead:
        """Lock the chain head; the flush's serialisation point."""
        if self.postgres:
            return await (await self._pg_flush()).lock_head()
        stmt = select(t.ledger_head).where(t.ledger_head.c.id == 1)
        row = (await self.conn.execute(stmt)).mappings().one()
        return ChainHead(row["sequence"], row["hash"])

    async def open_flush(
        self, request_ids: Iterable[str], account_ids: Iterable[str]
    ) -> tuple[ChainHead, dict[str, IdempotencyRecord], dict[str, Account]]:
        """``lock_head``, then ``remembered`` and ``lock_accounts``: a flush's first reads.

        On PostgreSQL the three go in one round trip (``PgFlush.open``).
        """
        rids = sorted({r for r in request_ids if r})
        aids = sorted(set(account_ids))
        if self.postgres:
            return await (await self._pg_flush()).open(rids, aids)
        return await self.lock_head(), await self.remembered(rids), await self.lock_accounts(aids)

    async def remembered(self, request_ids: Iterable[str]) -> dict[str, IdempotencyRecord]:
        """Stored idempotency records for the given request ids."""
        wanted = sorted({r for r in request_ids if r})
        if not wanted:
            return {}
        if self.postgres:
            return await (await self._pg_flush()).remembered(wanted)
        stmt = select(t.idempotency).where(t.idempotency.c.request_id.in_(wanted))
        rows = (await self.conn.execute(stmt)).mappings().all()
        return {
            r["request_id"]: IdempotencyRecord(
                r["request_id"], json.loads(r["fingerprint_json"]), r["result_id"]
            )
            for r in rows
        }

    async def remember(self, record: IdempotencyRecord, now: datetime) -> None:
        """Store one idempotency record (outside the flush path: CreateAccount, CloseAccount)."""
        await self.conn.execute(insert(t.idempotency).values(_idempotency_row(record, now)))

    async def transactions(
        self, ids: Iterable[str], *, lock: bool = False
    ) -> dict[str, Transaction]:
        """Load transactions with their entries; missing ids are absent."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        stmt = select(t.transactions).where(t.transactions.c.id.in_(wanted))
        if lock and self.postgres:
            stmt = stmt.with_for_update()
        rows = (await self.conn.execute(stmt)).mappings().all()
        entries = await self._entries_of([r["id"] for r in rows])
        return {r["id"]: transaction_from_rows(r, entries.get(r["id"], ())) for r in rows}

    async def _entries_of(self, tx_ids: Sequence[str]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = defaultdict(list)
        if not tx_ids:
            return out
        stmt = (
            select(t.entries)
            .where(t.entries.c.transaction_id.in_(tx_ids))
            .order_by(t.entries.c.sequence, t.entries.c.idx)
        )
        for row in (await self.conn.execute(stmt)).mappings():
            out[row["transaction_id"]].append(row)
        return out

    # -- writing ----------------------------------------------------------

    async def write_effects(self, effects: Effects, head: ChainHead, now: datetime) -> None:
        """Persist everything one flush decided: one statement on PostgreSQL, one per table
        on SQLite (in-process, where a statement costs no round trip)."""
        if not effects.journal and not effects.remembered:
            return
        if self.postgres:
            await (await self._pg_flush()).write(effects, head, now)
            return
        c = self.conn
        if effects.journal:
            await c.execute(insert(t.journal), [_journal_row(j) for j in effects.journal])
        if effects.created:
            rows = [transaction_to_row(x) for x in effects.created.values()]
            await c.execute(insert(t.transactions), rows)
        if effects.updated:
            await c.execute(_UPDATE_TX, [_tx_update_row(x) for x in effects.updated.values()])
        if effects.entries:
            await self._insert_entries(effects)
        if effects.deltas:
            await c.execute(_ADD_TOTALS, [_delta_row(aid, d) for aid, d in effects.deltas.items()])
        if effects.remembered:
            rows = [_idempotency_row(r, now) for r in effects.remembered]
            await c.execute(insert(t.idempotency), rows)
        await c.execute(
            update(t.ledger_head)
            .where(t.ledger_head.c.id == 1)
            .values(sequence=head.sequence, hash=head.hash)
        )

    async def _insert_entries(self, effects: Effects) -> None:
        rows = [
            {
                "sequence": w.sequence,
                "idx": w.index,
                "transaction_id": w.transaction_id,
                "account_id": w.spec.account_id,
                "direction": w.spec.direction.value,
                "amount": w.spec.amount,
                "currency": w.spec.currency,
                "pending": w.pending,
                "effective_time": w.effective_time,
                "balance_after": w.balance_after,
            }
            for w in effects.entries
        ]
        await self.conn.execute(insert(t.entries), rows)

    async def due_expiries(self, now: datetime, limit: int) -> list[str]:
        """Ids of pending transactions whose timeout has passed, oldest first."""
        tx = t.transactions
        stmt = (
            select(tx.c.id)
            .where(tx.c.status == "PENDING", tx.c.expire_time.is_not(None), tx.c.expire_time <= now)
            .order_by(tx.c.expire_time)
            .limit(limit)
        )
        return list((await self.conn.execute(stmt)).scalars())

    async def count(self) -> int:
        """How many journal events exist (used by health and tests)."""
        return int(
            (await self.conn.execute(select(func.count()).select_from(t.journal))).scalar_one()
        )


_UPDATE_TX = (
    update(t.transactions)
    .where(t.transactions.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        resolve_time=bindparam("b_resolve_time"),
        reversed_by_id=bindparam("b_reversed_by_id"),
    )
)

_ADD_TOTALS = (
    update(t.accounts)
    .where(t.accounts.c.id == bindparam("b_id"))
    .values(
        debits_posted=t.accounts.c.debits_posted + bindparam("b_dp"),
        credits_posted=t.accounts.c.credits_posted + bindparam("b_cp"),
        debits_pending=t.accounts.c.debits_pending + bindparam("b_dn"),
        credits_pending=t.accounts.c.credits_pending + bindparam("b_cn"),
    )
)


def _tx_update_row(x: Transaction) -> dict[str, Any]:
    return {
        "b_id": x.id,
        "b_status": x.status.value,
        "b_resolve_time": x.resolve_time,
        "b_reversed_by_id": x.reversed_by_id,
    }


def _delta_row(account_id: str, d: Any) -> dict[str, Any]:
    return {
        "b_id": account_id,
        "b_dp": d.debits_posted,
        "b_cp": d.credits_posted,
        "b_dn": d.debits_pending,
        "b_cn": d.credits_pending,
    }


def _journal_row(j: Any) -> dict[str, Any]:
    return {
        "sequence": j.sequence,
        "kind": j.kind,
        "transaction_id": j.transaction_id,
        "prev_hash": j.prev_hash,
        "hash": j.hash,
        "time": j.time,
    }


def _idempotency_row(r: IdempotencyRecord, now: datetime) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "fingerprint_json": sorted_json(r.fingerprint),
        "result_id": r.result_id,
        "create_time": now,
    }
