"""The ledger batch bench's load: the gateway's transactions per payment, the callers, the meter.

``Payments`` makes what the gateway's outbox relay sends for an automatic-capture payment: a
capture (Dr clearing / Cr payable) and the provider's fee (Dr provider_fees / Cr clearing),
with the gateway's request ids, merchants picked at random, and keeps what the accepted items
must add up to on each account. ``run_step`` is a closed loop of concurrent callers; ``Meter``
reads the CPU of the ledger, its PostgreSQL backends and the load generator over the window.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import grpc
import grpc.aio

from bench import payments_pg as ppg
from bench.payments_meter import CpuMeter, Span, fixed
from paymesh.common.v1.money_pb2 import Money
from paymesh.ledger.v1 import ledger_pb2 as pb
from paymesh.ledger.v1 import ledger_pb2_grpc

CURRENCY = "USD"
# (role, type, debits_must_not_exceed_credits): the gateway's books, as far as a capture goes.
ROLES = (
    ("clearing", pb.ACCOUNT_TYPE_ASSET, False),
    ("payable", pb.ACCOUNT_TYPE_LIABILITY, True),
    ("provider_fees", pb.ACCOUNT_TYPE_EXPENSE, False),
)
if TYPE_CHECKING:
    # The stubs type the aio stub separately; at run time it is the one generated class.
    Stub: TypeAlias = ledger_pb2_grpc.LedgerServiceAsyncStub
else:
    Stub = ledger_pb2_grpc.LedgerServiceStub
Legs = list[tuple[str, int, int]]
"""An item's (account id, 0 for debit or 1 for credit, amount) legs."""


@dataclass
class Book:
    """Posted debits and credits the bench expects on each account, from accepted items."""

    expected: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    merchants: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Step:
    """One measured window at one batch size."""

    batch: int
    run: int
    wall_s: float
    txs: int = 0
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    span: Span | None = None
    commits: int = 0
    retries: int = 0

    @property
    def other_cores(self) -> float:
        """Busy cores nobody measured spent (other people's work: how disturbed the run was)."""
        return self.span.other_cores if self.span else 0.0

    def us_per_tx(self, group: str) -> float:
        """CPU microseconds ``group`` spent per transaction recorded in the window."""
        return self.span.per_item_us(group, self.txs) if self.span else 0.0


class Payments:
    """The gateway's two transactions per automatic-capture payment, merchants at random."""

    def __init__(self, book: Book, seed: str, *, atomic: bool = False) -> None:
        self.book = book
        self.mode = pb.BATCH_MODE_ATOMIC if atomic else pb.BATCH_MODE_INDEPENDENT
        self.rng = random.Random(seed)
        self.prefix = uuid.uuid4().hex[:10]
        self.count = 0
        self._queue: list[tuple[pb.CreateTransactionRequest, Legs]] = []

    def _payment(self) -> None:
        books = self.rng.choice(self.book.merchants)
        pay = f"pay_{self.prefix}{self.count:08d}"
        self.count += 1
        amount = self.rng.randint(100, 50_000)
        fee = amount * 29 // 1000 + 30
        self._queue.append(_move(f"{pay}:capture:auto", books["clearing"], books["payable"],
                                 amount, f"capture {pay}", pay))  # fmt: skip
        self._queue.append(_move(f"{pay}:provider_fee", books["provider_fees"], books["clearing"],
                                 fee, f"provider fee {pay}", pay))  # fmt: skip

    def batch(self, size: int) -> tuple[pb.CreateTransactionsRequest, list[Legs]]:
        """The next ``size`` transactions as one call, and each item's legs."""
        while len(self._queue) < size:
            self._payment()
        items, self._queue = self._queue[:size], self._queue[size:]
        request = pb.CreateTransactionsRequest(requests=[r for r, _ in items], mode=self.mode)
        return request, [legs for _, legs in items]

    def settle(self, step: Step, reply: pb.CreateTransactionsResponse,
               legs: list[Legs]) -> int:  # fmt: skip
        """Count accepted items into the expected totals; returns how many were accepted."""
        made = 0
        for result, item_legs in zip(reply.results, legs, strict=True):
            if result.HasField("transaction"):
                made += 1
                for account_id, side, amount in item_legs:
                    self.book.expected[account_id][side] += amount
            else:
                step.errors[f"item code {result.error.code}: {result.error.message[:60]}"] += 1
        return made


