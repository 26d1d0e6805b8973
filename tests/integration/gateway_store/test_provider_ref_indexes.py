"""Callbacks that name our objects by the provider's own ids find them through migration
0004's indexes, on each backend: the statements the lookups really send are explained, with
sequential scans off on PostgreSQL so that only an index that matches the query's expression
exactly can serve it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway_svc.adapters.provider_object_refs import ProviderObjectRefs
from gateway_svc.domain.providers import Provider

Lookup = Callable[[ProviderObjectRefs], Awaitable[object]]
LOOKUPS: list[tuple[str, Lookup]] = [
    ("ix_payments_provider_ref", lambda r: r.payment_by_ref(Provider.RAZORPAY, "pay_29QQoUBi66")),
    ("ix_payments_capture_ref",
     lambda r: r.payment_by_ref(Provider.PAYPAL, "8MC585209K746", ("provider_refs", "capture_id"))),
    ("ix_refunds_provider_ref", lambda r: r.refund_by_ref(Provider.STRIPE, "re_3MtwBw")),
]  # fmt: skip


async def _sent(conn: AsyncConnection, lookup: Lookup) -> tuple[str, Any]:
    """The one statement ``lookup`` sends, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN or PRAGMAs
            seen.append((statement, params))

    event.listen(conn.sync_connection, "before_cursor_execute", record)
    try:
        await lookup(ProviderObjectRefs(conn))
    finally:
        event.remove(conn.sync_connection, "before_cursor_execute", record)
    [sent] = seen
    return sent


@pytest.mark.parametrize(("index", "lookup"), LOOKUPS, ids=[name for name, _ in LOOKUPS])
async def test_a_lookup_by_provider_id_is_served_by_its_index(
    engine: AsyncEngine, index: str, lookup: Lookup
) -> None:
    async with engine.connect() as conn:
        statement, params = await _sent(conn, lookup)
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET enable_seqscan = off")
            rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", params)
        else:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        plan = "\n".join(" ".join(map(str, row)) for row in rows.all())
    assert index in plan, plan


async def test_migration_0004_made_every_index(engine: AsyncEngine) -> None:
    # Read from the catalogs: SQLAlchemy does not reflect SQLite's expression indexes.
    catalog = (
        "SELECT indexname FROM pg_indexes WHERE tablename IN ('payments', 'refunds')"
        if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index'"
        " AND tbl_name IN ('payments', 'refunds')"
    )
    async with engine.connect() as conn:
        names = set((await conn.exec_driver_sql(catalog)).scalars())
    assert {name for name, _ in LOOKUPS} <= names
