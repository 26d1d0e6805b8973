"""What one ledger transaction costs inside a CreateTransactions batch (paymesh issue 5).

Run it as ``.venv/bin/python -m bench.ledger_batch`` (``--help`` for the flags). The gateway's
outbox relay sends a payment's ledger transactions in INDEPENDENT batches of up to ~100, across
many payments of many merchants; this bench sends exactly that shape and measures the ledger's
side of it alone:

1. a fresh database ``paymesh_bench_lbatch_ledger`` on the local PostgreSQL (dropped at the
   end) and a dev PKI in a temporary directory;
2. ``python -m ledger_svc serve`` over mTLS (its own certificate; only the gateway's SPIFFE id
   admitted), the client presenting the gateway's certificate, as in the stack;
3. per merchant the gateway's books (clearing ASSET, payable LIABILITY with
   debits_must_not_exceed_credits, provider_fees EXPENSE), opened through CreateAccount;
4. for each batch size, ``--callers`` concurrent callers send CreateTransactions of that many
   two-entry transactions: per payment a capture (Dr clearing / Cr payable) and a provider fee
   (Dr provider_fees / Cr clearing) with the gateway's request ids, merchants at random;
5. CPU from /proc over each measured window (``bench.payments_meter``): the ledger process, the
   PostgreSQL backends of its database, PostgreSQL's shared processes and this load generator,
   divided by the transactions recorded in the window; commits from pg_stat_database;
6. at the end every account's posted totals must equal what the accepted items add up to, and
   VerifyLedger must be clean.

``--profile-batch N`` adds one unmeasured step with py-spy on the ledger. The machine's cores are
shared with PostgreSQL and the load generator (and, here, with other people's work: the
"other" column says how disturbed a run was; ``--repeats`` runs each size again).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2

from bench import cpu, payments_profile, pg
from bench import payments_pg as ppg
from bench.edge_stack import Child, Children, bench_children, wait_ports
from bench.ledger_batch_load import CURRENCY, ROLES, Book, Meter, Payments, Step, Stub, run_step
from bench.payments_profile import frame_name
from bench.report import percentile
from paymesh.ledger.v1 import ledger_pb2 as pb
from paymesh.ledger.v1 import ledger_pb2_grpc
from svc_kit.pki import spiffe_id, write_dev_pki
from svc_kit.tls import channel_credentials

DB_PREFIX = "paymesh_bench_lbatch"


# -- the service --------------------------------------------------------------


def start_ledger(children: Children, database_url: str, pki: Path) -> Child:
    """``python -m ledger_svc serve`` over mTLS on port 0, admitting the gateway's id only."""
    ports_file = children.workdir / "ledger.ports.json"
    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_LISTEN_ADDR": "127.0.0.1:0",
        "LEDGER_PORTS_FILE": str(ports_file),
        "LEDGER_TLS_CERT_FILE": str(pki / "ledger.pem"),
        "LEDGER_TLS_KEY_FILE": str(pki / "ledger-key.pem"),
        "LEDGER_TLS_CA_FILE": str(pki / "ca.pem"),
        "LEDGER_ALLOWED_PEERS": spiffe_id("gateway"),
        # At INFO every call writes a line, on the same cores the bench measures.
        "LEDGER_LOG_LEVEL": "WARNING",
    }
    child = children.spawn("ledger", [sys.executable, "-m", "ledger_svc", "serve"], env)
    child.ports = wait_ports(child, ports_file, ("grpc",))
    print(f"  ledger_svc pid {child.pid} on 127.0.0.1:{child.ports['grpc']} (mTLS), "
          f"log {child.log_path}", flush=True)  # fmt: skip
    return child


def open_channel(pki: Path, port: int) -> grpc.aio.Channel:
    """A channel of its own (one TCP connection) presenting the gateway's certificate."""
    creds = channel_credentials(
        str(pki / "gateway.pem"), str(pki / "gateway-key.pem"), str(pki / "ca.pem")
    )
    options = [("grpc.use_local_subchannel_pool", 1),
               ("grpc.max_receive_message_length", 64 * 1024 * 1024)]  # fmt: skip
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=options)


