"""The one SQL statement the two backends spell differently: insert unless the key exists.

(``insert_many_or_ignore`` is the same for a batch of rows in one statement.)

PostgreSQL and SQLite both have ``INSERT ... ON CONFLICT DO NOTHING``, through different
SQLAlchemy constructs. On PostgreSQL a concurrent insert of the same key waits for the other
transaction and then does nothing, so "exactly one winner" holds without catching errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

_PREBUILT: dict[tuple[str, str, tuple[str, ...], bool], Any] = {}


def _statement(conn: AsyncConnection, table: Table, keys: Sequence[str], returning: bool) -> Any:
    """The backend's ``INSERT ... ON CONFLICT DO NOTHING`` for ``table``, built once per
    process: the values come with each execution, so SQLAlchemy neither rebuilds the
    statement nor recomputes its cache key from bound literals (half of a statement's
    Python cost, measured)."""
    dialect = conn.dialect.name
    cache_key = (dialect, table.name, tuple(keys), returning)
    stmt = _PREBUILT.get(cache_key)
    if stmt is None:
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = make(table).on_conflict_do_nothing(index_elements=list(keys))
        if returning:
            stmt = stmt.returning(table.c[keys[0]])
        _PREBUILT[cache_key] = stmt
    return stmt


async def insert_or_ignore(
    conn: AsyncConnection, table: Table, values: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    """Insert ``values`` unless a row with the same ``keys`` exists; True when inserted.

    Decided by ``RETURNING``, not ``rowcount``: psycopg reports -1 for this statement.
    """
    result = await conn.execute(_statement(conn, table, keys, True), dict(values))
    return result.first() is not None


async def insert_many_or_ignore(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """Insert every row of ``rows`` whose ``keys`` are not taken yet, in one round trip (an
    executemany, which SQLAlchemy sends as one multi-row ``VALUES`` on PostgreSQL)."""
    if not rows:
        return
    await conn.execute(_statement(conn, table, keys, False), [dict(r) for r in rows])
