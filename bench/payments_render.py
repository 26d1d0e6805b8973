"""The payments bench's whole markdown report: settings, the tables, and what they mean."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Sequence

from bench import payments_profile as pprof
from bench import payments_report as rep
from bench import payments_verify as pv
from bench.payments_run import Run

_CPU_NOTE = (
    "CPU: utime+stime of every thread (/proc/<pid>/stat) over each step's measured window, "
    "per payment (or per read) answered in it: envoy, identity (ext_authz check and the audit "
    "log), gateway, ledger, sandbox (the simulated providers), supervisor (scripts/run_stack.py, "
    "which copies the services' output), postgres (the backends of the bench's databases), "
    "pg shared (the server's WAL writer, checkpointer and background writer, which also serve "
    "any other database on the server), loadgen (the h2load processes). ceiling: the machine's "
    "cores divided by the total, the rate at which these processes alone would fill them. "
    "cores busy: the whole machine (/proc/stat); other: busy cores none of the groups spent "
    "(the kernel's network work, anyone else's processes: above ~0.3 the step was disturbed)."
)


def _envoy_workers(argv: Sequence[str]) -> str:
    if "--concurrency" in argv:
        return argv[argv.index("--concurrency") + 1]
    return f"{os.cpu_count() or 1} (Envoy's default: one per core)"


_CALLBACKS_ON = (
    "on, as in `make run`: the sandbox posts each payment's signed callback to the gateway "
    "through Envoy, which verifies, records and applies it (a no-op: the payment is already "
    "captured); their cost is in every row."
)
_CALLBACKS_OFF = "off (--no-callbacks): the payments alone."


def _processes(replicas: str) -> str:
    """``--replicas`` in words (the supervisor has already refused a bad value)."""
    if replicas.strip() in ("", "1"):
        return "one process per service"
    return f"processes per service: {replicas} (`--replicas`; the sandbox is always one)"


def _settings(
    args: argparse.Namespace, run: Run, idle: float | None, elapsed_s: float
) -> list[str]:
    cores = os.cpu_count() or 1
    workers = _envoy_workers(run.envoy_argv)
    return [
        f"- Machine: {cores} cores ({platform.machine()}), shared by the load generator "
        "(h2load), Envoy, PostgreSQL and every service (identity, gateway, ledger, the provider "
        "sandbox, the supervisor): every rate below is what all of them manage together on "
        f"{cores} cores, and the CPU tables say who spent what.",
        f"- Before the run, other work kept {idle if idle is not None else '?'} cores busy; the "
        f"run took {elapsed_s / 60:.1f} min.",
        f"- The stack `make run` starts (scripts/run_stack.py): {_processes(args.replicas)}, "
        f"PostgreSQL {run.pg_version} for all three databases, mTLS on every "
        f"hop, Envoy workers: {workers}, services logging at {args.service_log_level}.",
        "- Payments: POST /v1/payments through Envoy REST with an owner API key of a merchant "
        "made for the run (rate limit 100,000/s), Stripe's test token `pm_card_visa`, automatic "
        "capture, a distinct idempotency key each (`?request_id=`), no provider preference "
        "(routing picks Stripe); the gateway calls the sandbox over HTTPS and posts to the "
        "ledger and the audit log through its outbox.",
        "- Provider callbacks: " + (_CALLBACKS_OFF if args.no_callbacks else _CALLBACKS_ON),
        f"- Each step: {args.warmup_s:g} s warm-up, then {args.duration_s:g} s measured; "
        "replies/s and latency count the requests that ended inside the measured window. "
        "settled/s subtracts the outbox backlog the window left (items not yet delivered to the "
        "ledger or the audit log, in payments) or, with callbacks on, the sandbox's callback "
        "backlog, whichever is further behind: a rate the relay or the callbacks cannot follow "
        "does not count. "
        "Closed-loop steps (pay-cN: N connections, one request in flight each) rise until the "
        "settled rate stops rising; pay-half asks for half the best settled rate at a fixed "
        "pace (h2load --rps on one connection: evenly spaced, up to 64 requests in flight).",
        f"- A step during which more than {args.disturbed_cores:g} busy cores were nobody's in "
        f"the stack (other work on the machine) is run again, up to {args.retries} more "
        'times, and its least disturbed run kept ("kept of N runs"); every run\'s payments '
        "count in the correctness check.",
        "- Reads: GET /v1/me (identity's WhoAmI, the cheapest authenticated call) and GET "
        "/v1/payments/{id} (the gateway's cheapest), same key, same Envoy.",
    ]


def _dominant(run: Run) -> list[str]:
    lines = []
    if run.outcome.best is not None:
        lines.append(rep.dominant(run.outcome.best))
    if run.outcome.half is not None:
        lines.append(rep.dominant(run.outcome.half))
    return ["", *lines] if lines else []


def _profile(run: Run) -> list[str]:
    if run.profile is None:
        return []
    connections = run.profile_step.connections if run.profile_step else "?"
    return ["", f"## Where the gateway's Python time goes (py-spy, {connections} in flight)", "",
            pprof.tables(run.profile)]  # fmt: skip


def render(args: argparse.Namespace, run: Run, idle: float | None, elapsed_s: float) -> str:
    lines = ["# Payments benchmark (paymesh issue 5)", "", *_settings(args, run, idle, elapsed_s)]
    if not run.results:
        return "\n".join([*lines, "", "The run stopped before any step completed."])
    lines += ["", "## Targets", "", rep.targets_table(run.outcome)]
    lines += ["", "## Steps", "", rep.steps_table(run.results)]
    lines += ["", "## CPU per payment (per read for read-*), µs", "", rep.cpu_table(run.steps()),
              *_dominant(run), "", _CPU_NOTE]  # fmt: skip
    lines += ["", "## Database transactions per payment", "", rep.commits_table(run.steps())]
    lines += _profile(run)
    verdict = "passed" if run.verdict.ok else "FAILED"
    lines += ["", f"## Correctness check: {verdict}", "", pv.table(run.verdict)]
    return "\n".join(lines)
