"""The order of a payments bench run, and what it collects (``Run``).

Reads first (they add nothing to the books), then the closed-loop ramp, the fixed-rate step
at half the maximum, the profile, and last the correctness check over everything the run
created. Each step waits for a quiet machine first and prints one line when done.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from bench import payments_pg as ppg
from bench import payments_profile as pprof
from bench import payments_stack as pstack
from bench import payments_verify as pv
from bench import pg
from bench.edge import wait_quiet
from bench.edge_stack import bench_children
from bench.payments_callbacks import CallbackProbe
from bench.payments_data import (
    CURRENCY,
    BenchMerchant,
    all_payments,
    balances,
    create_merchant,
    warm_up,
)
from bench.payments_plan import Planner
from bench.payments_report import Outcome
from bench.payments_steps import TAIL_S, Step, StepResult, Timing, run_step
from gateway_svc.domain.ledger_accounts import AccountRole, Books

QUIET_CORES = 0.3
"""Busy cores, with no load running, under which a step may start (the idle stack's own
workers, the relay's and the reconciler's polls, use a few hundredths)."""
_RAMP_GAIN = 1.03
_RAMP_FLAT_STEPS = 2
_EXPECT_GROWTH = 1.6
_DRAIN_TIMEOUT_S = 120.0


@dataclass
class Run:
    """Everything a run measured."""

    envoy_argv: list[str] = field(default_factory=list)
    pg_version: str = "?"
    warm: list[dict[str, Any]] = field(default_factory=list)
    items_per_payment: float = 0.0
    callbacks: tuple[CallbackProbe, float] | None = None
    """The sandbox's callback probe and callbacks per payment (None: callbacks off)."""
    results: list[StepResult] = field(default_factory=list)
    profile_step: StepResult | None = None
    profile: pprof.Profile | None = None
    outcome: Outcome = field(default_factory=lambda: Outcome(None, None, None))
    verdict: pv.Verdict = field(default_factory=pv.Verdict)

    discarded: list[StepResult] = field(default_factory=list)
    """Runs of a step that other work disturbed, replaced by a repeat: out of the tables,
    in the correctness check (their payments exist all the same)."""

    def failures(self) -> list[str]:
        found = [f"{r.key}: {r.sent - r.replied_ok} requests failed" for r in self.every_run()
                 if r.sent - r.replied_ok]  # fmt: skip
        if not self.verdict.ok:
            found.append("the correctness check failed")
        return found

    def steps(self) -> list[StepResult]:
        """The steps the tables show."""
        return [*self.results, *([self.profile_step] if self.profile_step else [])]

    def every_run(self) -> list[StepResult]:
        return [*self.steps(), *self.discarded]


class Build(Protocol):
    """Makes a step's ``attempt``-th run (a repeat gets files and keys of its own)."""

    def __call__(self, *, attempt: int) -> Step: ...


Measure = Callable[[Build], StepResult]


@dataclass
class Measurer:
    """Runs a step, again while other work disturbs it (``--retries``, ``--disturbed-cores``),
    and keeps its least disturbed run."""

    args: argparse.Namespace
    timing: Timing
    stepdir: Path
    server: ppg.Server
    stack: pstack.PaymentStack
    run: Run

    def __call__(self, build: Build) -> StepResult:
        kept: StepResult | None = None
        attempt = 0
        while attempt <= self.args.retries:
            attempt += 1
            if self.args.quiet_wait_s > 0:
                wait_quiet(QUIET_CORES, self.args.quiet_wait_s)
            groups = partial(self.stack.groups, self.server)
            result = run_step(build(attempt=attempt), self.timing, self.stepdir, self.server,
                              groups, self.run.items_per_payment,
                              self.run.callbacks)  # fmt: skip
            print(_line(result, attempt), flush=True)
            if kept is None:
                kept = result
            elif result.span.other_cores < kept.span.other_cores:
                self.run.discarded.append(kept)
                kept = result
            else:
                self.run.discarded.append(result)
            if kept.span.other_cores <= self.args.disturbed_cores:
                break
        assert kept is not None
        kept.attempts = attempt
        return kept


