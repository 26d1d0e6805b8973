"""One step of the payments bench: a load held for a while, measured in its middle.

A step starts its h2load processes (``bench.payments_load``), sized to outlast warm-up +
measured time, and opens the measured window after the warm-up: CPU by process group
(``bench.payments_meter``), the gateway's outbox and each database's commits are read at
both ends, and the requests that ended inside the window are its throughput and latency.
The window closes after the measured time, or earlier when a process has sent all its
requests, so it never sees the load wind down. The processes then finish what they sent;
the step waits for the outbox to drain before the next one starts.

A payment's ledger postings and audit record are delivered after its reply, by the
gateway's outbox relay. A step's *settled* rate therefore subtracts whatever backlog the
outbox gained in the window: a rate the relay cannot follow is not an end-to-end rate. With
provider callbacks on, the sandbox's callback backlog counts the same way
(``bench.payments_callbacks``), and the step also waits for it to drain.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import payments_pg as ppg
from bench.payments_callbacks import CallbackProbe, CallbackState
from bench.payments_load import Fleet, Job, Window, summarize
from bench.payments_meter import CpuMeter, PidSource, Span

TAIL_S = 0.5
"""Seconds a duration-bound job (a read) keeps running after the window closes."""
_FINISH_MIN_S = 60.0
_FINISH_FACTOR = 10.0
"""A process still sending this many step lengths later is killed (its keys' payments are
then cut off mid-flight, and the correctness check will say so)."""
_REQUESTS = re.compile(r"requests: \d+ total, (\d+) started, (\d+) done")


@dataclass(frozen=True)
class Timing:
    warmup_s: float
    duration_s: float
    drain_timeout_s: float = 60.0


@dataclass
class StepResult:
    """What one step measured."""

    key: str
    kind: str
    """"closed" (each connection waits for its answer), "open" (a fixed rate) or "read"."""
    what: str
    connections: int
    window: Window
    span: Span
    target_rps: float = 0.0
    sent: int = 0
    """Requests answered or failed over the whole step (warm-up and tail included)."""
    replied_ok: int = 0
    """2xx replies over the whole step: each one a payment that must exist."""
    unanswered: int = 0
    """Requests sent whose answer never came (cut off by the end of the load): each may or
    may not have made a payment."""
    outbox: tuple[ppg.OutboxState, ppg.OutboxState] | None = None
    drain_s: float = 0.0
    left_pending: int = 0
    """Outbox items still pending when the drain gave up (0: drained)."""
    commits: dict[str, int] = field(default_factory=dict)
    items_per_payment: float = 0.0
    callbacks: tuple[CallbackState, CallbackState] | None = None
    """The sandbox's callback counters at the window's ends (None: callbacks off)."""
    callbacks_per_payment: float = 0.0
    attempts: int = 1
    """Runs of this step; the others were disturbed by other work and repeated."""

    @property
    def payments(self) -> bool:
        return self.kind != "read"

    @property
    def backlog_growth(self) -> int:
        if self.outbox is None:
            return 0
        return max(0, self.outbox[1].pending - self.outbox[0].pending)

    @property
    def callback_backlog_growth(self) -> int:
        if self.callbacks is None:
            return 0
        return max(0, self.callbacks[1].pending - self.callbacks[0].pending)

    @property
    def settled_rps(self) -> float:
        """Replies per second less the backlog the window left, in payments: the outbox's,
        or the sandbox's callbacks', whichever is further behind."""
        if not self.payments:
            return self.window.rps
        behind = 0.0
        if self.items_per_payment > 0:
            behind = self.backlog_growth / self.items_per_payment
        if self.callbacks_per_payment > 0:
            behind = max(behind, self.callback_backlog_growth / self.callbacks_per_payment)
        return max(0.0, self.window.rps - behind / self.window.seconds)


@dataclass(frozen=True)
class Step:
    """A step to run: its jobs (h2load processes) and how to label it."""

    key: str
    kind: str
    what: str
    jobs: tuple[Job, ...]
    target_rps: float = 0.0
    name: str = ""
    """Its directory under the work directory (``key`` unless a repeat names its own)."""

    @property
    def connections(self) -> int:
        return sum(job.clients for job in self.jobs)


def run_step(
    step: Step,
    timing: Timing,
    workdir: Path,
    server: ppg.Server,
    groups: Callable[[PidSource], Mapping[str, PidSource]],
    items_per_payment: float = 0.0,
    callbacks: tuple[CallbackProbe, float] | None = None,
) -> StepResult:
    """Run ``step`` (see the module docstring); ``groups`` makes the CPU groups around the
    load generator's pids; ``callbacks``: the sandbox's probe and callbacks per payment,
    when callbacks are on."""
    stepdir = workdir / (step.name or step.key)
    stepdir.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(step.jobs, stepdir)
    meter = CpuMeter(groups(fleet.pids))
    try:
        fleet.start(timing.warmup_s + timing.duration_s + TAIL_S)
        fleet.first_exit(timing.warmup_s)
        outbox0, commits0 = server.outbox(), server.commits()
        cb0 = callbacks[0].state() if callbacks else None
        meter.start()
        t0_us = time.time_ns() // 1000
        fleet.first_exit(timing.duration_s)
        span = meter.stop()
        t1_us = time.time_ns() // 1000
        outbox1, commits1 = server.outbox(), server.commits()
        cb1 = callbacks[0].state() if callbacks else None
        fleet.finish(max(_FINISH_MIN_S, _FINISH_FACTOR * (timing.warmup_s + timing.duration_s)))
    finally:
        fleet.kill()
    drained, drain_s = server.wait_drained(timing.drain_timeout_s)
    if callbacks:
        drain_s += callbacks[0].wait_idle(timing.drain_timeout_s)[1]
    return StepResult(
        step.key, step.kind, step.what, step.connections,
        summarize(fleet.samples, t0_us, t1_us), span, step.target_rps,
        sent=fleet.sent, replied_ok=sum(1 for s in fleet.samples if 200 <= s.status < 300),
        unanswered=unanswered(stepdir, step.jobs),
        outbox=(outbox0, outbox1), drain_s=drain_s, left_pending=drained.pending,
        commits=ppg.commit_delta(commits0, commits1), items_per_payment=items_per_payment,
        callbacks=(cb0, cb1) if cb0 and cb1 else None,
        callbacks_per_payment=callbacks[1] if callbacks else 0.0,
    )  # fmt: skip


def unanswered(stepdir: Path, jobs: tuple[Job, ...]) -> int:
    """Requests h2load started but never saw finish, over every process of a step."""
    total = 0
    for job in jobs:
        out = (stepdir / f"{job.name}.out").read_text(errors="replace")
        found = _REQUESTS.search(out)
        if found:
            total += int(found.group(1)) - int(found.group(2))
    return total
