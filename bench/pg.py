"""PostgreSQL administration for the bench databases, and the pgbench yardstick.

pgbench's TPC-B-like script is itself a tiny bank ledger (one account, teller and branch
update plus a history insert per transaction), so its TPS on this machine, measured in the
same invocation, is what ledger postings are compared with (ledger.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PGBENCH_DB = "paymesh_bench_pgbench"
LEDGER_DB = "paymesh_bench_ledger"
# Only databases with this prefix are ever created or dropped, whatever the arguments say.
_BENCH_PREFIX = "paymesh_bench_"
_TPS_RE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_LAT_RE = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)
_FAILED_RE = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class PgbenchResult:
    """What one pgbench run measured."""

    tps: float
    latency_avg_ms: float | None
    failed: int
    clients: int
    threads: int
    scale: int
    duration_s: float


def url_for_db(admin_url: str, dbname: str) -> str:
    """``admin_url`` with its database replaced by ``dbname`` (a libpq URI)."""
    params = conninfo_to_dict(admin_url)
    params["dbname"] = dbname
    return _to_uri(params)


def sqlalchemy_url(admin_url: str, dbname: str) -> str:
    """The SQLAlchemy URL of ``dbname`` on the admin URL's server, psycopg 3 driver."""
    return url_for_db(admin_url, dbname).replace("postgresql://", "postgresql+psycopg://", 1)


def _to_uri(params: Mapping[str, object]) -> str:
    user = quote(str(params.get("user") or "postgres"), safe="")
    password = f":{quote(str(params['password']), safe='')}" if params.get("password") else ""
    host = str(params.get("host") or "127.0.0.1")
    port = str(params.get("port") or "5432")
    return f"postgresql://{user}{password}@{host}:{port}/{params['dbname']}"


def recreate_database(admin_url: str, dbname: str) -> None:
    """Drop ``dbname`` if it exists and create it empty."""
    _check_bench_db(dbname)
    drop_database(admin_url, dbname)
    with _admin(admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def drop_database(admin_url: str, dbname: str) -> None:
    """Drop ``dbname`` if it exists, disconnecting anyone still connected."""
    _check_bench_db(dbname)
    with _admin(admin_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def server_version(admin_url: str) -> str:
    """The server's ``server_version`` setting."""
    with _admin(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def _admin(admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    return psycopg.connect(make_conninfo(admin_url, connect_timeout=10), autocommit=True)


def _check_bench_db(dbname: str) -> None:
    if not dbname.startswith(_BENCH_PREFIX):
        raise ValueError(f"refusing to touch {dbname!r}: not a {_BENCH_PREFIX}* database")


def run_pgbench(admin_url: str, duration_s: float, scale: int = 8) -> PgbenchResult:
    """Initialise a fresh pgbench database, run TPC-B-like on it, drop it, return the TPS."""
    exe = shutil.which("pgbench") or "/usr/bin/pgbench"
    url = url_for_db(admin_url, PGBENCH_DB)
    recreate_database(admin_url, PGBENCH_DB)
    try:
        print(f"  initialising: pgbench -i -s {scale} (about {scale * 100_000:,} accounts)")
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            [exe, "-i", "-q", "-s", str(scale), url],
            check=True,
            capture_output=True,
            text=True,
        )
        clients, threads = 8, 2
        argv = [exe, "-b", "tpcb-like", "-M", "prepared", "-c", str(clients), "-j", str(threads)]
        argv += ["-T", str(max(1, round(duration_s))), "-P", "1", url]
        print(
            f"  running: pgbench -b tpcb-like -M prepared -c {clients} -j {threads} "
            f"-T {argv[argv.index('-T') + 1]}"
        )
        output = _stream(argv)
    finally:
        drop_database(admin_url, PGBENCH_DB)
    return _parse(output, clients, threads, scale, duration_s)


def _stream(argv: list[str]) -> str:
    """Run ``argv``, echoing its per-second progress lines; return the whole output."""
    lines: list[str] = []
    with subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("progress:"):
                print(f"    pgbench {line.strip()}", flush=True)
    output = "".join(lines)
    if proc.returncode != 0:
        sys.stderr.write(output)
        raise RuntimeError(f"pgbench exited with {proc.returncode}")
    return output


def _parse(output: str, clients: int, threads: int, scale: int, duration_s: float) -> PgbenchResult:
    tps = _TPS_RE.search(output)
    if tps is None:
        raise RuntimeError(f"no 'tps = ... (without initial connection time)' line in:\n{output}")
    latency = _LAT_RE.search(output)
    failed = _FAILED_RE.search(output)
    return PgbenchResult(
        tps=float(tps.group(1)),
        latency_avg_ms=float(latency.group(1)) if latency else None,
        failed=int(failed.group(1)) if failed else 0,
        clients=clients,
        threads=threads,
        scale=scale,
        duration_s=duration_s,
    )


def commit_count(admin_url: str, dbname: str) -> int | None:
    """Transactions committed in ``dbname`` so far (pg_stat_database.xact_commit).

    The statistics lag by up to about a second (backends report at most once a second), so
    a difference over a steady window is a fair rate, not an exact count.
    """
    try:
        with _admin(admin_url) as conn:
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (dbname,)
            ).fetchone()
    except psycopg.Error:
        return None
    return int(str(row[0])) if row else None
