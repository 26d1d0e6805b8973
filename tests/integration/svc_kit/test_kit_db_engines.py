"""make_engine against real SQLite and PostgreSQL: pragmas, write serialization, retries, pools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from svc_kit.db import backend, deferred_begin, is_retryable, make_engine, ping, retrying
from svc_kit.metrics import register_pool

WRITERS = 20


async def _create_counter(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)"))
        await conn.execute(text("INSERT INTO counter VALUES (1, 0)"))


async def _increment(engine: AsyncEngine) -> None:
    """Read, think, write: the shape that deadlocks deferred SQLite transactions."""
    async with engine.begin() as conn:
        value = (await conn.execute(text("SELECT value FROM counter WHERE id = 1"))).scalar_one()
        await asyncio.sleep(0.001)
        await conn.execute(text("UPDATE counter SET value = :v WHERE id = 1"), {"v": value + 1})


async def _counter(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT value FROM counter"))).scalar_one())


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # A plain sqlite:/// URL in a directory that does not exist yet.
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'kit.db'}", pool_size=WRITERS)
    yield engine
    await engine.dispose()


async def test_sqlite_connections_get_wal_foreign_keys_and_busy_timeout(
    sqlite_engine: AsyncEngine,
) -> None:
    assert sqlite_engine.url.drivername == "sqlite+aiosqlite"
    assert backend(sqlite_engine) == "sqlite"
    async with sqlite_engine.connect() as conn:
        pragmas = {
            name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 10000,
        "synchronous": 1,
    }


async def test_concurrent_sqlite_read_modify_write_transactions_all_commit(
    sqlite_engine: AsyncEngine,
) -> None:
    await _create_counter(sqlite_engine)
    await asyncio.gather(*(_increment(sqlite_engine) for _ in range(WRITERS)))
    assert await _counter(sqlite_engine) == WRITERS


async def test_without_begin_immediate_the_same_interleaving_fails_retryably(
    sqlite_engine: AsyncEngine,
) -> None:
    # The contrast that justifies BEGIN IMMEDIATE: two deferred transactions read, one writes
    # and commits, and the other's write fails at once (its snapshot is stale).
    await _create_counter(sqlite_engine)
    deferred = deferred_begin(sqlite_engine)
    async with deferred.connect() as first, deferred.connect() as second:
        await first.begin()
        await second.begin()
        await first.execute(text("SELECT value FROM counter"))
        await second.execute(text("SELECT value FROM counter"))
        await first.execute(text("UPDATE counter SET value = 1"))
        await first.commit()
        with pytest.raises(sa_exc.OperationalError) as caught:
            await second.execute(text("UPDATE counter SET value = 2"))
        await second.rollback()
    assert is_retryable(caught.value)


async def test_ping_answers_while_a_writer_holds_the_sqlite_write_lock(
    sqlite_engine: AsyncEngine,
) -> None:
    await _create_counter(sqlite_engine)
    async with sqlite_engine.begin() as writer:
        await writer.execute(text("UPDATE counter SET value = 5"))
        assert await ping(sqlite_engine, timeout_s=0.5)


async def test_ping_reports_an_unreachable_database_without_raising() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        assert await ping(engine, timeout_s=1.0) is False
    finally:
        await engine.dispose()


async def test_pool_gauges_follow_checked_out_connections(sqlite_engine: AsyncEngine) -> None:
    register_pool("kit-sqlite", sqlite_engine)
    register_pool("kit-sqlite", sqlite_engine)  # registering again just re-binds the name
    async with sqlite_engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        labels = {"pool": "kit-sqlite"}
        assert REGISTRY.get_sample_value("db_pool_checked_out", labels) == 1.0
        assert REGISTRY.get_sample_value("db_pool_size", labels) == float(WRITERS)
        assert REGISTRY.get_sample_value("db_pool_overflow", labels) == 0.0
    assert REGISTRY.get_sample_value("db_pool_checked_out", labels) == 0.0


async def test_postgres_engine_from_a_plain_url_retries_serialization_failures(
    pg_database_url: str,
) -> None:
    plain = make_url(pg_database_url).set(drivername="postgresql")
    engine = make_engine(plain.render_as_string(hide_password=False), pool_size=WRITERS)
    try:
        assert backend(engine) == "postgresql"
        assert await ping(engine)
        await _create_counter(engine)
        serializable = engine.execution_options(isolation_level="SERIALIZABLE")
        conflicts = 0

        async def increment_counting_conflicts() -> None:
            nonlocal conflicts
            try:
                await _increment(serializable)
            except sa_exc.DBAPIError as exc:
                conflicts += is_retryable(exc)
                raise

        await asyncio.gather(
            *(
                retrying(increment_counting_conflicts, attempts=60, cap_s=0.05)
                for _ in range(WRITERS)
            )
        )
        assert await _counter(engine) == WRITERS
        assert conflicts > 0, "the writers never collided; the test proves nothing"
    finally:
        await engine.dispose()


async def test_db_restart_costs_one_failed_transaction_then_the_pool_reconnects(
    pg_database_url: str, pg_admin_url: str
) -> None:
    """No pre-ping (a round trip per transaction): when the server ends every connection (a
    restart), the first transaction on a dead pooled connection fails, that failure
    invalidates the whole pool, and every transaction after it opens a fresh connection."""
    engine = make_engine(pg_database_url)
    try:
        # Four pooled connections, all idle in the pool.
        conns = [await engine.connect() for _ in range(4)]
        for conn in conns:
            await conn.execute(text("SELECT 1"))
        for conn in conns:
            await conn.close()
        name = str(make_url(pg_database_url).database)
        admin_url = make_url(pg_admin_url).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            ).fetchone()
        assert ended is not None and ended[0] == 4
        outcomes = []
        for _ in range(6):
            try:
                async with engine.connect() as conn:
                    outcomes.append((await conn.execute(text("SELECT 7"))).scalar_one())
            except sa_exc.DBAPIError as exc:
                outcomes.append("invalidated" if exc.connection_invalidated else "failed")
        assert outcomes == ["invalidated", 7, 7, 7, 7, 7]
    finally:
        await engine.dispose()