def _move(
    request_id: str, debit: str, credit: str, amount: int, what: str, ref: str
) -> tuple[pb.CreateTransactionRequest, Legs]:
    money = Money(currency_code=CURRENCY, minor_units=amount)
    tx = pb.Transaction(
        entries=[
            pb.Entry(account_id=debit, direction=pb.DIRECTION_DEBIT, amount=money),
            pb.Entry(account_id=credit, direction=pb.DIRECTION_CREDIT, amount=money),
        ],
        description=what,
        external_ref=ref,
    )
    request = pb.CreateTransactionRequest(transaction=tx, request_id=request_id)
    return request, [(debit, 0, amount), (credit, 1, amount)]


_RETRYABLE = (grpc.StatusCode.ABORTED, grpc.StatusCode.UNAVAILABLE)


async def _call(stub: Stub, step: Step, request: pb.CreateTransactionsRequest,
                ) -> pb.CreateTransactionsResponse | None:  # fmt: skip
    # A retry sends the same request ids: what the first attempt recorded is replayed, once.
    for attempt in range(6):
        try:
            return await stub.CreateTransactions(request, timeout=120.0)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _RETRYABLE or attempt == 5:
                step.errors[f"{exc.code().name}: {(exc.details() or '')[:80]}"] += 1
                return None
            step.retries += 1
            await asyncio.sleep(0.01 * (attempt + 1))
    return None


async def run_step(stubs: list[Stub], payments: Payments, step: Step,
                   meter: Meter, warmup_s: float) -> Step:  # fmt: skip
    """``len(stubs)`` callers in a closed loop; only calls ending inside the window count."""
    start = time.perf_counter() + warmup_s
    end = start + step.wall_s

    async def caller(stub: Stub) -> None:
        while time.perf_counter() < end:
            request, legs = payments.batch(step.batch)  # built outside the timed call
            began = time.perf_counter()
            reply = await _call(stub, step, request)
            if reply is None:
                await asyncio.sleep(0.05)
                continue
            made = payments.settle(step, reply, legs)
            ended = time.perf_counter()
            if start <= ended <= end:
                step.txs += made
                step.calls += 1
                step.latencies_ms.append((ended - began) * 1000.0)

    watcher = asyncio.create_task(meter.watch(step, start, end))
    await asyncio.gather(*(caller(stub) for stub in stubs))
    await watcher
    return step


@dataclass
class Meter:
    """CPU of the ledger, its PostgreSQL backends and the load generator; commits."""

    server: ppg.Server
    ledger_pid: int

    def cpu(self) -> CpuMeter:
        return CpuMeter({
            "ledger": fixed(self.ledger_pid),
            "postgres": self.server.pids,
            "pg shared": self.server.shared_pids,
            "loadgen": fixed(os.getpid()),
        })  # fmt: skip

    async def watch(self, step: Step, start: float, end: float) -> None:
        """Measure the window [start, end], printing progress once a second."""
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        meter = self.cpu()
        await asyncio.to_thread(meter.start)
        commits = (await asyncio.to_thread(self.server.commits))["ledger"]
        last_txs, last_t = 0, time.perf_counter()
        while (now := time.perf_counter()) < end:
            await asyncio.sleep(min(1.0, end - now))
            now = time.perf_counter()
            rate = (step.txs - last_txs) / max(now - last_t, 1e-9)
            print(f"    [batch {step.batch} run {step.run}] {now - start:4.1f} s  "
                  f"transactions {step.txs:>8,}  {rate:>7,.0f}/s  "
                  f"errors {sum(step.errors.values())}", flush=True)  # fmt: skip
            last_txs, last_t = step.txs, now
        step.span = await asyncio.to_thread(meter.stop)
        step.wall_s = step.span.wall_s
        step.commits = (await asyncio.to_thread(self.server.commits))["ledger"] - commits
