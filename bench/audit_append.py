"""The audit-append bench: identity's RecordAuditEvents over real gRPC + mTLS, by batch size.

Run it as ``.venv/bin/python -m bench.audit_append`` (``--help`` lists the knobs). One run:

1. writes a dev PKI (``svc_kit.pki``) for identity and the gateway into a temporary directory;
2. starts ``python -m identity_svc serve`` on a fresh PostgreSQL database
   ``paymesh_bench_audit_identity`` (or SQLite with ``--sqlite``), with TLS, admitting only the
   gateway's certificate, as a direct call (no Envoy) presents it: the gateway is the workload;
3. for each batch size, ``--clients`` concurrent clients call RecordAuditEvents with that many
   new events per call (gateway-shaped payment events, each id used once:
   ``bench.audit_append_load``) for a warm-up and a measured window, printing the rate each
   second;
4. verifies the hash chain afterwards (``identity_svc verify-audit``): it must hold every event
   the run appended, untampered;
5. prints per batch size: events/s, latency, and CPU per event of identity and of PostgreSQL's
   backends (utime + stime from /proc, ``bench.payments_meter``), plus commits per call.

Everything shares the machine's cores (2 here) with other work; the "other" column says how
much of it was nobody's in this bench: above ~0.3 cores a row was disturbed, run it again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import grpc.aio

from bench import payments_pg as ppg
from bench import payments_profile as prof
from bench import pg
from bench.audit_append_load import Tally, running
from bench.edge_stack import REPO_ROOT, Children, bench_children, wait_ports
from bench.payments_meter import CpuMeter, PidSource, Span, fixed
from bench.report import percentile
from svc_kit.pki import write_dev_pki
from svc_kit.tls import channel_credentials

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "paymesh_bench_audit"
"""Prefix of the run's databases; the identity database is ``<name>_identity``."""
GATEWAY = "spiffe://paymesh.local/gateway"
_CHECKED = re.compile(r"^checked (\d+) audit events$", re.M)


