"""The unit of work: one database transaction that rolls back unless committed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from identity_svc.adapters.audit_log import AuditRepository
from identity_svc.adapters.tenants import TenantRepository
from identity_svc.adapters.usage import UsageRepository
from svc_kit.db import deferred_begin


class UnitOfWork:
    """``async with UnitOfWork(engine) as uow: ...; await uow.commit()``.

    Leaving the block without ``commit()`` rolls everything back.
    ``read_only`` units on SQLite read a WAL snapshot instead of queueing for
    the write lock; ``snapshot`` makes a PostgreSQL unit REPEATABLE READ, so
    that a scan over many statements sees one state of the database.
    """

    def __init__(
        self, engine: AsyncEngine, *, read_only: bool = False, snapshot: bool = False
    ) -> None:
        self._engine = deferred_begin(engine) if read_only else engine
        if snapshot and engine.dialect.name == "postgresql":
            self._engine = self._engine.execution_options(isolation_level="REPEATABLE READ")
        self._conn: AsyncConnection | None = None
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self._engine.connect()
        await self._conn.begin()
        self.tenants = TenantRepository(self._conn)
        self.audit = AuditRepository(self._conn)
        self.usage = UsageRepository(self._conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if not self._committed:
                await self._conn.rollback()
        finally:
            await self._conn.close()

    async def commit(self) -> None:
        """Make the unit's writes durable."""
        assert self._conn is not None
        await self._conn.commit()
        self._committed = True
