"""A flush's statements on PostgreSQL, sent through psycopg itself.

The group commit's cost per transaction was mostly client-side statement overhead: each row
of the journal, transactions, idempotency records and total updates went through SQLAlchemy
and psycopg's executemany one by one (about 300 µs of ledger CPU per transaction in a batch
of 100 on the reference machine). ledger.md ("SQLAlchemy on the posting hot path") says to
keep SQLAlchemy for the schema and ordinary queries and drive the posting statements through
the driver's own connection; this module is that, and only that:

- ``WRITE_FLUSH`` writes everything a flush decided in ONE statement: data-modifying CTEs
  insert the journal events, transactions, entries and idempotency records, update resolved
  transactions, add each touched account's summed deltas (``x = x + delta``, ledger.md
  invariant 4) and move the chain head. Every value goes as a column array in binary format
  (psycopg's text array dumper escapes each element in Python; binary does not).
  The statement text never changes with the batch size, so PostgreSQL plans it once per
  connection (``prepare=True``).
- The entries still arrive in one INSERT, so the statement-level ``entries_balanced`` trigger
  sees every posting whole, as before; the CHECK constraints and the append-only triggers see
  every row, as before.
- The locking reads (head, idempotency records, accounts in id order) are the queries the
  SQLAlchemy path sent, prepared once per connection and pipelined into one round trip
  (``open``); PostgreSQL still runs them in order, so the head is locked first.

It runs on the connection (and inside the transaction) of the caller's unit of work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from ledger_svc.domain.chain import sorted_json
from ledger_svc.domain.commands import IdempotencyRecord
from ledger_svc.domain.effects import ChainHead, Effects
from ledger_svc.domain.model import Account, Transaction

from . import tables as t
from .rows import account_from_row

_LOCK_HEAD = "SELECT sequence, hash FROM ledger_head WHERE id = 1 FOR UPDATE"
_REMEMBERED = (
    "SELECT request_id, fingerprint_json, result_id FROM idempotency"
    " WHERE request_id = ANY(%b::text[])"
)
# Columns named, not "*": a prepared "*" fails once a migration adds a column under a running
# service ("cached plan must not change result type").
_LOCK_ACCOUNTS = (
    f"SELECT {', '.join(c.name for c in t.accounts.columns)} FROM accounts"  # noqa: S608 - schema names
    " WHERE id = ANY(%b::text[]) ORDER BY id FOR UPDATE"
)

WRITE_FLUSH = """
WITH journal_rows AS (
  INSERT INTO journal (sequence, kind, transaction_id, prev_hash, hash, time)
  SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[],
                       %b::timestamptz[])
), created AS (
  INSERT INTO transactions (id, sequence, hash, status, description, external_ref,
                            metadata_json, effective_time, create_time, expire_time,
                            resolve_time, reverses_id, reversed_by_id)
  SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::text[], %b::text[],
                       %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[],
                       %b::timestamptz[], %b::timestamptz[], %b::text[], %b::text[])
), resolved AS (
  UPDATE transactions SET status = u.status, resolve_time = u.resolve_time,
                          reversed_by_id = u.reversed_by_id
  FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::text[])
       AS u(id, status, resolve_time, reversed_by_id)
  WHERE transactions.id = u.id
), entry_rows AS (
  INSERT INTO entries (sequence, idx, transaction_id, account_id, direction, amount, currency,
                       pending, effective_time, balance_after)
  SELECT * FROM unnest(%b::bigint[], %b::integer[], %b::text[], %b::text[], %b::text[],
                       %b::bigint[], %b::text[], %b::boolean[], %b::timestamptz[],
                       %b::bigint[])
), totals AS (
  UPDATE accounts SET debits_posted = debits_posted + d.dp,
                      credits_posted = credits_posted + d.cp,
                      debits_pending = debits_pending + d.dn,
                      credits_pending = credits_pending + d.cn
  FROM unnest(%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[])
       AS d(id, dp, cp, dn, cn)
  WHERE accounts.id = d.id
), records AS (
  INSERT INTO idempotency (request_id, fingerprint_json, result_id, create_time)
  SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[])
)
UPDATE ledger_head SET sequence = %b, hash = %b WHERE id = 1
"""


class PgFlush:
    """The flush's reads and its one write, on the unit of work's psycopg connection."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn

    async def open(
        self, request_ids: list[str], account_ids: list[str]
    ) -> tuple[ChainHead, dict[str, IdempotencyRecord], dict[str, Account]]:
        """Lock the head, read the records, lock the accounts: one round trip, not four.

        Pipelined (with psycopg's BEGIN ahead of them): PostgreSQL still runs them one after
        the other, so the accounts are locked only once the head is this flush's.
        """
        async with self.conn.pipeline():
            head = await self.conn.execute(_LOCK_HEAD, prepare=True)
            records = await self.conn.execute(_REMEMBERED, [request_ids], prepare=True)
            accounts = self.conn.cursor(row_factory=dict_row)
            await accounts.execute(_LOCK_ACCOUNTS, [account_ids], prepare=True)
        row = await head.fetchone()
        assert row is not None, "the migration inserts the head row"
        return (
            ChainHead(row[0], row[1]),
            _records(await records.fetchall()),
            {r["id"]: account_from_row(r) for r in await accounts.fetchall()},
        )

    async def lock_head(self) -> ChainHead:
        """Lock the chain head row (the flush's serialisation point) and read it."""
        cur = await self.conn.execute(_LOCK_HEAD, prepare=True)
        row = await cur.fetchone()
        assert row is not None, "the migration inserts the head row"
        return ChainHead(row[0], row[1])

    async def remembered(self, wanted: list[str]) -> dict[str, IdempotencyRecord]:
        """The stored records of ``wanted`` request ids (one query for the whole flush)."""
        cur = await self.conn.execute(_REMEMBERED, [wanted], prepare=True)
        return _records(await cur.fetchall())

    async def lock_accounts(self, wanted: list[str]) -> dict[str, Account]:
        """Lock and load accounts in sorted id order (one statement)."""
        cur = self.conn.cursor(row_factory=dict_row)
        await cur.execute(_LOCK_ACCOUNTS, [wanted], prepare=True)
        return {r["id"]: account_from_row(r) for r in await cur.fetchall()}

    async def write(self, effects: Effects, head: ChainHead, now: datetime) -> None:
        """Write everything ``effects`` holds and the new head, in one statement."""
        await self.conn.execute(WRITE_FLUSH, flush_params(effects, head, now), prepare=True)


