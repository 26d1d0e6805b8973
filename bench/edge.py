"""The edge benchmark (issue 4): REST through Envoy with and without ext_authz, direct gRPC,
and the internal gRPC pass-through, on one machine, with the CPU each process spent.

Run it as ``.venv/bin/python -m bench.edge`` (``make bench-edge``; ``--help`` for the flags).
One invocation:

1. starts the real stack (``scripts/run_stack.py``: identity and ledger on SQLite, mTLS, every
   port 0) in a temporary directory and reads its stack.json (``bench.edge_stack``);
2. makes a bench API key and a ledger account through its REST API (``bench.edge_data``);
3. runs its own Envoys in front of the same replicas: the product config, and variants made by
   transforming the rendered config dict (``bench.edge_envoy``, ``bench.edge_variants``);
4. drives every row (``bench.edge_plan``; ``--explore`` adds ``bench.edge_explore``) with
   h2load or the Python gRPC client (``bench.edge_grpcload``), ``--reps`` times, the rows
   interleaved, and reads the CPU of Envoy, identity, the ledger, the auxiliary servers and
   the load generator around each run (``bench.edge_load``);
5. with ``--explore``, revokes a key and times how long each kind of edge check keeps
   accepting it (``bench.edge_data.revocation_delays``);
6. prints markdown tables (``bench.edge_report``, ``bench.edge_render``) with medians and the
   ratios against the issue's targets, writes them to bench/results/edge-<time>.md
   (``--out``), and stops every process it started, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import cpu
from bench import edge_envoy as ee
from bench import edge_load as el
from bench.edge_data import prepare, revocation_delays
from bench.edge_explore import JWT_LIFETIME_S, build_explore
from bench.edge_plan import Edge, Row, build_main, measure
from bench.edge_render import render_report
from bench.edge_report import RowResult
from bench.edge_stack import bench_children, start_stack

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUIET_CORES = 0.3
"""Busy cores, with no load running, under which a run may start (the bench's own idle
Envoys and servers use about 0.1)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.edge",
        description="Benchmark the edge: REST through Envoy with and without ext_authz, direct "
        "gRPC, and the internal gRPC pass-through, with the CPU of every process.",
    )
    add = parser.add_argument
    add("--duration-s", type=float, default=10.0, help="measured seconds per run (10)")
    add(
        "--requests",
        type=int,
        default=0,
        help="measure this many requests per run instead of --duration-s (tests use it)",
    )
    add("--warmup-s", type=float, default=1.0, help="unmeasured seconds before each run (1)")
    add("--reps", type=int, default=3, help="runs per row; the table shows medians (3)")
    add("--connections", type=int, default=16,
        help="h2load connections (one request in flight each), and calls in flight for the "
        "Python gRPC client (16)")  # fmt: skip
    add("--grpc-channels", type=int, default=1,
        help="connections the Python gRPC client spreads its calls over (1, as a grpc client "
        "usually does: one channel)")  # fmt: skip
    add("--envoy-concurrency", type=int, default=1, choices=(1, 2),
        help="Envoy worker threads (1); --explore also runs the other value")  # fmt: skip
    add(
        "--explore",
        action="store_true",
        help="also measure the ways to make authenticated REST cheaper, and pass-through variants",
    )
    add("--service-log-level", default="WARNING", choices=("INFO", "WARNING"),
        help="identity's and the ledger's log level (WARNING): at INFO each RPC writes a log "
        "line, which the stack's supervisor then copies, on the same two cores")  # fmt: skip
    add("--quiet-wait-s", type=float, default=30.0,
        help="before each run, wait up to this long for other work on the machine to stop "
        f"(busy under {QUIET_CORES} cores with no load running); 0 never waits (30)")  # fmt: skip
    add("--rows", default="",
        help="only the rows whose key starts with one of these, comma-separated (e.g. 1.,5,p); "
        "ratios whose rows did not run show n/a")  # fmt: skip
    add("--out", type=Path, help="markdown report (bench/results/edge-<time>.md)")
    add("--keep-workdir", action="store_true", help="keep logs and configs after the run")
    args = parser.parse_args(argv)
    if args.requests < 0 or args.reps < 1 or args.connections < 1 or args.grpc_channels < 1:
        parser.error("--requests >= 0, --reps, --connections and --grpc-channels >= 1")
    if args.requests == 0 and args.duration_s <= 0:
        parser.error("--duration-s must be > 0 (or give --requests)")
    return args


