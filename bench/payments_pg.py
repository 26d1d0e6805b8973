"""The payments bench's PostgreSQL side: its databases, their backends, the gateway's outbox.

The stack makes one database per service from ``PAYMESH_DATABASE_URL`` (``NAME_<service>``,
scripts/stack/databases.py); the bench names them ``paymesh_bench_payments_*``, drops them
before and after a run (``bench.pg`` refuses any other prefix), and reads three things here:

- which PostgreSQL processes work for the run (``Server.pids``): the backends connected to
  its databases; and the server's shared background processes (WAL writer, checkpointer,
  background writer), which also work for anything else the server holds;
- commits per database (pg_stat_database), so the report can say how many transactions one
  payment costs each service;
- the gateway's outbox (``OutboxState``): ledger postings and audit records are delivered
  after the reply, so a step's rate counts only if the relay keeps up, and the correctness
  check needs it drained. A bench tool may read a service's table; a service never would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

from bench import pg

DB_NAME = "paymesh_bench_payments"
"""The default prefix of the run's databases (``--db-name``; a test picks its own)."""
SERVICES = ("identity", "ledger", "gateway")
_SHARED_BACKENDS = (
    "checkpointer", "background writer", "walwriter", "autovacuum launcher",
    "logical replication launcher", "archiver",
)  # fmt: skip
_OUTBOX_SQL = (
    "SELECT count(*) FILTER (WHERE done_at IS NULL AND parked_at IS NULL), "
    "count(*) FILTER (WHERE done_at IS NOT NULL), count(*) FILTER (WHERE parked_at IS NOT NULL) "
    "FROM outbox"
)


def database(name: str, service: str) -> str:
    """The database the stack makes for ``service`` from PAYMESH_DATABASE_URL's ``name``."""
    return f"{name}_{service}"


def stack_url(admin_url: str, name: str) -> str:
    """PAYMESH_DATABASE_URL for the stack: the admin URL's server, database ``name``."""
    return pg.url_for_db(admin_url, name)


def drop_all(admin_url: str, name: str) -> None:
    for service in SERVICES:
        pg.drop_database(admin_url, database(name, service))


@dataclass(frozen=True)
class OutboxState:
    """The gateway's outbox at one moment."""

    pending: int
    done: int
    parked: int


class Server:
    """One autocommit connection to the server, for the questions the bench asks while the
    stack runs; its own backend is left out of every pid list."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.databases = {s: database(name, s) for s in SERVICES}
        self._conn = _connect(admin_url)
        self._own = {self._conn.info.backend_pid}
        self._gateway: psycopg.Connection[tuple[object, ...]] | None = None

    def close(self) -> None:
        self._conn.close()
        if self._gateway is not None:
            self._gateway.close()

    def _activity(self) -> list[tuple[int, str, str]]:
        rows = self._conn.execute(
            "SELECT pid, coalesce(datname, ''), coalesce(backend_type, '') FROM pg_stat_activity"
        ).fetchall()
        return [(int(str(p)), str(d), str(t)) for p, d, t in rows if int(str(p)) not in self._own]

    def pids(self) -> list[int]:
        """Backends connected to the run's databases (autovacuum workers included)."""
        ours = set(self.databases.values())
        return [pid for pid, db, _ in self._activity() if db in ours]

    def shared_pids(self) -> list[int]:
        """The server's background processes, shared with every database on it."""
        return [pid for pid, _, kind in self._activity() if kind in _SHARED_BACKENDS]

    def commits(self) -> dict[str, int]:
        """Committed transactions so far, by service (statistics lag up to ~1 s)."""
        rows = self._conn.execute(
            "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY(%s)",
            (list(self.databases.values()),),
        ).fetchall()
        by_db = {str(db): int(str(n)) for db, n in rows}
        return {s: by_db.get(db, 0) for s, db in self.databases.items()}

    def outbox(self) -> OutboxState:
        if self._gateway is None:
            self._gateway = _connect(pg.url_for_db(self.admin_url, self.databases["gateway"]))
            self._own.add(self._gateway.info.backend_pid)
        row = self._gateway.execute(_OUTBOX_SQL).fetchone()
        assert row is not None
        pending, done, parked = (int(str(v)) for v in row)
        return OutboxState(pending, done, parked)

    def wait_drained(self, timeout_s: float, poll_s: float = 0.1) -> tuple[OutboxState, float]:
        """Wait until nothing deliverable is left in the outbox; (last state, seconds waited)."""
        started = time.monotonic()
        state = self.outbox()
        while state.pending and time.monotonic() - started < timeout_s:
            time.sleep(poll_s)
            state = self.outbox()
        return state, time.monotonic() - started


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(make_conninfo(url, connect_timeout=10), autocommit=True)


def commit_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {s: after.get(s, 0) - before.get(s, 0) for s in SERVICES}


def per_payment(delta: dict[str, int], payments: int) -> Sequence[tuple[str, float]]:
    """Commits per payment by service (0.0 when no payment was made)."""
    return [(s, delta.get(s, 0) / payments if payments else 0.0) for s in SERVICES]
