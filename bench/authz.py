"""The authz benchmark: identity_svc's ext_authz Check against a trivial grpc.aio call.

Run it as ``.venv/bin/python -m bench.authz`` (``make bench-authz``). One invocation:

1. sets up a temporary identity database (SQLite, or ``--pg-url``'s PostgreSQL): schema,
   admin, a merchant, one warm key and ``--cold-keys`` cold keys (``bench.authz_setup``);
2. drives a bare grpc.aio server (``bench.authz_trivial``) with the client loop of
   ``bench.authz_load``: the yardstick of CPU per call;
3. drives ``python -m identity_svc serve`` with Envoy-shaped CheckRequests: warm (one key,
   always cached) for ``--duration-s``, then cold (each cold key once: a store read each);
4. times warm decisions in-process without gRPC (``bench.authz_inproc``);
5. prints the table and the issue's target (``bench.authz_report``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench import authz_report as rep
from bench import cpu, report, workload
from bench.authz_inproc import measure
from bench.authz_load import TokenSource, check_calls, drive, each_once, until
from bench.authz_setup import IdentityData, database_url, drop_database, prepare
from bench.service import ServiceProcess, free_port, start_service, stop_service

_T = TypeVar("_T")


@dataclass
class Outcome:
    """Everything one run measured."""

    results: list[rep.AuthzResult] = field(default_factory=list)
    inproc: rep.InprocResult | None = None
    setup_s: float = 0.0
    backend: str = "sqlite"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.authz",
        description="Benchmark identity_svc's ext_authz Check (warm and cold key cache) "
        "against a trivial grpc.aio unary call, in server CPU per call.",
    )
    add = parser.add_argument
    add("--duration-s", type=float, default=10.0, help="measured seconds of warm calls (10)")
    add("--warmup-s", type=float, default=1.0, help="unmeasured seconds before them (1)")
    add("--clients", type=int, default=32, help="concurrent clients (32)")
    add("--channels", type=int, default=4, help="gRPC channels (TCP connections) shared (4)")
    add("--cold-keys", type=int, default=3000, help="keys for the cold run, each used once (3000)")
    add("--inproc-decisions", type=int, default=50_000,
        help="warm decisions timed in-process, without gRPC (50000)")  # fmt: skip
    add("--pg-url", help="admin URL of a PostgreSQL server: use a fresh database "
        "paymesh_bench_identity there instead of SQLite")  # fmt: skip
    add("--json-out", type=Path, help="also write the results as JSON here")
    add("--shared-listener", action="store_true",
        help="serve Check on identity's main listener, behind the shared interceptors, "
        "instead of its own (IDENTITY_AUTHZ_LISTEN_ADDR) as make run does")  # fmt: skip
    args = parser.parse_args(argv)
    if args.duration_s <= 0 or args.warmup_s < 0 or args.clients < 1 or args.channels < 1:
        parser.error("--duration-s must be > 0, --warmup-s >= 0, --clients/--channels >= 1")
    if args.cold_keys < 1 or args.inproc_decisions < 1:
        parser.error("--cold-keys and --inproc-decisions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark; 0 when it completed and every Check was answered allow."""
    args = parse_args(argv)
    cores = os.cpu_count() or 1
    print(f"paymesh authz bench: trivial, warm {args.duration_s:g} s, cold {args.cold_keys:,} "
          f"keys; {args.clients} clients on {args.channels} channel(s); {cores} cores shared "
          f"by the load generator, the server under test and the database")  # fmt: skip
    idle = cpu.background_busy_cores()
    print(f"  before starting, other work kept {idle if idle is not None else '?'} cores busy")
    work_dir = Path(tempfile.mkdtemp(prefix="paymesh-bench-authz-"))
    try:
        outcome = _run_async(_run(args, work_dir))
    finally:
        drop_database(args.pg_url)
        shutil.rmtree(work_dir, ignore_errors=True)
    rep.judge(outcome.results)
    print("\n== Results\n" + rep.table(outcome.results))
    print(rep.target_line(outcome.results))
    for line in rep.inproc_line(outcome.inproc, outcome.results):
        print(line)
    for line in rep.notes(outcome.results, idle, outcome.backend):
        print(f"  {line}")
    if args.json_out is not None:
        report.write_json(args.json_out, _payload(args, outcome, cores, idle))
        print(f"\nJSON written to {args.json_out}")
    errors = sum(sum(r.errors.values()) for r in outcome.results)
    if errors:
        print(f"\nFAILED: {errors:,} Check calls were not answered allow", file=sys.stderr)
    return 1 if errors else 0


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """uvloop when importable, as identity_svc runs: the client costs less CPU too."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


async def _run(args: argparse.Namespace, work_dir: Path) -> Outcome:
    print(f"\n== setup in {work_dir}", flush=True)
    data = await prepare(database_url(work_dir, args.pg_url), work_dir, args.cold_keys)
    outcome = Outcome(setup_s=data.setup_s, backend="postgresql" if args.pg_url else "sqlite")
    outcome.results.append(await _trivial_phase(args, data))
    outcome.results += await _identity_phase(args, data)
    print(f"\n== in-process: {args.inproc_decisions:,} warm decisions per depth", flush=True)
    outcome.inproc = await measure(
        data.database_url, data.pepper, data.keys.warm, args.inproc_decisions
    )
    return outcome


async def _trivial_phase(args: argparse.Namespace, data: IdentityData) -> rep.AuthzResult:
    print(f"\n== {rep.TRIVIAL}: bare grpc.aio server, one generic unary method", flush=True)
    port = free_port()
    args_ = ["-m", "bench.authz_trivial", str(port)]
    service = await start_service("authz_trivial", args_, {}, port)
    try:
        return await _warm(service, args, data.keys.warm, rep.TRIVIAL)
    finally:
        await _stop(service)


async def _identity_phase(args: argparse.Namespace, data: IdentityData) -> list[rep.AuthzResult]:
    print("\n== identity_svc serve", flush=True)
    port = free_port()
    # Check's own listener, as make run configures it; health is served there too.
    authz_port = port if args.shared_listener else free_port()
    env = {
        "IDENTITY_DATABASE_URL": data.database_url,
        "IDENTITY_PLAINTEXT": "1",
        "IDENTITY_LISTEN_ADDR": f"127.0.0.1:{port}",
        "IDENTITY_AUTHZ_LISTEN_ADDR": "" if args.shared_listener else f"127.0.0.1:{authz_port}",
        "IDENTITY_KEY_PEPPER_FILE": str(data.pepper_file),
        "IDENTITY_ENVIRONMENT": "test",
        "IDENTITY_LOG_LEVEL": "WARNING",
    }
    service = await start_service("identity_svc", ["-m", "identity_svc", "serve"], env, authz_port)
    try:
        warm = await _warm(service, args, data.keys.warm, rep.WARM)
        cold = await _scenario(
            service, args, rep.COLD, lambda: each_once(data.keys.cold), (0.0, math.inf)
        )
        return [warm, cold]
    finally:
        await _stop(service)


async def _warm(
    service: ServiceProcess, args: argparse.Namespace, token: str, name: str
) -> rep.AuthzResult:
    window = (args.warmup_s, args.duration_s)
    return await _scenario(service, args, name, lambda: until(sum(window), token), window)


async def _scenario(
    service: ServiceProcess,
    args: argparse.Namespace,
    name: str,
    tokens: Callable[[], TokenSource],
    window: tuple[float, float],
) -> rep.AuthzResult:
    """One scenario on fresh channels; ``tokens`` is called once they are connected."""
    n_channels = min(args.channels, args.clients)
    what = "each cold key once" if math.isinf(window[1]) else (
        f"{window[0]:g} s warm-up + {window[1]:g} s")  # fmt: skip
    print(f"\n== {name}: {args.clients} clients, {n_channels} channel(s), {what}", flush=True)
    channels = workload.open_channels(service.target, n_channels)
    try:
        await asyncio.gather(*(c.channel_ready() for c in channels))
        rec, measured = await drive(
            name, check_calls(channels), args.clients, tokens(), window, service.pid
        )
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    if service.proc.returncode is not None:
        raise RuntimeError(
            f"{service.name} exited with {service.proc.returncode} during {name}; "
            f"log tail:\n{service.log_tail()}"
        )
    result = rep.summarise(name, rec, measured, n_channels)
    print(f"  {name}: {result.calls_per_s:,.0f} calls/s, server "
          f"{result.server_cpu_us_per_call:,.0f} µs CPU/call, p50 {result.latency_ms['p50']:.2f} "
          f"ms, p99 {result.latency_ms['p99']:.2f} ms", flush=True)  # fmt: skip
    return result


async def _stop(service: ServiceProcess) -> None:
    code = await stop_service(service)
    print(f"  {service.name} stopped (exit code {code}); log {service.log_path}", flush=True)


def _payload(
    args: argparse.Namespace, outcome: Outcome, cores: int, idle: float | None
) -> dict[str, Any]:
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    return {
        "machine": {
            "cores": cores,
            "python": platform.python_version(),
            "argv": sys.argv,
            "background_busy_cores": idle,
        },
        "note": f"load generator, server under test and database share the machine's {cores} cores",
        "config": config,
        "backend": outcome.backend,
        "setup_s": round(outcome.setup_s, 2),
        "scenarios": outcome.results,
        "target": {"warm_added_max": rep.TARGET_ADDED, "met": rep.target_met(outcome.results)},
        "inproc": outcome.inproc,
    }


if __name__ == "__main__":
    raise SystemExit(main())
