"""The payments benchmark (issue 5): end-to-end payments per second through the real stack.

Run it as ``.venv/bin/python -m bench.payments`` (``make bench-payments``; ``--help`` for the
flags). It needs h2load (Debian: nghttp2-client) and the local PostgreSQL. One invocation:

1. starts the stack ``make run`` starts (``bench.payments_stack``: identity, ledger, gateway,
   the provider sandbox, Envoy) with every database on PostgreSQL, fresh
   (``paymesh_bench_payments_*`` unless ``--db-name``, dropped again at the end);
2. makes a merchant of its own and an owner API key through REST, and a few payments one by
   one (``bench.payments_data``), which open the merchant's books and tell how many outbox
   items one payment makes;
3. measures the cheapest authenticated reads (GET /v1/me, GET /v1/payments/{id}), then
   payments (POST /v1/payments with automatic capture, Stripe's test token, a distinct
   idempotency key each) closed-loop at rising concurrency until the rate stops rising
   (``bench.payments_plan``, ``bench.payments_steps``), then at a fixed rate of half the
   maximum, each step with the CPU of every process (``bench.payments_meter``);
4. records a py-spy profile of the gateway in one more step at the maximum's concurrency
   (``--no-profile`` skips it; ``bench.payments_profile``);
5. checks the books (``bench.payments_verify``): every payment CAPTURED, the outbox drained,
   the ledger's balances equal to what the payments add up to;
6. prints markdown (``bench.payments_render``) and writes it to
   bench/results/payments-<time>.md (``--out``).

The load generator, Envoy, PostgreSQL and every service share the machine's cores (two on
the reference machine): the rates are what all of them manage together.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import cpu
from bench import payments_pg as ppg
from bench.edge_load import H2LOAD
from bench.payments_render import render
from bench.payments_run import run

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _concurrency(text: str) -> list[int]:
    values = sorted({int(v) for v in text.split(",") if v.strip()})
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("a comma list of connection counts >= 1")
    return values


def _db_name(text: str) -> str:
    # bench.pg drops only paymesh_bench_* databases; PostgreSQL names stop at 63 bytes.
    if not re.fullmatch(r"paymesh_bench_[a-z0-9_]{1,32}", text):
        raise argparse.ArgumentTypeError("paymesh_bench_ then up to 32 of [a-z0-9_]")
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.payments",
        description="Benchmark end-to-end payments through Envoy REST, the gateway, the "
        "provider sandbox and the ledger on PostgreSQL, against the stack's cheapest "
        "authenticated read, with the CPU of every process and a correctness check.",
    )
    add = parser.add_argument
    add("--duration-s", type=float, default=8.0, help="measured seconds per step (8)")
    add("--warmup-s", type=float, default=2.0, help="unmeasured seconds before each (2)")
    add("--concurrency", type=_concurrency, default=[1, 2, 4, 8, 16, 32],
        help="closed-loop connection counts to try, in order, until the rate stops rising "
        "(1,2,4,8,16,32)")  # fmt: skip
    add("--read-connections", type=int, default=16, help="connections of the read steps (16)")
    add("--warmup-payments", type=int, default=10,
        help="payments made one by one before the steps (10)")  # fmt: skip
    add("--no-profile", action="store_true",
        help="skip the extra step that records a py-spy profile of the gateway")  # fmt: skip
    add("--no-callbacks", action="store_true",
        help="the sandbox sends no provider callbacks (make run's sandbox posts each state "
        "change to the gateway through Envoy, as the providers do)")  # fmt: skip
    add("--replicas", default="1",
        help="processes per service, as make run's --replicas takes them (gateway=2: two "
        "gateway processes, one of the others; %(default)s)")  # fmt: skip
    add("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL of the PostgreSQL server (%(default)s)")  # fmt: skip
    add("--db-name", type=_db_name, default=ppg.DB_NAME,
        help="the stack's databases are <this>_identity, _ledger, _gateway, made fresh and "
        "dropped at the end (%(default)s)")  # fmt: skip
    add("--service-log-level", default="WARNING", choices=("INFO", "WARNING"),
        help="the services' log level (WARNING): at INFO each RPC writes a line, which the "
        "supervisor copies, on the same cores")  # fmt: skip
    add("--quiet-wait-s", type=float, default=15.0,
        help="before each step, wait up to this long for other work on the machine to stop; "
        "0: never wait (15)")  # fmt: skip
    add("--retries", type=int, default=2,
        help="run a disturbed step again up to this many times, keeping its least disturbed "
        "run (2)")  # fmt: skip
    add("--disturbed-cores", type=float, default=0.3,
        help="a step is disturbed when this many busy cores are nobody's in the stack's "
        "(other work on the machine) (0.3)")  # fmt: skip
    add("--out", type=Path, help="markdown report (bench/results/payments-<time>.md)")
    add("--keep-workdir", action="store_true", help="keep logs, key lists and stack files")
    add("--keep-databases", action="store_true", help="do not drop the bench databases")
    args = parser.parse_args(argv)
    if args.duration_s <= 0 or args.warmup_s < 0 or args.read_connections < 1:
        parser.error("--duration-s > 0, --warmup-s >= 0 and --read-connections >= 1")
    if args.warmup_payments < 2 or args.retries < 0:
        parser.error("--warmup-payments >= 2 and --retries >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when no request failed and the correctness check passed."""
    args = parse_args(argv)
    if not Path(H2LOAD).exists():
        print(f"{H2LOAD} not found: install h2load (Debian: nghttp2-client)", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    print(f"paymesh payments bench: {cores} cores shared by the load generator (h2load), "
          "Envoy, PostgreSQL and every service", flush=True)  # fmt: skip
    idle = cpu.background_busy_cores()
    print(f"  before starting, other work kept {idle if idle is not None else '?'} cores busy")
    workdir = Path(tempfile.mkdtemp(prefix="paymesh-bench-payments-"))
    started = time.time()
    ppg.drop_all(args.pg_url, args.db_name)
    try:
        outcome = run(args, workdir)
    finally:
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep_databases:
            ppg.drop_all(args.pg_url, args.db_name)
    report = render(args, outcome, idle, time.time() - started)
    print("\n" + report, flush=True)
    out = args.out or RESULTS_DIR / f"payments-{time.strftime('%Y%m%d-%H%M%S')}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n", encoding="utf-8")
    print(f"\nreport written to {out}")
    failures = outcome.failures()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
