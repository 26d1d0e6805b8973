"""SQLAlchemy 2 async engines for SQLite (the default) and PostgreSQL, and retry of conflicts.

Engines are built from settings at start-up, never at import time (style.md rule 4).

SQLite: every transaction starts with ``BEGIN IMMEDIATE``. A default (deferred) transaction
takes the write lock only at its first write; two transactions that both read and then write
deadlock on that upgrade, and SQLite fails one with "database is locked" at once, without
waiting for busy_timeout. Taking the write lock up front makes writers queue on busy_timeout
instead. The cost is that read-only transactions also serialize; WAL keeps plain reads outside
transactions concurrent.

PostgreSQL: serialization failures and deadlocks are expected under concurrency; wrap a whole
unit of work in ``retrying`` so it is re-run from the start.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

T = TypeVar("T")

DEFERRED_BEGIN = "paymesh_deferred_begin"
"""Execution option: begin SQLite transactions with plain BEGIN. See ``deferred_begin``."""

_log = logging.getLogger(__name__)
# serialization_failure, deadlock_detected, lock_not_available (SELECT ... FOR UPDATE NOWAIT).
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
_SQLITE_BUSY_TEXT = ("database is locked", "database is busy", "database table is locked")
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers do not block the writer, nor the writer readers
    "PRAGMA foreign_keys=ON",  # off by default in SQLite, per connection
    "PRAGMA busy_timeout=10000",  # wait up to 10 s for the write lock instead of failing
    "PRAGMA synchronous=NORMAL",  # with WAL: durable except for the last commits on power loss
)


def _normalize(url: str) -> URL:
    parsed = make_url(url)
    drivers = {
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "sqlite": "sqlite+aiosqlite",
    }
    if parsed.drivername in drivers:
        parsed = parsed.set(drivername=drivers[parsed.drivername])
    if parsed.drivername not in ("postgresql+psycopg", "sqlite+aiosqlite"):
        raise ValueError(f"unsupported database driver {parsed.drivername!r}")
    return parsed


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url``; plain postgresql:// and sqlite:/// URLs get async drivers."""
    parsed = _normalize(url)
    if parsed.drivername == "postgresql+psycopg":
        # No pre-ping: it costs a round trip (SELECT 1) on every checkout, that is on every
        # transaction, which the payments benchmark measured at a fifth of the round trips
        # of a payment. Without it, after a database restart the first transaction to take a
        # dead pooled connection fails (UNAVAILABLE to its caller, whose retry is safe:
        # every write is idempotent), and that failure invalidates the whole pool, so the
        # next checkouts open fresh connections (tests/integration/svc_kit: test_db_restart).
        return create_async_engine(parsed, pool_size=pool_size, pool_pre_ping=False)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {} if in_memory else {"pool_size": pool_size}
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, **kwargs)
    _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    # SQLAlchemy's documented recipe for controlling SQLite transactions with aiosqlite: the
    # driver must not emit its own BEGIN, so that ours (IMMEDIATE) is the one that runs.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(DEFERRED_BEGIN):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def deferred_begin(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` (same pool) whose SQLite transactions do not take the write lock.

    For read-only work: in WAL mode a deferred transaction reads a consistent snapshot while a
    writer commits, instead of queueing behind it. Writing through this view brings back the
    "database is locked" failure that BEGIN IMMEDIATE exists to prevent. No effect on PostgreSQL.
    """
    return engine.execution_options(**{DEFERRED_BEGIN: True})


def default_sqlite_url(service: str, var_dir: Path = Path("var")) -> str:
    """``sqlite+aiosqlite:///<absolute var_dir>/<service>.db``."""
    return f"sqlite+aiosqlite:///{(var_dir / f'{service}.db').resolve()}"


def backend(engine: AsyncEngine) -> Literal["sqlite", "postgresql"]:
    """Which database ``engine`` talks to."""
    name = engine.dialect.name
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise ValueError(f"unsupported database dialect {name!r}")


def is_retryable(exc: BaseException) -> bool:
    """True when re-running the whole transaction may succeed: a conflict, not a bug."""
    seen: set[int] = set()
    current: BaseException | None = exc
    # SQLAlchemy wraps the driver's error (.orig), and drivers chain their own causes.
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        if type(current).__name__ == "OperationalError" and _is_sqlite_busy(current):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def _is_sqlite_busy(exc: BaseException) -> bool:
    text_ = str(exc).lower()
    return any(marker in text_ for marker in _SQLITE_BUSY_TEXT)


async def retrying(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = 8,
    base_delay_s: float = 0.005,
    cap_s: float = 0.2,
) -> T:
    """Run ``fn``, re-running it on retryable errors with exponential backoff and full jitter.

    ``fn`` must be a whole transaction (open, work, commit), since a conflict aborts it.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except Exception as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            # Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"): spreads
            # the retries of transactions that collided so they do not collide again.
            ceiling_s = min(cap_s, base_delay_s * 2 ** (attempt - 1))
            delay_s = random.uniform(0, ceiling_s)  # noqa: S311 - jitter, not a secret
            _log.debug("retrying after conflict", extra={"attempt": attempt, "error": str(exc)})
            await asyncio.sleep(delay_s)
    raise AssertionError("unreachable")  # the loop returns or raises


async def ping(engine: AsyncEngine, timeout_s: float = 1.0) -> bool:
    """True if ``SELECT 1`` answers within ``timeout_s``. Never raises (except cancellation)."""
    try:
        async with asyncio.timeout(timeout_s):
            # Deferred: a probe must not queue behind writers for the SQLite write lock, or a
            # busy database would be reported as a dead one.
            async with deferred_begin(engine).connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 - a health probe reports, it does not fail
        _log.warning("database ping failed: %s", type(exc).__name__)
        return False
