"""The audit-append bench (python -m bench.audit_append) end to end, in a tiny run: a real
identity server over mTLS on the local PostgreSQL, two batch sizes, one-second steps.

It reads the output the way a reader would: every step appended events without a failed
call and measured identity's and PostgreSQL's CPU per event, the chain verified holding every
event the run appended, and the run's database is gone afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
_CHAIN = re.compile(r"chain verifies: ([\d,]+) records, ([\d,]+) events appended by the run$", re.M)
_ROW = re.compile(r"^\| (?P<batch>\d+) \| (?P<events>[\d,]+) \| [^|]+ \|", re.M)

pytestmark = pytest.mark.slow


def test_a_tiny_run_measures_each_batch_size_and_verifies_the_chain(
    tmp_path: Path, pg_admin_url: str
) -> None:
    db_name = f"paymesh_bench_audit_t{uuid.uuid4().hex[:8]}"
    out = tmp_path / "audit.json"
    argv = [sys.executable, "-m", "bench.audit_append", "--batch-sizes", "1,20",
            "--duration-s", "1", "--warmup-s", "0.5", "--clients", "1", "--pg-url", pg_admin_url,
            "--db-name", db_name, "--json-out", str(out)]  # fmt: skip

    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)  # noqa: S603

    assert done.returncode == 0, f"bench failed:\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    chain = _CHAIN.search(done.stdout)
    assert chain is not None, done.stdout[-3000:]
    assert chain.group(1) == chain.group(2) and int(chain.group(1).replace(",", "")) > 0
    assert [m["batch"] for m in _ROW.finditer(done.stdout)] == ["1", "20"]
    assert "measuring" in done.stdout  # the per-second progress lines
    results = json.loads(out.read_text())["results"]
    for step in results:
        assert step["events"] > 0 and step["errors"] == {}
        assert step["identity_us_per_event"] > 0 and step["postgres_us_per_event"] > 0
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (f"{db_name}%",)
        ).fetchone()
    assert left == (0,)