@dataclass
class StepResult:
    """One batch size's measured window."""

    batch: int
    clients: int
    window_s: float
    calls: int
    events: int
    events_per_s: float
    p50_ms: float
    p99_ms: float
    identity_us_per_event: float
    postgres_us_per_event: float | None
    """None on SQLite, which runs inside identity's process."""
    bench_us_per_event: float
    commits_per_call: float | None
    busy_cores: float
    other_cores: float
    errors: dict[str, int]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit_append",
        description="Benchmark identity's AuditService.RecordAuditEvents over gRPC + mTLS, "
        "by batch size: events/s and CPU per event of identity and PostgreSQL.",
    )
    add = parser.add_argument
    add("--batch-sizes", default="1,10,50,100", help="events per call, one step each (1,10,50,100)")
    add("--duration-s", type=float, default=8.0, help="measured seconds per step (8)")
    add("--warmup-s", type=float, default=2.0, help="unmeasured seconds before each step (2)")
    add("--clients", type=int, default=2, help="calls in flight, one per client (2)")
    add("--pg-url", default=DEFAULT_PG, help=f"PostgreSQL admin URL ({DEFAULT_PG})")
    add("--db-name", default=DB_NAME, help=f"prefix of the run's database ({DB_NAME})")
    add("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    add("--profile-s", type=float, default=0.0,
        help="then py-spy identity this many seconds per batch size (0: off)")  # fmt: skip
    add("--json-out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    try:
        args.batches = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        parser.error("--batch-sizes must be integers separated by commas")
    if not all(1 <= b <= 100 for b in args.batches):
        parser.error("batch sizes must be 1 to 100 (RecordAuditEvents' limit)")
    if args.duration_s <= 0 or args.warmup_s < 0 or args.clients < 1 or args.profile_s < 0:
        parser.error("--duration-s must be > 0, --warmup-s and --profile-s >= 0, --clients >= 1")
    if not args.db_name.startswith("paymesh_bench_"):
        parser.error("--db-name must start with paymesh_bench_")
    return args


async def _step(
    args: argparse.Namespace,
    channel: grpc.aio.Channel,
    batch: int,
    groups: dict[str, PidSource],
    commits: ppg.Server | None,
) -> tuple[StepResult, int]:
    """One batch size: warm-up, then the measured window; (result, events appended)."""
    print(f"\n== batch {batch}: {args.clients} client(s), {args.warmup_s:g} s warm-up + "
          f"{args.duration_s:g} s", flush=True)  # fmt: skip
    meter = CpuMeter(groups)
    async with running(channel, batch, args.clients, progress_warmup_s=args.warmup_s) as tally:
        await asyncio.sleep(args.warmup_s)
        before = commits.commits()["identity"] if commits else None
        meter.start()
        tally.measuring = True
        await asyncio.sleep(args.duration_s)
        tally.measuring = False
        span = meter.stop()
        after = commits.commits()["identity"] if commits else None
    calls = None if before is None or after is None else after - before
    return _result(args, batch, tally, span, calls), tally.appended


def _result(
    args: argparse.Namespace, batch: int, tally: Tally, span: Span, commits: int | None
) -> StepResult:
    lat = sorted(tally.latencies_ms)
    per = tally.events
    result = StepResult(
        batch=batch,
        clients=args.clients,
        window_s=round(span.wall_s, 3),
        calls=tally.calls,
        events=tally.events,
        events_per_s=tally.events / span.wall_s if span.wall_s else 0.0,
        p50_ms=percentile(lat, 50),
        p99_ms=percentile(lat, 99),
        identity_us_per_event=span.per_item_us("identity", per),
        postgres_us_per_event=span.per_item_us("postgres", per)
        if "postgres" in span.cpu_s
        else None,
        bench_us_per_event=span.per_item_us("bench", per),
        # pg_stat_database lags up to ~1 s: a fair ratio over a steady window, not a count.
        commits_per_call=commits / tally.calls if commits is not None and tally.calls else None,
        busy_cores=round(span.busy_cores, 2),
        other_cores=round(span.other_cores, 2),
        errors=dict(tally.errors),
    )
    print(f"  batch {batch}: {result.events_per_s:,.0f} events/s, identity "
          f"{result.identity_us_per_event:,.0f} µs/event, postgres "
          f"{_us(result.postgres_us_per_event)} µs/event, p50 {result.p50_ms:.1f} ms, "
          f"p99 {result.p99_ms:.1f} ms", flush=True)  # fmt: skip
    return result


def _start_identity(children: Children, pki: Path, database_url: str) -> tuple[int, int]:
    """identity with TLS, admitting only the gateway's certificate; (pid, gRPC port)."""
    ports_file = children.workdir / "identity.ports.json"
    env = {
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_LISTEN_ADDR": "127.0.0.1:0",
        "IDENTITY_AUTHZ_LISTEN_ADDR": "127.0.0.1:0",
        "IDENTITY_PORTS_FILE": str(ports_file),
        "IDENTITY_PLAINTEXT": "false",
        "IDENTITY_TLS_CERT_FILE": str(pki / "identity.pem"),
        "IDENTITY_TLS_KEY_FILE": str(pki / "identity-key.pem"),
        "IDENTITY_TLS_CA_FILE": str(pki / "ca.pem"),
        "IDENTITY_ALLOWED_PEERS": GATEWAY,
        "IDENTITY_KEY_PEPPER_FILE": str(children.workdir / "pepper"),
        "IDENTITY_LOG_LEVEL": "WARNING",  # as the payments bench runs it
    }
    child = children.spawn("identity", [sys.executable, "-m", "identity_svc", "serve"], env)
    child.ports = wait_ports(child, ports_file, ("grpc",))
    print(f"  identity pid {child.pid} on 127.0.0.1:{child.ports['grpc']} (mTLS), "
          f"log {child.log_path}", flush=True)  # fmt: skip
    return child.pid, int(child.ports["grpc"])


def _channel(pki: Path, port: int) -> grpc.aio.Channel:
    creds = channel_credentials(
        str(pki / "gateway.pem"), str(pki / "gateway-key.pem"), str(pki / "ca.pem")
    )
    return grpc.aio.secure_channel(f"localhost:{port}", creds)


def verify_chain(database_url: str, workdir: Path) -> tuple[bool, int]:
    """``identity_svc verify-audit`` on the run's database: (clean, events checked)."""
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_KEY_PEPPER_FILE": str(workdir / "pepper"),
        "IDENTITY_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-m", "identity_svc", "verify-audit"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    found = _CHECKED.search(done.stdout)
    if found is None:
        raise RuntimeError(f"verify-audit said:\n{done.stdout}\n{done.stderr}")
    return done.returncode == 0, int(found.group(1))


async def _profile(pid: int, args: argparse.Namespace, channel: grpc.aio.Channel) -> int:
    """py-spy identity while each batch size runs again (unmeasured) and print where its
    Python time went; the events these runs appended."""
    appended = 0
    for batch in args.batches:
        out = Path(tempfile.mkdtemp(prefix="paymesh-audit-spy-")) / f"batch{batch}.txt"
        async with running(channel, batch, args.clients, progress_warmup_s=None) as tally:
            spy = prof.start(pid, args.profile_s, out)
            profile = await asyncio.to_thread(prof.finish, spy, out, args.profile_s)
        appended += tally.appended
        print(f"\n== py-spy of identity, batch {batch}: {profile.samples:,} samples "
              f"({out})", flush=True)  # fmt: skip
        print(profile_table(profile, out), flush=True)
    return appended


def profile_table(profile: prof.Profile, raw: Path, top: int = 15) -> str:
    """Leaf functions (self), then identity_svc / svc_kit functions (inclusive), by share."""
    ours: Counter[str] = Counter()
    with raw.open() as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if count.isdigit():
                frames = {prof.frame_name(f) for f in stack.split(";")}
                for name in {n for n, pkg in frames if pkg in ("identity_svc", "svc_kit")}:
                    ours[name] += int(count)
    rows = ["| function (self) | share |", "|---|---|"]
    rows += [f"| `{n}` | {profile.share(c):.1%} |" for n, c in profile.by_self.most_common(top)]
    rows += ["", "| identity_svc / svc_kit function (inclusive) | share |", "|---|---|"]
    rows += [f"| `{n}` | {profile.share(c):.1%} |" for n, c in ours.most_common(top)]
    return "\n".join(rows)


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def table(results: list[StepResult]) -> str:
    """The results as a markdown table."""
    lines = [
        "| batch | events/s | calls/s | p50 ms | p99 ms | identity µs/event | postgres µs/event "
        "| identity µs/call | commits/call | cores busy / other | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        commits = f"{r.commits_per_call:.2f}" if r.commits_per_call is not None else "n/a"
        lines.append(
            f"| {r.batch} | {r.events_per_s:,.0f} | {r.calls / r.window_s:,.1f} | {r.p50_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.identity_us_per_event:,.0f} | {_us(r.postgres_us_per_event)} "
            f"| {r.identity_us_per_event * r.batch:,.0f} | {commits} "
            f"| {r.busy_cores:.2f} / {r.other_cores:.2f} | {sum(r.errors.values())} |"
        )
    return "\n".join(lines)


async def _run(args: argparse.Namespace, children: Children) -> tuple[list[StepResult], int, str]:
    workdir = children.workdir
    pki = workdir / "pki"
    write_dev_pki(pki, ("identity", "gateway"))
    db = f"{args.db_name}_identity"
    if args.sqlite:
        url, server = f"sqlite+aiosqlite:///{workdir / 'identity.db'}", None
    else:
        pg.recreate_database(args.pg_url, db)
        url, server = pg.sqlalchemy_url(args.pg_url, db), ppg.Server(args.pg_url, args.db_name)
    pid, port = _start_identity(children, pki, url)
    groups: dict[str, PidSource] = {"identity": fixed(pid), "bench": fixed(os.getpid())}
    if server is not None:
        groups["postgres"] = server.pids
    results, appended = [], 0
    try:
        async with _channel(pki, port) as channel:
            for batch in args.batches:
                result, count = await _step(args, channel, batch, groups, server)
                results.append(result)
                appended += count
            if args.profile_s:
                appended += await _profile(pid, args, channel)
    finally:
        if server is not None:
            server.close()
    return results, appended, url


def main(argv: list[str] | None = None) -> int:
    """Run every step; 0 when every call succeeded and the chain verified with every event."""
    args = parse_args(argv)
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"paymesh audit-append bench: batches {args.batches}, {args.clients} client(s), "
          f"{backend}; {os.cpu_count()} cores shared by client, identity and database")  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="paymesh-bench-audit-"))
    try:
        with bench_children(workdir) as children:
            results, appended, url = asyncio.run(_run(args, children))
        print("\n== verifying the hash chain (identity_svc verify-audit)", flush=True)
        clean, checked = verify_chain(url, workdir)
    finally:
        if not args.sqlite:
            pg.drop_database(args.pg_url, f"{args.db_name}_identity")
        shutil.rmtree(workdir, ignore_errors=True)
    # The head and the log start empty: every record is one the run appended.
    chain_ok = clean and checked == appended
    mismatch = "" if chain_ok else " (MISMATCH)"
    print(f"  chain {'verifies' if clean else 'DOES NOT VERIFY'}: {checked:,} records, "
          f"{appended:,} events appended by the run{mismatch}")  # fmt: skip
    print("\n== Results\n" + table(results))
    print(
        "\nCPU: utime + stime of every thread over each measured window (/proc), divided by "
        "the events acknowledged in it; postgres: the backends connected to the run's "
        "database. commits/call: identity's commits (pg_stat_database) per call, its "
        "background ones too (the key cache's change-feed polls, 4/s; usage flushes). "
        "other: busy cores nobody in the bench spent (disturbed above ~0.3)."
    )
    if args.json_out is not None:
        payload = {"argv": sys.argv, "backend": backend, "clients": args.clients,
                   "results": [asdict(r) for r in results], "chain_ok": chain_ok}  # fmt: skip
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"JSON written to {args.json_out}")
    failed = sum(sum(r.errors.values()) for r in results)
    return 0 if chain_ok and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
