"""Where each test's database lives, for the whole suite.

Fixtures:
    pg_admin_url        session; a libpq URL of a PostgreSQL that can CREATE DATABASE.
    pg_database_url     function; a fresh, empty PostgreSQL database (SQLAlchemy
                        async URL), dropped afterwards.
    sqlite_database_url function; a SQLite file in the test's tmp_path.
    database_url        function, parametrized ["sqlite", "postgres"]: one
                        contract suite runs against both backends.

PostgreSQL is found through PAYMESH_TEST_PG_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/postgres). When it is unreachable the
PostgreSQL tests are skipped with the reason shown (pytest runs with -ra) and a
banner at the end of the run, except when PAYMESH_REQUIRE_POSTGRES=1 (set by
.ci/run), where they fail: CI must never pass with the PostgreSQL half of the
suite silently missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

PG_ADMIN_URL_ENV = "PAYMESH_TEST_PG_ADMIN_URL"
REQUIRE_POSTGRES_ENV = "PAYMESH_REQUIRE_POSTGRES"
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S = 2
TEST_DB_PREFIX = "paymesh_t_"
# Part of every skip reason below; pytest_terminal_summary counts skips by it.
PG_UNREACHABLE = "PostgreSQL not reachable at"

PG_FIXTURES = frozenset({"pg_admin_url", "pg_database_url"})


def _admin_url() -> URL:
    # Accept a SQLAlchemy-style URL too (postgresql+psycopg://...): psycopg
    # itself only understands the plain postgresql:// form.
    url = make_url(os.environ.get(PG_ADMIN_URL_ENV, DEFAULT_PG_ADMIN_URL))
    return url.set(drivername="postgresql")


def _libpq(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _connect(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_libpq(url), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The admin URL, once PostgreSQL has answered; else skip (or fail in CI).

    Session scoped, so an unreachable server costs one connect timeout per run:
    pytest caches the skip or failure and raises it again for every user.
    """
    url = _admin_url()
    shown = url.render_as_string(hide_password=True)
    try:
        with _connect(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        error = f"{type(exc).__name__}: {exc}".strip()
    else:
        return _libpq(url)
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(
            f"{PG_UNREACHABLE} {shown} and {REQUIRE_POSTGRES_ENV}=1 makes the PostgreSQL "
            f"tests mandatory. Start PostgreSQL or point {PG_ADMIN_URL_ENV} at one. ({error})",
            pytrace=False,
        )
    pytest.skip(
        f"{PG_UNREACHABLE} {shown}; set {PG_ADMIN_URL_ENV} or start PostgreSQL "
        f"(these tests are mandatory in CI)"
    )


@pytest.fixture
def pg_database_url(pg_admin_url: str) -> Iterator[str]:
    """A new empty database for this test only, as a postgresql+psycopg:// URL."""
    admin = make_url(pg_admin_url)
    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex}"
    with _connect(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _libpq(admin.set(drivername="postgresql+psycopg", database=name))
    finally:
        # FORCE ends connections a test left open (a pool not disposed), which
        # would otherwise make the DROP fail and leak the database.
        with _connect(admin) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """A SQLite database file of this test's own, as a sqlite+aiosqlite:// URL."""
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database, once per backend."""
    fixture = {"sqlite": "sqlite_database_url", "postgres": "pg_database_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs PostgreSQL, so `-m "not postgres"` leaves them out.

    database_url's postgres parameter is marked by its param; this catches tests
    that ask for the PostgreSQL fixtures directly.
    """
    for item in items:
        if PG_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    count = sum(1 for report in skipped if PG_UNREACHABLE in _skip_reason(report))
    if count:
        terminalreporter.write_sep(
            "!",
            f"{count} PostgreSQL test(s) SKIPPED: PostgreSQL was not reachable "
            f"(see {PG_ADMIN_URL_ENV}); CI runs them with {REQUIRE_POSTGRES_ENV}=1",
            yellow=True,
            bold=True,
        )


def _skip_reason(report: pytest.TestReport) -> str:
    # A skip's longrepr is (path, lineno, reason).
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)
