"""A real LedgerService over grpc.aio on loopback, on SQLite and on PostgreSQL.

Fixtures:
    shared_ledger  module; one started service per test module and backend, on a
                   database of its own. Tests that use it open accounts with unique
                   codes and only assert about their own accounts and transactions.
    stub           function; ``shared_ledger.stub``.
    fresh_ledger   function; a service on the root ``database_url`` fixture: an
                   empty database for this test alone. For tests that assert
                   ledger-wide numbers (trial balance, VerifyLedger counts), corrupt
                   rows, or need a sweeper of their own.

Why both: CREATE DATABASE costs about 0.35 s on this machine's PostgreSQL, so a
fresh database per test would put the PostgreSQL half of the suite past a
minute. ``shared_database_url`` is ``database_url``'s module-scoped twin: the same
two backends, the same ``postgres`` mark, and the PostgreSQL server comes from the
root ``pg_admin_url`` fixture, so its skip-or-fail-in-CI policy applies unchanged.

Every test module here runs on one event loop per module
(``pytestmark = pytest.mark.asyncio(loop_scope="module")``), the loop the shared
server and its channel live on; the fixtures below use the same loop scope.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.integration.ledger.support import Served, Stub, serve_ledger

# The root conftest's prefix, so leaked databases are recognisable as test ones.
TEST_DB_PREFIX = "paymesh_t_"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def shared_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database per module and backend (``database_url``, module-scoped)."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("ledger")
        yield f"sqlite+aiosqlite:///{folder / 'ledger.db'}"
        return
    admin = make_url(request.getfixturevalue("pg_admin_url"))
    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex}"
    libpq = admin.render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = admin.set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_ledger(shared_database_url: str) -> AsyncIterator[Served]:
    """The ledger for a whole module, with a 0.2 s expiry sweep."""
    async with serve_ledger(shared_database_url, sweep_interval_s=0.2) as service:
        yield service


@pytest.fixture
def stub(shared_ledger: Served) -> Stub:
    """A LedgerService stub on the module's shared ledger."""
    return shared_ledger.stub


@pytest_asyncio.fixture(loop_scope="module")
async def fresh_ledger(database_url: str) -> AsyncIterator[Served]:
    """The ledger on an empty database of this test's own, with a 0.2 s expiry sweep."""
    async with serve_ledger(database_url, sweep_interval_s=0.2) as service:
        yield service