def _records(rows: Sequence[tuple[Any, ...]]) -> dict[str, IdempotencyRecord]:
    return {rid: IdempotencyRecord(rid, json.loads(fp), result_id) for rid, fp, result_id in rows}


def flush_params(effects: Effects, head: ChainHead, now: datetime) -> list[Any]:
    """WRITE_FLUSH's parameters: one array per column, in the statement's order."""
    j, e = effects.journal, effects.entries
    created = list(effects.created.values())
    updated = list(effects.updated.values())
    deltas = list(effects.deltas.items())
    records = effects.remembered
    params: list[Any] = [
        [x.sequence for x in j], [x.kind for x in j], [x.transaction_id for x in j],
        [x.prev_hash for x in j], [x.hash for x in j], [x.time for x in j],
    ]  # fmt: skip
    params += _created_columns(created)
    params += [
        [x.id for x in updated], [x.status.value for x in updated],
        [x.resolve_time for x in updated], [x.reversed_by_id for x in updated],
    ]  # fmt: skip
    params += [
        [w.sequence for w in e], [w.index for w in e], [w.transaction_id for w in e],
        [w.spec.account_id for w in e], [w.spec.direction.value for w in e],
        [w.spec.amount for w in e], [w.spec.currency for w in e], [w.pending for w in e],
        [w.effective_time for w in e], [w.balance_after for w in e],
    ]  # fmt: skip
    params += [
        [aid for aid, _ in deltas], [d.debits_posted for _, d in deltas],
        [d.credits_posted for _, d in deltas], [d.debits_pending for _, d in deltas],
        [d.credits_pending for _, d in deltas],
    ]  # fmt: skip
    params += [
        [r.request_id for r in records],
        [sorted_json(r.fingerprint) for r in records],
        [r.result_id for r in records], [now] * len(records),
    ]  # fmt: skip
    return [*params, head.sequence, head.hash]


def _created_columns(created: Sequence[Transaction]) -> list[list[Any]]:
    return [
        [x.id for x in created], [x.sequence for x in created], [x.hash for x in created],
        [x.status.value for x in created], [x.description for x in created],
        [x.external_ref for x in created],
        [sorted_json(x.metadata) for x in created],
        [x.effective_time for x in created], [x.create_time for x in created],
        [x.expire_time for x in created], [x.resolve_time for x in created],
        [x.reverses_id for x in created], [x.reversed_by_id for x in created],
    ]  # fmt: skip
