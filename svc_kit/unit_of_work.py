"""The unit of work every service uses: one transaction that rolls back unless committed.

A service subclasses ``UnitOfWork`` and binds its repositories to the
connection in ``bind``; use cases then read ``uow.<repository>``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from svc_kit.db import deferred_begin


class UnitOfWork:
    """``async with SomeUnitOfWork(engine) as uow: ...; await uow.commit()``.

    Leaving the block without ``commit()`` (an exception, or simply not
    calling it) rolls everything back. ``read_only`` units on SQLite read a
    WAL snapshot instead of queueing for the write lock. ``snapshot`` makes a
    PostgreSQL unit REPEATABLE READ: a report or a verification that reads
    many statements must see one state of the database, not concurrent
    commits half way through (SQLite's WAL read already is one snapshot).
    """

    def __init__(
        self, engine: AsyncEngine, *, read_only: bool = False, snapshot: bool = False
    ) -> None:
        self._engine = deferred_begin(engine) if read_only else engine
        if snapshot and engine.dialect.name == "postgresql":
            self._engine = self._engine.execution_options(isolation_level="REPEATABLE READ")
        self._conn: AsyncConnection | None = None
        self._committed = False

    def bind(self, conn: AsyncConnection) -> None:
        """Attach the service's repositories to ``conn``; subclasses override."""

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        await self._conn.begin()
        self.bind(self._conn)
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
