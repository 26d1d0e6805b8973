"""Read-side SQL: listings, statements, point-in-time balances, trial balance.

Listings are keyset-paginated (``after`` is the last key of the previous
page), so a page costs the same however deep it is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger_svc.domain.model import (
    Account,
    AccountType,
    Direction,
    StatementLine,
    Totals,
    Transaction,
)

from . import tables as t
from .repository import LedgerRepository
from .rows import account_from_row, utc


@dataclass(frozen=True)
class AccountFilter:
    """ListAccounts filters; empty values match everything."""

    owner: str = ""
    currency: str = ""
    type: AccountType | None = None
    code_prefix: str = ""


class LedgerQueries:
    """Read-only queries on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def list_accounts(self, f: AccountFilter, after: str, limit: int) -> list[Account]:
        """Accounts in id (creation) order after ``after``."""
        a = t.accounts
        stmt = select(a).where(a.c.id > after).order_by(a.c.id).limit(limit)
        if f.owner:
            stmt = stmt.where(a.c.owner == f.owner)
        if f.currency:
            stmt = stmt.where(a.c.currency == f.currency)
        if f.type is not None:
            stmt = stmt.where(a.c.type == f.type.value)
        if f.code_prefix:
            # Compare the prefix itself instead of LIKE, so % and _ in codes are literal.
            stmt = stmt.where(func.substr(a.c.code, 1, len(f.code_prefix)) == f.code_prefix)
        rows = (await self.conn.execute(stmt)).mappings().all()
        return [account_from_row(r) for r in rows]

    async def list_transactions(
        self,
        account_id: str,
        start: datetime | None,
        end: datetime | None,
        after: int,
        limit: int,
    ) -> list[Transaction]:
        """Transactions in sequence order after sequence ``after``."""
        tx = t.transactions
        stmt = select(tx.c.id).where(tx.c.sequence > after).order_by(tx.c.sequence).limit(limit)
        if account_id:
            e = t.entries
            stmt = stmt.where(
                exists().where(and_(e.c.transaction_id == tx.c.id, e.c.account_id == account_id))
            )
        if start is not None:
            stmt = stmt.where(tx.c.effective_time >= start)
        if end is not None:
            stmt = stmt.where(tx.c.effective_time < end)
        ids = list((await self.conn.execute(stmt)).scalars())
        loaded = await LedgerRepository(self.conn).transactions(ids)
        return [loaded[i] for i in ids]

    async def statement(
        self,
        account_id: str,
        start: datetime | None,
        end: datetime | None,
        after: tuple[int, int],
        limit: int,
    ) -> list[StatementLine]:
        """Posted entries of one account in posting order after (sequence, idx)."""
        e, tx = t.entries, t.transactions
        stmt = (
            select(e, tx.c.description)
            .join(tx, tx.c.id == e.c.transaction_id)
            .where(e.c.account_id == account_id, e.c.pending.is_(False))
            .where(tuple_(e.c.sequence, e.c.idx) > tuple_(*after))
            .order_by(e.c.sequence, e.c.idx)
            .limit(limit)
        )
        if start is not None:
            stmt = stmt.where(e.c.effective_time >= start)
        if end is not None:
            stmt = stmt.where(e.c.effective_time < end)
        rows = (await self.conn.execute(stmt)).mappings().all()
        return [
            StatementLine(
                sequence=r["sequence"],
                index=r["idx"],
                transaction_id=r["transaction_id"],
                direction=Direction(r["direction"]),
                amount=r["amount"],
                currency=r["currency"],
                balance_after=r["balance_after"],
                effective_time=utc(r["effective_time"]),
                description=r["description"],
            )
            for r in rows
        ]

    async def posted_totals_as_of(self, account_id: str, as_of: datetime) -> Totals:
        """Posted debit and credit sums over entries effective at or before ``as_of``."""
        e = t.entries
        stmt = (
            select(e.c.direction, func.coalesce(func.sum(e.c.amount), 0))
            .where(e.c.account_id == account_id, e.c.pending.is_(False))
            .where(e.c.effective_time <= as_of)
            .group_by(e.c.direction)
        )
        sums = {d: int(s) for d, s in (await self.conn.execute(stmt)).all()}
        return Totals(debits_posted=sums.get("DEBIT", 0), credits_posted=sums.get("CREDIT", 0))

    async def totals_by_currency_and_type(self) -> dict[str, dict[AccountType, Totals]]:
        """Sum of the stored running totals per currency and account type."""
        a = t.accounts
        stmt = select(
            a.c.currency,
            a.c.type,
            func.sum(a.c.debits_posted),
            func.sum(a.c.credits_posted),
            func.sum(a.c.debits_pending),
            func.sum(a.c.credits_pending),
        ).group_by(a.c.currency, a.c.type)
        out: dict[str, dict[AccountType, Totals]] = defaultdict(dict)
        for cur, typ, dp, cp, dn, cn in (await self.conn.execute(stmt)).all():
            out[cur][AccountType(typ)] = Totals(int(dp), int(cp), int(dn), int(cn))
        return dict(out)

    async def recomputed_totals(self) -> dict[str, Totals]:
        """Every account's four totals rebuilt from its entries (live holds only)."""
        e, tx = t.entries, t.transactions
        live = (e.c.pending.is_(False)) | (tx.c.status == "PENDING")
        debit = e.c.direction == "DEBIT"
        stmt = (
            select(
                e.c.account_id,
                func.sum(case((and_(debit, ~e.c.pending), e.c.amount), else_=0)),
                func.sum(case((and_(~debit, ~e.c.pending), e.c.amount), else_=0)),
                func.sum(case((and_(debit, e.c.pending), e.c.amount), else_=0)),
                func.sum(case((and_(~debit, e.c.pending), e.c.amount), else_=0)),
            )
            .select_from(e.join(tx, tx.c.id == e.c.transaction_id))
            .where(live)
            .group_by(e.c.account_id)
        )
        rows = (await self.conn.execute(stmt)).all()
        return {aid: Totals(int(a), int(b), int(c), int(d)) for aid, a, b, c, d in rows}
