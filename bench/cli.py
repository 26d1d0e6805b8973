"""Arguments and run order of ``python -m bench``."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc.aio

from bench import cpu, pg, report, workload
from bench.load import Scenario, run_scenario
from bench.service import LedgerProcess, start_ledger, stop_ledger
from paymesh.ledger.v1 import ledger_pb2, ledger_pb2_grpc

# Targets from the ledger brief: postings/s as a multiple of pgbench TPC-B TPS.
SCENARIOS: dict[str, Scenario] = {
    "single": Scenario("single", batch_size=0, hot=False, target_ratio=0.5),
    "hot": Scenario("hot", batch_size=0, hot=True, target_ratio=0.3),
    "batch100": Scenario("batch100", batch_size=100, hot=False, target_ratio=5.0),
    "batch1000": Scenario("batch1000", batch_size=1000, hot=False, target_ratio=5.0),
}
ALL_NAMES = ("pgbench", *SCENARIOS)


@dataclass
class LedgerOutcome:
    """What the ledger half of the run produced."""

    results: list[report.ScenarioResult] = field(default_factory=list)
    verify: dict[str, Any] = field(default_factory=dict)
    setup_s: float = 0.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark ledger postings against pgbench TPC-B on the same PostgreSQL. "
        "Creates and drops the databases paymesh_bench_pgbench and paymesh_bench_ledger. "
        "The service inherits the environment, so e.g. LEDGER_LOG_LEVEL=WARNING applies.",
    )
    add = parser.add_argument
    add("--duration-s", type=float, default=10.0, help="measured seconds per scenario (10)")
    add("--warmup-s", type=float, default=1.0, help="unmeasured seconds before each (1)")
    add("--clients", type=int, default=32, help="concurrent clients for single and hot (32)")
    add("--batch-clients", type=int, default=4, help="concurrent clients for batches (4)")
    add("--channels", type=int, default=0,
        help="gRPC channels (each its own TCP connection) shared by the clients; "
        "0 means one per client (0)")  # fmt: skip
    add("--accounts", type=int, default=1000, help="USD accounts to post between (1000)")
    add("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL of the PostgreSQL server to use (%(default)s)")  # fmt: skip
    add("--scenarios", default=",".join(ALL_NAMES),
        help="comma list of %(default)s; ratios need pgbench")  # fmt: skip
    add("--json-out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ALL_NAMES))
    if unknown or not names:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(ALL_NAMES)}")
    args.scenario_names = [n for n in ALL_NAMES if n in names]
    if args.duration_s <= 0 or args.clients < 1 or args.batch_clients < 1 or args.accounts < 2:
        parser.error("--duration-s must be > 0, client counts >= 1 and --accounts >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark; 0 when it completed and VerifyLedger was clean."""
    args = parse_args(argv)
    cores = os.cpu_count() or 1
    print(f"paymesh ledger bench: {', '.join(args.scenario_names)}; {args.duration_s:g} s each; "
          f"PostgreSQL {pg.server_version(args.pg_url)}; {cores} cores shared by the load "
          f"generator, the service and PostgreSQL")  # fmt: skip
    idle = cpu.background_busy_cores()
    print(f"  before starting, other work kept {idle if idle is not None else '?'} cores busy")

    pgbench: pg.PgbenchResult | None = None
    if "pgbench" in args.scenario_names:
        print(f"\n== pgbench (yardstick), database {pg.PGBENCH_DB}", flush=True)
        pgbench = pg.run_pgbench(args.pg_url, args.duration_s)
        print(f"  pgbench: {pgbench.tps:,.0f} TPS", flush=True)
    outcome = LedgerOutcome()
    ledger_names = [n for n in args.scenario_names if n in SCENARIOS]
    if ledger_names:
        pg.recreate_database(args.pg_url, pg.LEDGER_DB)
        try:
            outcome = asyncio.run(_ledger_phase(args, [SCENARIOS[n] for n in ledger_names]))
        finally:
            pg.drop_database(args.pg_url, pg.LEDGER_DB)
            print(f"  dropped {pg.LEDGER_DB}")
    report.judge(outcome.results, pgbench.tps if pgbench else None)
    print("\n== Results\n" + report.table(outcome.results, pgbench))
    for line in report.notes(outcome.results, pgbench, idle):
        print(f"  {line}")
    _print_verify(outcome.verify)
    if args.json_out is not None:
        payload = _payload(args, pgbench, outcome, cores)
        payload["machine"]["background_busy_cores"] = idle
        report.write_json(args.json_out, payload)
        print(f"\nJSON written to {args.json_out}")
    return 0 if not outcome.verify or outcome.verify.get("ok") else 1


