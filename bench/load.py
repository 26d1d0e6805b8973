"""The timed client loop: concurrent asyncio clients, per-call latency, progress each second.

A scenario runs for a warm-up and then a measured window. Only calls that complete inside the
window count, so connection set-up and the last in-flight calls do not skew the rate.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import grpc.aio
from google.rpc import error_details_pb2, status_pb2

from bench import cpu, workload
from bench.report import ScenarioResult, summarise
from paymesh.ledger.v1 import ledger_pb2, ledger_pb2_grpc

_ABORTED_RETRIES = 5
_GIVE_UP_AFTER_FAILURES = 100
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
_DETAILS_KEY = "grpc-status-details-bin"
# Reads the service database's commit counter (None when unknown).
CommitProbe = Callable[[], Awaitable[int | None]]


@dataclass(frozen=True)
class Scenario:
    """One workload: unary or batched, hot account or not, and its target ratio."""

    name: str
    batch_size: int  # 0: one CreateTransaction per call
    hot: bool
    target_ratio: float  # postings/s divided by pgbench TPS must reach at least this
    fixed_clients: int = 0  # 0: use --clients


@dataclass
class Recorder:
    """Everything the clients of one scenario observed."""

    window_start: float
    window_end: float
    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    postings: int = 0
    calls: int = 0
    postings_any_time: int = 0
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    per_client_calls: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.per_client_calls = [0] * self.clients

    def record(self, client: int, started: float, ended: float, postings: int) -> None:
        """One completed call; it counts only when it completed inside the window."""
        self.postings_any_time += postings
        if not self.window_start <= ended <= self.window_end:
            return
        self.calls += 1
        self.postings += postings
        self.per_client_calls[client] += 1
        self.latencies_ms.append((ended - started) * 1000.0)

    def error(self, key: str, detail: str) -> None:
        """Count one error; print and keep the first few in full."""
        self.errors[key] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(f"{key}: {detail}")
            print(f"    ! {key}: {detail}", flush=True)


def _reason(status: status_pb2.Status) -> str:
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def _error_key(code: str, status: status_pb2.Status | None) -> str:
    reason = _reason(status) if status is not None else ""
    return f"{code}/{reason}" if reason else code


def _rich_status(exc: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    for key, value in exc.trailing_metadata() or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


async def _with_retries(rec: Recorder, attempt: Callable[[], Awaitable[int]]) -> int:
    """Run one RPC, retrying ABORTED (safe with the same request_id); -1 when it failed."""
    for retry in range(_ABORTED_RETRIES + 1):
        try:
            return await attempt()
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.ABORTED and retry < _ABORTED_RETRIES:
                rec.retries += 1
                await asyncio.sleep(0.001 * (retry + 1))
                continue
            rec.error(_error_key(exc.code().name, _rich_status(exc)), exc.details() or "")
            return -1
    return -1


def _count_batch(rec: Recorder, reply: ledger_pb2.CreateTransactionsResponse) -> int:
    made = 0
    for result in reply.results:
        if result.HasField("transaction"):
            made += 1
        else:
            code = _CODE_NAMES.get(result.error.code, str(result.error.code))
            rec.error(_error_key(code, result.error), result.error.message)
    return made


def _attempt_factory(
    scenario: Scenario,
    stub: ledger_pb2_grpc.LedgerServiceAsyncStub,
    rec: Recorder,
    make: tuple[random.Random, workload.Accounts, workload.RequestIds],
) -> Callable[[], Callable[[], Awaitable[int]]]:
    """A function that builds a fresh request and returns the coroutine factory sending it."""
    rng, accounts, ids = make

    def next_attempt() -> Callable[[], Awaitable[int]]:
        if scenario.batch_size == 0:
            one = workload.posting(rng, accounts, ids, hot=scenario.hot)

            async def unary() -> int:
                await stub.CreateTransaction(one, timeout=30.0)
                return 1

            return unary
        many = workload.batch(rng, accounts, ids, scenario.batch_size)

        async def batched() -> int:
            return _count_batch(rec, await stub.CreateTransactions(many, timeout=120.0))

        return batched

    return next_attempt


async def _client(
    index: int, next_attempt: Callable[[], Callable[[], Awaitable[int]]], rec: Recorder
) -> None:
    failures = 0
    while time.perf_counter() < rec.window_end:
        attempt = next_attempt()  # build the request outside the timed call
        started = time.perf_counter()
        made = await _with_retries(rec, attempt)
        rec.record(index, started, time.perf_counter(), max(made, 0))
        failures = failures + 1 if made < 0 else 0
        if failures >= _GIVE_UP_AFTER_FAILURES:
            print(f"    client {index}: {failures} failed calls in a row, stopping", flush=True)
            return


async def _progress(
    name: str, rec: Recorder, service_pid: int | None, commits: CommitProbe
) -> dict[str, float]:
    """Print a line a second; return the CPU split and commit count of the measured window."""
    await asyncio.sleep(max(0.0, rec.window_start - time.perf_counter()))
    before, commits_before = cpu.snapshot(service_pid), await commits()
    print(f"    [{name}] warm-up done, measuring", flush=True)
    last_postings, last_t = rec.postings, time.perf_counter()
    while (now := time.perf_counter()) < rec.window_end:
        await asyncio.sleep(min(1.0, rec.window_end - now))
        now = time.perf_counter()
        rate = (rec.postings - last_postings) / max(now - last_t, 1e-9)
        print(
            f"    [{name}] {now - rec.window_start:5.1f} s  postings {rec.postings:>9,}"
            f"  calls {rec.calls:>8,}  {rate:>9,.0f}/s  errors {sum(rec.errors.values()):,}",
            flush=True,
        )
        last_postings, last_t = rec.postings, now
    measured = cpu.split(before, cpu.snapshot(service_pid))
    commits_after = await commits()
    if commits_before is not None and commits_after is not None:
        measured["db_commits"] = float(commits_after - commits_before)
    return measured


async def run_scenario(
    scenario: Scenario,
    stubs: list[ledger_pb2_grpc.LedgerServiceAsyncStub],
    clients: int,
    timing: tuple[float, float],
    data: tuple[workload.Accounts, workload.RequestIds, int | None, CommitProbe],
) -> ScenarioResult:
    """Run ``clients`` concurrent clients for warm-up + duration; summarise the window."""
    warmup_s, duration_s = timing
    accounts, ids, service_pid, commits = data
    start = time.perf_counter() + warmup_s
    rec = Recorder(window_start=start, window_end=start + duration_s, clients=clients)
    tasks = [
        _client(
            i,
            _attempt_factory(scenario, stubs[i % len(stubs)], rec,
                             (random.Random(f"{scenario.name}-{i}"), accounts, ids)),
            rec,
        )
        for i in range(clients)
    ]  # fmt: skip
    progress = asyncio.create_task(_progress(scenario.name, rec, service_pid, commits))
    await asyncio.gather(*tasks)
    cpu_split = await progress
    return summarise(
        name=scenario.name,
        rec=rec,
        clients=clients,
        channels=len(stubs),
        batch_size=scenario.batch_size,
        target_ratio=scenario.target_ratio,
        cpu_split=cpu_split,
    )
