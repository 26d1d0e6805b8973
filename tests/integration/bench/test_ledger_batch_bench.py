"""The ledger batch bench (python -m bench.ledger_batch) end to end, in a tiny run: the real
ledger over mTLS on the local PostgreSQL, one-second steps at batch sizes 1 and 10.

It reads the output the way a reader would: a row per step with transactions recorded and
CPU measured for the ledger and PostgreSQL, no failed item, the books check and VerifyLedger
clean, and the run's database gone afterwards.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
# | batch | run | tx/s | calls/s | p50 ms | p99 ms | ledger µs/tx | postgres µs/tx | ...
_ROW = re.compile(
    r"^\| (?P<batch>\d+) \| (?P<run>\d+) \| (?P<txs>[\d,]+) \| [\d,.]+ \| [\d.]+ \| [\d.]+ "
    r"\| (?P<ledger>[\d,]+) \| (?P<postgres>[\d,]+) \| [\d,]+ \| [\d,]+ \| [\d,.]+ \| [\d.]+ "
    r"\| (?P<errors>\d+) \|$",
    re.M,
)

pytestmark = pytest.mark.slow


def test_a_tiny_run_measures_each_batch_size_and_finds_the_books_exact(pg_admin_url: str) -> None:
    prefix = f"paymesh_bench_lbatch_t{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "bench.ledger_batch", "--batch-sizes", "1,10",
            "--duration-s", "1", "--warmup-s", "0.5", "--repeats", "1", "--merchants", "3",
            "--callers", "2", "--db-prefix", prefix, "--pg-url", pg_admin_url]  # fmt: skip

    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)  # noqa: S603

    assert done.returncode == 0, f"failed:\n{done.stdout[-5000:]}\n{done.stderr[-3000:]}"
    rows = {int(m["batch"]): m for m in _ROW.finditer(done.stdout)}
    assert sorted(rows) == [1, 10], done.stdout
    for row in rows.values():
        assert int(row["txs"].replace(",", "")) > 0
        assert int(row["ledger"].replace(",", "")) > 0
        assert int(row["postgres"].replace(",", "")) > 0
        assert row["errors"] == "0"
    assert "9 accounts checked, VerifyLedger clean" in done.stdout
    assert "MISMATCH" not in done.stdout
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (f"{prefix}_ledger",)
        ).fetchone()
    assert left == (0,)