async def wait_serving(channel: grpc.aio.Channel, child: Child, timeout_s: float = 60.0) -> None:
    """Return once gRPC health says SERVING over ``channel``."""
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"ledger_svc exited ({child.proc.returncode}):\n{child.log_tail()}")
        with contextlib.suppress(grpc.aio.AioRpcError):
            reply = await check(health_pb2.HealthCheckRequest(), timeout=1.0)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"ledger_svc not SERVING within {timeout_s:.0f} s:\n{child.log_tail()}")


async def open_books(stub: Stub, merchants: int) -> list[dict[str, str]]:
    """The gateway's accounts of ``merchants`` merchants in USD: role -> account id."""
    run = uuid.uuid4().hex[:8]

    async def one(merchant: int, role: str, type_: pb.AccountType.ValueType, flag: bool) -> str:
        code = f"gw/m{run}{merchant:03d}/{CURRENCY}/{role}"
        account = pb.Account(code=code, name=f"m{merchant} {role}", currency_code=CURRENCY,
                             type=type_, owner=f"m{run}{merchant:03d}",
                             debits_must_not_exceed_credits=flag)  # fmt: skip
        request = pb.CreateAccountRequest(account=account, request_id=f"open:{code}")
        return (await stub.CreateAccount(request, timeout=30.0)).account.id

    books = []
    for merchant in range(merchants):
        ids = await asyncio.gather(*(one(merchant, *role) for role in ROLES))
        books.append({role[0]: account_id for role, account_id in zip(ROLES, ids, strict=True)})
    return books


# -- profile, checks, report --------------------------------------------------------


async def profile_step(stubs: list[Stub], payments: Payments, meter: Meter,
                       batch: int, seconds: float, out: Path) -> str:  # fmt: skip
    """py-spy on the ledger for one unmeasured step; markdown tables of where it went."""
    recording = payments_profile.start(meter.ledger_pid, seconds, out)
    await run_step(stubs, payments, Step(batch, 0, seconds), meter, 0.0)
    prof = await asyncio.to_thread(payments_profile.finish, recording, out, seconds)
    ours: Counter[str] = Counter()
    with out.open() as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if stack and count.isdigit():
                frames = {frame_name(f) for f in stack.split(";")}
                for name in {n for n, pkg in frames if pkg in ("ledger_svc", "svc_kit")}:
                    ours[name] += int(count)
    rows = [f"py-spy, batches of {batch}: {prof.samples:,} samples at "
            f"{payments_profile.RATE_HZ} Hz (threads running Python only)", "",
            "| package (leaf) | share |", "|---|---|"]  # fmt: skip
    rows += [f"| {k} | {prof.share(n):.1%} |" for k, n in prof.by_package.most_common(10)]
    rows += ["", "| function (self) | share |", "|---|---|"]
    rows += [f"| `{k}` | {prof.share(n):.1%} |" for k, n in prof.by_self.most_common(15)]
    rows += ["", "| ledger_svc / svc_kit function (inclusive) | share |", "|---|---|"]
    rows += [f"| `{k}` | {prof.share(n):.1%} |" for k, n in ours.most_common(20)]
    return "\n".join(rows)


