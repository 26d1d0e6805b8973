"""The payments bench's markdown: steps, targets, CPU per payment, commits, the check."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from bench.payments_stack import SERVICE_GROUPS
from bench.payments_steps import StepResult

CPU_GROUPS = (*SERVICE_GROUPS, "supervisor", "postgres", "pg shared", "loadgen")
TARGET_RPS = 500.0
TARGET_READ_RATIO = 0.25
TARGET_P99_MS = 100.0


@dataclass(frozen=True)
class Outcome:
    """The figures the targets are judged on."""

    best: StepResult | None
    """The closed-loop step with the highest settled rate: the maximum."""
    half: StepResult | None
    """The fixed-rate step at half of it."""
    read: StepResult | None
    """The cheapest read (GET /v1/me)."""

    @property
    def max_rps(self) -> float:
        return self.best.settled_rps if self.best else 0.0

    @property
    def read_ratio(self) -> float | None:
        if self.best is None or self.read is None or self.read.window.rps <= 0:
            return None
        return self.max_rps / self.read.window.rps


def _errors(r: StepResult) -> str:
    return ", ".join(f"{k}: {n}" for k, n in sorted(r.window.errors.items())) or "0"


def _runs(r: StepResult) -> str:
    return f" (kept of {r.attempts} runs)" if r.attempts > 1 else ""


def steps_table(results: Sequence[StepResult]) -> str:
    """One line per step: rates, latency, errors, the outbox, the machine."""
    lines = [
        "| step | load | replies/s | settled/s | p50 ms | p99 ms | errors | outbox backlog "
        "+items (drain s) | cores busy / other |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        settled = f"{r.settled_rps:,.1f}" if r.payments else ""
        backlog = f"{r.backlog_growth:+,} ({r.drain_s:.1f})" if r.payments else ""
        if r.callbacks is not None:
            backlog += f"; callbacks {r.callback_backlog_growth:+,}"
        lines.append(
            f"| {r.key} | {r.what} | {r.window.rps:,.1f} | {settled} | {r.window.p(0.5):.1f} "
            f"| {r.window.p(0.99):.1f} | {_errors(r)} | {backlog} "
            f"| {r.span.busy_cores:.2f} / {r.span.other_cores:.2f}{_runs(r)} |"
        )
    return "\n".join(lines)


def cpu_table(results: Sequence[StepResult]) -> str:
    """CPU microseconds per payment (or per read) of every process group, and the ceiling
    that total puts on the rate: the machine's cores over the CPU one request costs."""
    cores = os.cpu_count() or 1
    head = " | ".join(CPU_GROUPS)
    lines = [f"| step | {head} | total | ceiling/s at {cores} cores |",
             "|---|" + "---|" * (len(CPU_GROUPS) + 2)]  # fmt: skip
    for r in results:
        n = r.window.ok
        cells = " | ".join(f"{r.span.per_item_us(g, n):,.0f}" for g in CPU_GROUPS)
        total_us = r.span.total_s() * 1e6 / n if n else 0.0
        ceiling = f"{cores * 1e6 / total_us:,.0f}" if total_us else "n/a"
        lines.append(f"| {r.key} | {cells} | {total_us:,.0f} | {ceiling} |")
    return "\n".join(lines)


def commits_table(results: Sequence[StepResult]) -> str:
    """Transactions committed per payment in each service's database."""
    lines = ["| step | identity | ledger | gateway | outbox items per payment |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        if not r.payments or not r.window.ok:
            continue
        per = {s: r.commits.get(s, 0) / r.window.ok for s in ("identity", "ledger", "gateway")}
        lines.append(f"| {r.key} | {per['identity']:.2f} | {per['ledger']:.2f} "
                     f"| {per['gateway']:.2f} | {r.items_per_payment:.2f} |")  # fmt: skip
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def targets_table(o: Outcome) -> str:
    best = o.best.key if o.best else "none"
    lines = ["| target | measured | |", "|---|---|---|"]
    lines.append(f"| >= {TARGET_RPS:,.0f} payments/s (settled, {best}) | {o.max_rps:,.1f} "
                 f"| {_verdict(o.max_rps >= TARGET_RPS)} |")  # fmt: skip
    ratio = o.read_ratio
    read = f"{o.read.window.rps:,.0f} reads/s" if o.read else "no read step"
    shown = f"{ratio:.3f} ({o.max_rps:,.1f} / {read})" if ratio is not None else "n/a"
    lines.append(f"| >= {TARGET_READ_RATIO}x the cheapest read (GET /v1/me) | {shown} "
                 f"| {_verdict(ratio is not None and ratio >= TARGET_READ_RATIO)} |")  # fmt: skip
    if o.half is not None:
        w = o.half.window
        p99 = w.p(0.99)
        lines.append(f"| p99 < {TARGET_P99_MS:.0f} ms at half the maximum "
                     f"({o.half.target_rps:,.1f}/s asked, {w.rps:,.1f}/s served) "
                     f"| p50 {w.p(0.5):.1f} ms, p99 {p99:.1f} ms "
                     f"| {_verdict(bool(w.ok) and p99 < TARGET_P99_MS)} |")  # fmt: skip
    return "\n".join(lines)


def dominant(r: StepResult) -> str:
    """One sentence: where a payment's CPU went at the step ``r``, largest first."""
    n = r.window.ok
    if not n:
        return f"{r.key} completed no payment."
    parts = sorted(((r.span.per_item_us(g, n), g) for g in CPU_GROUPS), reverse=True)
    total = sum(us for us, _ in parts)
    shown = ", ".join(f"{g} {us / 1000:.1f} ms ({us / total:.0%})" for us, g in parts if us > 0)
    return (f"At {r.key}, one payment cost {total / 1000:.1f} ms of CPU across all processes: "
            f"{shown}.")  # fmt: skip
