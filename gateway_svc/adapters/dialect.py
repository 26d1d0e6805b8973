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


async def insert_or_ignore(
    conn: AsyncConnection, table: Table, values: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    """Insert ``values`` unless a row with the same ``keys`` exists; True when inserted.

    Decided by ``RETURNING``, not ``rowcount``: psycopg reports -1 for this statement.
    """
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt: Any = (
        make(table)
        .values(dict(values))
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c[keys[0]])
    )
    result = await conn.execute(stmt)
    return result.first() is not None


async def insert_many_or_ignore(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """Insert every row of ``rows`` whose ``keys`` are not taken yet, in one statement (a
    multi-row ``VALUES``): one round trip for a batch instead of one per row."""
    if not rows:
        return
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt: Any = make(table).values([dict(r) for r in rows]).on_conflict_do_nothing(
        index_elements=list(keys)
    )
    await conn.execute(stmt)