async def check_books(stub: Stub, book: Book) -> list[str]:
    """Differences between the ledger and the accepted items; VerifyLedger's findings."""
    problems = []
    for books in book.merchants:
        for account_id in books.values():
            want = book.expected.get(account_id, [0, 0])
            b = (await stub.GetBalance(pb.GetBalanceRequest(account_id=account_id))).balance
            got = [b.posted_debits.minor_units, b.posted_credits.minor_units]
            held = b.pending_debits.minor_units + b.pending_credits.minor_units
            if got != want or held:
                problems.append(f"{account_id}: posted Dr/Cr {got}, pending {held}; want {want}")
    verify = await stub.VerifyLedger(pb.VerifyLedgerRequest(), timeout=900.0)
    if not verify.ok:
        problems += [f"VerifyLedger: {d.subject}: {d.detail}" for d in verify.discrepancies[:10]]
    print(f"  books: {len(book.merchants) * len(ROLES)} accounts checked, VerifyLedger "
          f"{'clean' if verify.ok else 'NOT CLEAN'} ({verify.transactions_checked:,} "
          f"transactions)", flush=True)  # fmt: skip
    return problems


def render(steps: list[Step], callers: int, mode: str) -> str:
    """Every run as a markdown table, then the least disturbed run of each batch size."""
    head = ("| batch | run | tx/s | calls/s | p50 ms | p99 ms | ledger µs/tx | postgres µs/tx "
            "| pg shared µs/tx | loadgen µs/tx | tx/commit | other cores | errors |")  # fmt: skip
    lines = [f"{callers} concurrent callers, {mode} mode, two-entry transactions", "",
             head, "|" + "---|" * 13]  # fmt: skip
    for s in steps:
        lat = sorted(s.latencies_ms)
        per_commit = s.txs / s.commits if s.commits else 0.0
        lines.append(
            f"| {s.batch} | {s.run} | {s.txs / s.wall_s:,.0f} | {s.calls / s.wall_s:,.1f} "
            f"| {percentile(lat, 50):.1f} | {percentile(lat, 99):.1f} "
            f"| {s.us_per_tx('ledger'):,.0f} | {s.us_per_tx('postgres'):,.0f} "
            f"| {s.us_per_tx('pg shared'):,.0f} | {s.us_per_tx('loadgen'):,.0f} "
            f"| {per_commit:,.1f} | {s.other_cores:.2f} | {sum(s.errors.values())} |"
        )
    best: dict[int, Step] = {}
    for s in steps:
        if s.batch not in best or s.other_cores < best[s.batch].other_cores:
            best[s.batch] = s
    lines += ["", "Least disturbed run per batch size (ledger / postgres CPU per transaction):"]
    lines += [f"- batch {b}: ledger {s.us_per_tx('ledger'):,.0f} µs, postgres "
              f"{s.us_per_tx('postgres'):,.0f} µs, {s.txs / s.wall_s:,.0f} tx/s "
              f"(run {s.run}, other {s.other_cores:.2f} cores)"
              for b, s in sorted(best.items())]  # fmt: skip
    for s in steps:
        lines += [f"  batch {s.batch} run {s.run}: {n} x {k}" for k, n in s.errors.items()]
    return "\n".join(lines)


# -- the run ------------------------------------------------------------------------


def _db_prefix(text: str) -> str:
    # bench.pg drops only paymesh_bench_* databases; "_ledger" is appended to this.
    if not re.fullmatch(r"paymesh_bench_[a-z0-9_]{1,32}", text):
        raise argparse.ArgumentTypeError("paymesh_bench_ then up to 32 of [a-z0-9_]")
    return text