def budgets(args: argparse.Namespace) -> tuple[el.Budget | None, el.Budget]:
    """(warm-up, measured) budget of one run."""
    if args.requests:
        return el.Budget(requests=max(args.connections, args.requests // 4)), el.Budget(
            requests=args.requests
        )
    warmup = el.Budget(duration_s=args.warmup_s) if args.warmup_s > 0 else None
    return warmup, el.Budget(duration_s=args.duration_s)


def wait_quiet(limit_cores: float, max_wait_s: float) -> float | None:
    """Wait until, with no load running, the machine is busy under ``limit_cores`` (other
    people's work shares these two cores); give up after ``max_wait_s``. The busy cores
    last seen, or None when /proc cannot tell."""
    deadline = time.monotonic() + max_wait_s
    while True:
        busy = cpu.background_busy_cores(0.5)
        if busy is None or busy < limit_cores or time.monotonic() >= deadline:
            return busy
        print(f"    waiting for a quieter machine: {busy:.2f} cores busy with no load running",
              flush=True)  # fmt: skip
        time.sleep(2.0)


def drive(rows: list[Row], args: argparse.Namespace) -> list[RowResult]:
    """Every row ``--reps`` times, interleaved, so a slow minute of the machine hits one run
    of each row rather than every run of one."""
    warmup, budget = budgets(args)
    results = [RowResult(row) for row in rows]
    for rep in range(1, args.reps + 1):
        for result in results:
            row = result.row
            if args.quiet_wait_s > 0:
                wait_quiet(QUIET_CORES, args.quiet_wait_s)
            if warmup is not None:
                measure(row, warmup, args.connections)
            run = measure(row, budget, args.connections)
            result.runs.append(run)
            errors = f", ERRORS {run.errors}" if run.errors else ""
            per_req = " ".join(
                f"{g} {run.cpu_s.get(g, 0.0) * 1e6 / run.ok:.0f}" if run.ok else f"{g} ?"
                for g in ("envoy", "identity", "ledger", "aux", "loadgen")
            )
            print(f"  [{rep}/{args.reps}] {row.key:<11} {row.rpc:<10} {row.path:<48} "
                  f"{run.rps:8,.0f} req/s{errors}; CPU µs/req {per_req}", flush=True)  # fmt: skip
    return results


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[RowResult], dict[str, object]]:
    """Start everything, drive every row, stop everything; the results and what ran."""
    levels = {f"{s}_LOG_LEVEL": args.service_log_level for s in ("IDENTITY", "LEDGER")}
    with bench_children(workdir, levels) as children:
        print(f"\n== stack (scripts/run_stack.py) in {workdir}", flush=True)
        stack = start_stack(children)
        print(f"  ready: identity pid {stack.pid('identity')}, ledger pid {stack.pid('ledger')}",
              flush=True)  # fmt: skip
        data = prepare(stack)
        print(f"  bench key {data.key_id} (admin, 100,000 req/s), account {data.account_id}")
        base = ee.product_config(stack.upstreams(), stack.pki, stack.descriptor_set,
                              workdir / "envoy-access.log")  # fmt: skip
        edge = Edge(children, stack, data, args.envoy_concurrency, args.grpc_channels, base)
        print("\n== Envoys and extra servers", flush=True)
        rows = build_main(edge)
        explore = build_explore(edge, 3 - args.envoy_concurrency) if args.explore else None
        rows += explore.rows if explore else []
        if args.rows:
            wanted = tuple(k.strip() for k in args.rows.split(",") if k.strip())
            rows = [row for row in rows if row.key.startswith(wanted)]
        print(f"  {len(edge.envoys)} Envoys, {len(rows)} rows", flush=True)
        print(f"\n== {len(rows)} rows x {args.reps} runs", flush=True)
        results = drive(rows, args)
        revocation: dict[str, float | None] = {}
        if explore is not None:
            print("\n== revocation probe", flush=True)
            revocation = revocation_delays(
                stack, explore.revocation,
                mint=lambda p: explore.signer.token("probe", p, JWT_LIFETIME_S),
                minted=frozenset({"c2"}),
            )  # fmt: skip
            print(f"  {revocation}", flush=True)
        context = {"envoys": len(edge.envoys), "revocation": revocation,
                   "authz_protocol": ee.authz_protocol(base)}  # fmt: skip
    return results, context


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every request of every run succeeded."""
    args = parse_args(argv)
    if not Path(el.H2LOAD).exists():
        print(f"{el.H2LOAD} not found: install h2load (Debian: nghttp2-client)", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    print(f"paymesh edge bench: {cores} cores shared by the load generator, Envoy and the "
          f"services; Envoy --concurrency {args.envoy_concurrency}", flush=True)  # fmt: skip
    idle = cpu.background_busy_cores()
    print(f"  before starting, other work kept {idle if idle is not None else '?'} cores busy")
    workdir = Path(tempfile.mkdtemp(prefix="paymesh-bench-edge-"))
    started = time.time()
    try:
        results, context = run(args, workdir)
    finally:
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report = render_report(args, results, context, idle, time.time() - started)
    print("\n" + report)
    out = args.out or RESULTS_DIR / f"edge-{time.strftime('%Y%m%d-%H%M%S')}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n", encoding="utf-8")
    print(f"\nreport written to {out}")
    errors = sum(sum(r.errors.values()) for r in results)
    if errors:
        print(f"\nFAILED: {errors:,} requests failed", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