def _line(r: StepResult, attempt: int) -> str:
    n = r.window.ok
    cpu = " ".join(f"{g} {r.span.per_item_us(g, n) / 1000:.2f}" for g in r.span.cpu_s)
    settled = f" settled {r.settled_rps:,.1f}/s," if r.payments else ""
    errors = f" ERRORS {r.window.errors}," if r.window.errors else ""
    key = r.key if attempt == 1 else f"{r.key} (run {attempt})"
    return (f"  {key:<13} {r.window.rps:8,.1f}/s,{settled} p50 {r.window.p(0.5):.1f} ms, "
            f"p99 {r.window.p(0.99):.1f} ms,{errors} CPU ms each: {cpu}; "
            f"other cores {r.span.other_cores:.2f}")  # fmt: skip


def _warm_up(
    stack: pstack.PaymentStack,
    merchant: BenchMerchant,
    server: ppg.Server,
    count: int,
    probe: CallbackProbe | None,
) -> tuple[list[dict[str, Any]], float, float, float]:
    """The warm-up payments, the outbox items and the sandbox callbacks one payment makes
    (measured after the first, which also opens the merchant's books), and the rate of the
    rest, one at a time."""
    made = warm_up(stack, merchant, 1)
    before, _ = server.wait_drained(_DRAIN_TIMEOUT_S)
    sent_before = probe.wait_idle(_DRAIN_TIMEOUT_S)[0].finished if probe else 0
    started = time.monotonic()
    made += warm_up(stack, merchant, count, first=1)
    rate = (count - 1) / (time.monotonic() - started)
    after, _ = server.wait_drained(_DRAIN_TIMEOUT_S)
    sent_after = probe.wait_idle(_DRAIN_TIMEOUT_S)[0].finished if probe else 0
    per = count - 1
    return made, (after.done - before.done) / per, rate, (sent_after - sent_before) / per


def _ramp(
    concurrency: list[int], planner: Planner, measure: Measure, single_rps: float
) -> list[StepResult]:
    """Closed-loop steps at rising concurrency until the settled rate has stopped rising for
    two steps, or a step saw failures. Each step expects the last one's rate, scaled by its
    concurrency but at most ``_EXPECT_GROWTH`` times (``single_rps``, the warm-up's rate,
    stands for a step at 1 before the first)."""
    results: list[StepResult] = []
    best, flat = 0.0, 0
    last_rps, last_connections = single_rps, 1
    for connections in concurrency:
        growth = min(connections / last_connections, _EXPECT_GROWTH)
        expect = max(1.0, last_rps * growth)
        result = measure(partial(planner.closed, connections, expect))
        results.append(result)
        last_rps, last_connections = result.window.rps, connections
        if result.settled_rps > best * _RAMP_GAIN:
            best, flat = result.settled_rps, 0
        else:
            flat += 1
        if flat >= _RAMP_FLAT_STEPS or result.window.errors:
            break
    return results


def _verify(
    stack: pstack.PaymentStack, merchant: BenchMerchant, server: ppg.Server, run: Run
) -> pv.Verdict:
    state, waited = server.wait_drained(_DRAIN_TIMEOUT_S)
    print(f"  outbox drained in {waited:.1f} s: {state}", flush=True)
    payments = pv.totals(all_payments(stack, merchant))
    books = Books(merchant.merchant_id, CURRENCY)
    found = balances(stack, {role.value: books.code(role) for role in AccountRole})
    steps = [r for r in run.every_run() if r.payments]
    replied = len(run.warm) + sum(r.replied_ok for r in steps)
    unknown = sum(r.unanswered + r.sent - r.replied_ok for r in steps)
    return pv.verify(payments, replied, unknown, state, found)