def _sizes(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1 or max(values) > 1000:
        raise argparse.ArgumentTypeError("a comma list of batch sizes, 1 to 1000")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ledger_batch",
        description="Ledger CPU and PostgreSQL CPU per transaction in CreateTransactions "
        "batches. Creates and drops the database <--db-prefix>_ledger.",
    )
    add = parser.add_argument
    add("--batch-sizes", type=_sizes, default=[1, 10, 50, 100], help="(1,10,50,100)")
    add("--callers", type=int, default=4, help="concurrent callers, one channel each (4)")
    add("--atomic", action="store_true", help="ATOMIC batches instead of INDEPENDENT ones")
    add("--merchants", type=int, default=20, help="merchants whose books are posted to (20)")
    add("--duration-s", type=float, default=8.0, help="measured seconds per run (8)")
    add("--warmup-s", type=float, default=2.0, help="unmeasured seconds before each run (2)")
    add("--repeats", type=int, default=2, help="runs per batch size; the machine is shared (2)")
    add("--profile-batch", type=int, default=0,
        help="then py-spy the ledger for a step of this batch size (0: none)")  # fmt: skip
    add("--profile-s", type=float, default=10.0, help="seconds of the profile step (10)")
    add("--db-prefix", type=_db_prefix, default=DB_PREFIX,
        help="the run's database is this plus _ledger (%(default)s)")  # fmt: skip
    add("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL of the PostgreSQL server (%(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.callers < 1 or args.merchants < 1 or args.repeats < 1 or args.duration_s <= 0:
        parser.error("--callers, --merchants and --repeats must be >= 1, --duration-s > 0")
    return args


async def drive(args: argparse.Namespace, child: Child, server: ppg.Server, pki: Path) -> int:
    """Open the books, run every step, check the books; 0 when everything added up."""
    channels = [open_channel(pki, child.ports["grpc"]) for _ in range(args.callers)]
    try:
        await wait_serving(channels[0], child)
        stubs: list[Stub] = [ledger_pb2_grpc.LedgerServiceStub(c) for c in channels]
        book = Book(merchants=await open_books(stubs[0], args.merchants))
        print(f"  {args.merchants} merchants' books open ({args.merchants * len(ROLES)} "
              "accounts)", flush=True)  # fmt: skip
        payments = Payments(book, "ledger-batch", atomic=args.atomic)
        meter = Meter(server, child.pid)
        steps = []
        for run in range(1, args.repeats + 1):
            for size in args.batch_sizes:
                print(f"\n== batch {size}, run {run}: {args.callers} callers, {args.warmup_s:g} s "
                      f"warm-up + {args.duration_s:g} s", flush=True)  # fmt: skip
                step = Step(size, run, args.duration_s)
                steps.append(await run_step(stubs, payments, step, meter, args.warmup_s))
        steps.sort(key=lambda s: (s.batch, s.run))
        print(
            "\n== Results\n"
            + render(steps, args.callers, "ATOMIC" if args.atomic else "INDEPENDENT"),
            flush=True,
        )
        if args.profile_batch:
            out = child.log_path.with_name("ledger.pyspy.txt")
            print(f"\n== profile: batches of {args.profile_batch}", flush=True)
            print(await profile_step(stubs, payments, meter, args.profile_batch,
                                     args.profile_s, out), flush=True)  # fmt: skip
        problems = await check_books(stubs[0], book)
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    for problem in problems:
        print(f"  MISMATCH {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when it completed and the books added up."""
    args = parse_args(argv)
    database = ppg.database(args.db_prefix, "ledger")
    print(f"ledger batch bench: sizes {args.batch_sizes}, {args.repeats} run(s) each; "
          f"PostgreSQL {pg.server_version(args.pg_url)}; {os.cpu_count()} cores shared with "
          "PostgreSQL and the load generator", flush=True)  # fmt: skip
    print(f"  before starting, other work kept {cpu.background_busy_cores()} cores busy")
    pg.recreate_database(args.pg_url, database)
    workdir = Path(tempfile.mkdtemp(prefix="paymesh-lbatch-"))
    try:
        write_dev_pki(workdir / "pki", ("ledger", "gateway"))
        with bench_children(workdir) as children:
            child = start_ledger(
                children, pg.sqlalchemy_url(args.pg_url, database), workdir / "pki"
            )
            server = ppg.Server(args.pg_url, args.db_prefix)
            try:
                return asyncio.run(drive(args, child, server, workdir / "pki"))
            finally:
                server.close()
    finally:
        pg.drop_database(args.pg_url, database)
        shutil.rmtree(workdir / "pki", ignore_errors=True)
        print(f"  dropped {database}; logs in {workdir}")


if __name__ == "__main__":
    raise SystemExit(main())
