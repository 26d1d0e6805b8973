"""What the gateway remembers about the ledger: transaction ids by request id, account ids.

A capture or a void names its hold by the hold's deterministic request id
(``postings``), but the ledger's PostTransaction takes the hold's transaction id; the relay
records that id here when the hold is created. Account ids by code record which books were
opened, so the relay asks the ledger to open a merchant's chart of accounts once per
database, not once per process start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from .dialect import insert_many_or_ignore, insert_or_ignore
from .rows import utc
from .tables import ledger_accounts, ledger_transactions


class LedgerRefRepository:
    """``ledger_transactions`` and ``ledger_accounts`` rows on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def remember_transaction(
        self, request_id: str, transaction_id: str, now: datetime
    ) -> None:
        """Record the ledger transaction a request id created (a repeat changes nothing)."""
        values = {
            "request_id": request_id,
            "transaction_id": transaction_id,
            "created_at": utc(now),
        }
        await insert_or_ignore(self._conn, ledger_transactions, values, ("request_id",))

    async def remember_transactions(
        self, created: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        """``remember_transaction`` for many ``(request_id, transaction_id)`` pairs, in one
        statement (a relay pass records a whole batch at once)."""
        rows = [
            {"request_id": request_id, "transaction_id": transaction_id, "created_at": utc(now)}
            for request_id, transaction_id in dict(created).items()
        ]
        if rows:
            await insert_many_or_ignore(self._conn, ledger_transactions, rows, ("request_id",))

    async def transaction_id(self, request_id: str) -> str | None:
        """The ledger transaction created with ``request_id``, if the relay has seen it."""
        stmt = select(ledger_transactions.c.transaction_id).where(
            ledger_transactions.c.request_id == request_id
        )
        found = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if found is None else str(found)

    async def remember_accounts(
        self, ids_by_code: Mapping[str, str], currency: str, now: datetime
    ) -> None:
        """Record opened accounts (code -> ledger account id)."""
        for code, account_id in ids_by_code.items():
            values = {
                "code": code,
                "account_id": account_id,
                "currency": currency,
                "created_at": utc(now),
            }
            await insert_or_ignore(self._conn, ledger_accounts, values, ("code",))

    async def known_accounts(self, codes: Iterable[str]) -> dict[str, str]:
        """The ledger account ids already recorded for ``codes``."""
        wanted = list(codes)
        if not wanted:
            return {}
        stmt = select(ledger_accounts.c.code, ledger_accounts.c.account_id).where(
            ledger_accounts.c.code.in_(wanted)
        )
        return {str(code): str(aid) for code, aid in (await self._conn.execute(stmt)).all()}