async def _ledger_phase(args: argparse.Namespace, scenarios: list[Scenario]) -> LedgerOutcome:
    print(f"\n== ledger_svc on database {pg.LEDGER_DB}", flush=True)
    service = await start_ledger(pg.sqlalchemy_url(args.pg_url, pg.LEDGER_DB))
    try:
        return await _drive(service, args, scenarios)
    finally:
        code = await stop_ledger(service)
        print(f"  ledger_svc stopped (exit code {code}); log {service.log_path}", flush=True)


async def _drive(
    service: LedgerProcess, args: argparse.Namespace, scenarios: list[Scenario]
) -> LedgerOutcome:
    outcome = LedgerOutcome()
    ids = workload.RequestIds()
    async with grpc.aio.insecure_channel(service.target) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        started = time.perf_counter()
        print(f"  creating {args.accounts:,} USD accounts (ASSET and LIABILITY)", flush=True)
        accounts = await workload.create_accounts(stub, args.accounts, ids)
        outcome.setup_s = time.perf_counter() - started
        print(f"  accounts ready in {outcome.setup_s:.1f} s", flush=True)
        for scenario in scenarios:
            outcome.results.append(await _one_scenario(service, args, scenario, accounts, ids))
        outcome.verify = await _verify(stub)
    return outcome


async def _one_scenario(
    service: LedgerProcess,
    args: argparse.Namespace,
    scenario: Scenario,
    accounts: workload.Accounts,
    ids: workload.RequestIds,
) -> report.ScenarioResult:
    clients = args.batch_clients if scenario.batch_size else args.clients
    n_channels = min(args.channels or clients, clients)
    kind = f"batches of {scenario.batch_size}" if scenario.batch_size else "CreateTransaction"
    print(f"\n== {scenario.name}: {clients} clients, {n_channels} channel(s), {kind}"
          f"{', every posting credits one hot account' if scenario.hot else ''}; "
          f"{args.warmup_s:g} s warm-up + {args.duration_s:g} s", flush=True)  # fmt: skip
    channels = workload.open_channels(service.target, n_channels)

    async def commits() -> int | None:
        return await asyncio.to_thread(pg.commit_count, args.pg_url, pg.LEDGER_DB)

    try:
        stubs = [ledger_pb2_grpc.LedgerServiceStub(c) for c in channels]
        result = await run_scenario(
            scenario, stubs, clients, (args.warmup_s, args.duration_s),
            (accounts, ids, service.pid, commits),
        )  # fmt: skip
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    if service.proc.returncode is not None:
        raise RuntimeError(
            f"ledger_svc exited with {service.proc.returncode} during {scenario.name}; "
            f"log tail:\n{service.log_tail()}"
        )
    print(f"  {scenario.name}: {result.postings_per_s:,.0f} postings/s, "
          f"p50 {result.latency_ms['p50']:.2f} ms, p99 {result.latency_ms['p99']:.2f} ms",
          flush=True)  # fmt: skip
    return result


async def _verify(stub: ledger_pb2_grpc.LedgerServiceAsyncStub) -> dict[str, Any]:
    print("\n== VerifyLedger", flush=True)
    started = time.perf_counter()
    reply = await stub.VerifyLedger(ledger_pb2.VerifyLedgerRequest(), timeout=900.0)
    return {
        "ok": reply.ok,
        "seconds": round(time.perf_counter() - started, 2),
        "accounts_checked": reply.accounts_checked,
        "transactions_checked": reply.transactions_checked,
        "entries_checked": reply.entries_checked,
        "discrepancies": [
            f"{ledger_pb2.DiscrepancyKind.Name(d.kind)} {d.subject}: {d.detail}"
            for d in reply.discrepancies[:20]
        ],
    }


def _print_verify(verify: dict[str, Any]) -> None:
    if not verify:
        return
    state = "CLEAN" if verify["ok"] else "NOT CLEAN"
    print(f"\nVerifyLedger: {state} ({verify['transactions_checked']:,} transactions, "
          f"{verify['entries_checked']:,} entries, {verify['accounts_checked']:,} accounts, "
          f"{verify['seconds']:.1f} s)")  # fmt: skip
    for line in verify["discrepancies"]:
        print(f"  {line}")


def _payload(
    args: argparse.Namespace,
    pgbench: pg.PgbenchResult | None,
    outcome: LedgerOutcome,
    cores: int,
) -> dict[str, Any]:
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    return {
        "machine": {"cores": cores, "python": platform.python_version(), "argv": sys.argv},
        "note": f"load generator, ledger service and PostgreSQL share the machine's {cores} cores",
        "config": config,
        "pgbench": asdict(pgbench) if pgbench else None,
        "accounts_setup_s": round(outcome.setup_s, 2),
        "scenarios": outcome.results,
        "verify": outcome.verify,
    }
