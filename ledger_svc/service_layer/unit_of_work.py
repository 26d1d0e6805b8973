"""The ledger's unit of work: svc_kit's transaction with the ledger's repositories bound."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger_svc.adapters.queries import LedgerQueries
from ledger_svc.adapters.repository import LedgerRepository
from ledger_svc.adapters.verify_reader import VerifyReader
from svc_kit import unit_of_work


class UnitOfWork(unit_of_work.UnitOfWork):
    """``uow.ledger``, ``uow.queries`` and ``uow.verify`` on one transaction."""

    def bind(self, conn: AsyncConnection) -> None:
        self.ledger = LedgerRepository(conn)
        self.queries = LedgerQueries(conn)
        self.verify = VerifyReader(conn)
