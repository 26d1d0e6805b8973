"""Reads what VerifyLedger needs, rebuilding each journal event's content from rows."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger_svc.domain import chain
from ledger_svc.domain.model import Totals

from . import tables as t
from .rows import entry_spec, utc, utc_or_none

PAGE = 2000


@dataclass(frozen=True)
class RebuiltEvent:
    """A journal row with its content rebuilt from the current rows."""

    sequence: int
    prev_hash: str
    hash: str
    transaction_id: str
    content: bytes
    transaction_hash_mismatch: bool


class VerifyReader:
    """Read-only scans for VerifyLedger."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def stored_totals(self) -> dict[str, tuple[str, Totals]]:
        """Every account's currency and stored running totals."""
        a = t.accounts
        stmt = select(
            a.c.id, a.c.currency, a.c.debits_posted, a.c.credits_posted,
            a.c.debits_pending, a.c.credits_pending,
        )  # fmt: skip
        rows = (await self.conn.execute(stmt)).all()
        return {r[0]: (r[1], Totals(r[2], r[3], r[4], r[5])) for r in rows}

    async def unbalanced_events(self) -> list[tuple[int, str, int]]:
        """(sequence, currency, debits - credits) for every event whose entries don't balance."""
        e = t.entries
        signed = func.sum(case((e.c.direction == "DEBIT", e.c.amount), else_=-e.c.amount))
        stmt = (
            select(e.c.sequence, e.c.currency, signed)
            .group_by(e.c.sequence, e.c.currency)
            .having(signed != 0)
            .order_by(e.c.sequence)
        )
        return [(int(s), str(c), int(d)) for s, c, d in (await self.conn.execute(stmt)).all()]

    async def counts(self) -> tuple[int, int]:
        """How many transactions and entries there are."""
        n_tx = (await self.conn.execute(select(func.count()).select_from(t.transactions))).scalar()
        n_e = (await self.conn.execute(select(func.count()).select_from(t.entries))).scalar()
        return int(n_tx or 0), int(n_e or 0)

    async def head(self) -> tuple[int, str]:
        """The stored chain head."""
        row = (await self.conn.execute(select(t.ledger_head))).mappings().one()
        return int(row["sequence"]), str(row["hash"])

    async def events(self) -> AsyncIterator[RebuiltEvent]:
        """Every journal event in sequence order, a page at a time."""
        after = 0
        while True:
            j = t.journal
            stmt = select(j).where(j.c.sequence > after).order_by(j.c.sequence).limit(PAGE)
            rows = (await self.conn.execute(stmt)).mappings().all()
            if not rows:
                return
            txs = await self._transactions({r["transaction_id"] for r in rows})
            entries = await self._entries(rows[0]["sequence"], rows[-1]["sequence"])
            for r in rows:
                yield _rebuild(r, txs.get(r["transaction_id"]), entries.get(r["sequence"], []))
            after = rows[-1]["sequence"]

    async def _transactions(self, ids: set[str]) -> dict[str, Mapping[Any, Any]]:
        stmt = select(t.transactions).where(t.transactions.c.id.in_(sorted(ids)))
        return {r["id"]: r for r in (await self.conn.execute(stmt)).mappings().all()}

    async def _entries(self, first: int, last: int) -> dict[int, list[Mapping[Any, Any]]]:
        e = t.entries
        stmt = (
            select(e)
            .where(e.c.sequence >= first, e.c.sequence <= last)
            .order_by(e.c.sequence, e.c.idx)
        )
        out: dict[int, list[Mapping[Any, Any]]] = defaultdict(list)
        for row in (await self.conn.execute(stmt)).mappings():
            out[row["sequence"]].append(row)
        return out


def _rebuild(
    event: Mapping[Any, Any], tx: Mapping[Any, Any] | None, entries: list[Mapping[Any, Any]]
) -> RebuiltEvent:
    specs = [entry_spec(e) for e in entries]
    if tx is None:
        # The transaction row is gone: rebuild nothing, which cannot match the hash.
        content = b"missing transaction " + event["transaction_id"].encode()
        mismatch = True
    elif event["kind"] == "CREATE":
        pending = bool(entries) and all(e["pending"] for e in entries)
        content = chain.create_content(
            transaction_id=tx["id"],
            status="PENDING" if pending else "POSTED",
            entries=specs,
            description=tx["description"],
            external_ref=tx["external_ref"],
            metadata=json.loads(tx["metadata_json"]),
            effective_time=utc(tx["effective_time"]),
            expire_time=utc_or_none(tx["expire_time"]),
            reverses_id=tx["reverses_id"],
        )
        mismatch = tx["hash"] != event["hash"] or tx["sequence"] != event["sequence"]
    else:
        at = utc_or_none(tx["resolve_time"]) or utc(event["time"])
        content = chain.resolve_content(
            kind=event["kind"], transaction_id=tx["id"], at=at, posted=specs
        )
        mismatch = False
    return RebuiltEvent(
        sequence=event["sequence"],
        prev_hash=event["prev_hash"],
        hash=event["hash"],
        transaction_id=event["transaction_id"],
        content=content,
        transaction_hash_mismatch=mismatch,
    )