def _profile(
    stack: pstack.PaymentStack, planner: Planner, measure: Measure, best: StepResult, out: Path
) -> tuple[StepResult, pprof.Profile]:
    """One more step like ``best`` with py-spy recording the gateway all through it (the
    load is the same from its first second, so the warm-up is profiled too)."""
    seconds = planner.seconds - TAIL_S
    recorder = pprof.start(stack.pid("gateway"), seconds, out)
    result = measure(partial(planner.closed, best.connections, best.window.rps, "profile"))
    return result, pprof.finish(recorder, out, seconds)


def _steps(
    args: argparse.Namespace, planner: Planner, measure: Measure, run: Run, single_rps: float
) -> list[StepResult]:
    """Reads, the ramp, and the fixed-rate step at half the maximum."""
    payment_id = str(run.warm[0]["id"])
    reads = [
        measure(partial(planner.read, "read-me", "/v1/me", args.read_connections)),
        measure(partial(planner.read, "read-payment", f"/v1/payments/{payment_id}",
                        args.read_connections, "/v1/payments/{id}")),
    ]  # fmt: skip
    closed = _ramp(args.concurrency, planner, measure, single_rps)
    best = max(closed, key=lambda r: r.settled_rps)
    half: StepResult | None = None
    if best.settled_rps >= 2:
        half = measure(partial(planner.open_rate, "pay-half", best.settled_rps / 2))
    run.outcome = Outcome(best, half, reads[0])
    return [*reads, *closed, *([half] if half else [])]


def _drive(
    args: argparse.Namespace, workdir: Path, stack: pstack.PaymentStack, server: ppg.Server
) -> Run:
    run = Run(
        envoy_argv=_cmdline(stack.pid("envoy")), pg_version=pg.server_version(server.admin_url)
    )
    tag = uuid.uuid4().hex[:8]
    merchant = create_merchant(stack, f"payments bench {tag}")
    probe = None if args.no_callbacks else stack.callback_probe()
    run.warm, run.items_per_payment, single_rps, callbacks_each = _warm_up(
        stack, merchant, server, args.warmup_payments, probe
    )
    run.callbacks = (probe, callbacks_each) if probe else None
    print(f"  merchant {merchant.merchant_id}, owner key {merchant.key_id}; "
          f"{len(run.warm)} warm-up payments captured ({single_rps:.1f}/s one at a time), "
          f"{run.items_per_payment:.2f} outbox items"
          + (f" and {callbacks_each:.2f} provider callbacks" if probe else "") + " each",
          flush=True)  # fmt: skip
    timing = Timing(args.warmup_s, args.duration_s, _DRAIN_TIMEOUT_S)
    planner = Planner(workdir / "steps", stack.rest_url, merchant, timing, tag)
    measure = Measurer(args, timing, workdir / "steps", server, stack, run)

    print("\n== steps", flush=True)
    run.results = _steps(args, planner, measure, run, single_rps)
    best = run.outcome.best
    if not args.no_profile and best is not None and best.window.ok:
        print(f"\n== py-spy profile of the gateway, {best.connections} in flight", flush=True)
        out = workdir / "gateway.pyspy"
        run.profile_step, run.profile = _profile(stack, planner, measure, best, out)
    print("\n== correctness check", flush=True)
    run.verdict = _verify(stack, merchant, server, run)
    return run


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def run(args: argparse.Namespace, workdir: Path) -> Run:
    """Start the stack, run every step and the check, stop the stack (also on errors)."""
    with bench_children(workdir) as children:
        print(f"\n== stack (scripts/run_stack.py on PostgreSQL) in {workdir}", flush=True)
        started = time.monotonic()
        database_url = ppg.stack_url(args.pg_url, args.db_name)
        stack = pstack.start(children, database_url, args.service_log_level,
                             callbacks=not args.no_callbacks, replicas=args.replicas)  # fmt: skip
        print(f"  ready in {time.monotonic() - started:.1f} s: " + ", ".join(
            f"{g} pid {', '.join(map(str, stack.pids(g)))}" for g in pstack.SERVICE_GROUPS),
            flush=True)  # fmt: skip
        server = ppg.Server(args.pg_url, args.db_name)
        try:
            return _drive(args, workdir, stack, server)
        finally:
            server.close()
