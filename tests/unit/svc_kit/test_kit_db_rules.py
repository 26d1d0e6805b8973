"""Which database errors are retried, how retrying behaves, and URL normalization."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg.errors
import pytest
from sqlalchemy import exc as sa_exc

from svc_kit.db import default_sqlite_url, is_retryable, make_engine, retrying


def _wrapped(orig: Exception) -> sa_exc.DBAPIError:
    return sa_exc.OperationalError("UPDATE accounts ...", {}, orig)


@pytest.mark.parametrize(
    "orig",
    [
        psycopg.errors.SerializationFailure("could not serialize access"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.LockNotAvailable("could not obtain lock"),
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("database is busy"),
    ],
    ids=["pg-40001", "pg-40P01", "pg-55P03", "sqlite-locked", "sqlite-busy"],
)
def test_conflicts_are_retryable_bare_and_wrapped_by_sqlalchemy(orig: Exception) -> None:
    assert is_retryable(orig)
    assert is_retryable(_wrapped(orig))


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.UniqueViolation("duplicate key"),
        psycopg.errors.CheckViolation("balance must not be negative"),
        sqlite3.OperationalError("no such table: accounts"),
        sqlite3.IntegrityError("UNIQUE constraint failed"),
        ValueError("database is locked"),  # right words, wrong kind of error
    ],
    ids=["pg-unique", "pg-check", "sqlite-no-table", "sqlite-unique", "not-a-db-error"],
)
def test_bugs_and_rule_violations_are_not_retryable(error: Exception) -> None:
    assert not is_retryable(error)
    assert not is_retryable(sa_exc.IntegrityError("INSERT ...", {}, error))


def test_a_conflict_found_through_the_cause_chain_is_retryable() -> None:
    outer = RuntimeError("unit of work failed")
    outer.__cause__ = psycopg.errors.SerializationFailure("could not serialize access")
    assert is_retryable(outer)


async def test_retrying_reruns_the_function_until_it_succeeds() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise _wrapped(psycopg.errors.SerializationFailure("conflict"))
        return "committed"

    assert await retrying(flaky, base_delay_s=0.0001) == "committed"
    assert calls == 3


async def test_retrying_gives_up_after_the_last_attempt() -> None:
    calls = 0

    async def always_conflicts() -> None:
        nonlocal calls
        calls += 1
        raise _wrapped(psycopg.errors.DeadlockDetected("deadlock"))

    with pytest.raises(sa_exc.OperationalError):
        await retrying(always_conflicts, attempts=4, base_delay_s=0.0001)
    assert calls == 4


async def test_retrying_does_not_rerun_an_error_that_is_not_a_conflict() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise _wrapped(psycopg.errors.UniqueViolation("duplicate"))

    with pytest.raises(sa_exc.OperationalError):
        await retrying(broken)
    assert calls == 1


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@db.internal:5432/ledger",
        "postgres://u@db.internal:5432/ledger",
        "postgresql+psycopg://u@db.internal:5432/ledger",
    ],
)
def test_postgres_urls_get_the_async_psycopg_driver(url: str) -> None:
    engine = make_engine(url)  # no connection is made until first use
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.database == "ledger"


def test_an_unsupported_driver_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database driver"):
        make_engine("mysql://u@db/ledger")


def test_default_sqlite_url_is_absolute_and_async() -> None:
    url = default_sqlite_url("ledger", Path("var"))
    assert url.startswith("sqlite+aiosqlite:////")
    assert url.endswith("/var/ledger.db")
