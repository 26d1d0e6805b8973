"""The authz bench's results: per-scenario summaries, the table, the target and notes."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.report import percentile

if TYPE_CHECKING:
    from bench.authz_load import Measured
    from bench.load import Recorder

TRIVIAL = "trivial"
WARM = "warm"
COLD = "cold"
# From the issue: the warm-cache Check costs at most a third of a trivial call's CPU on top.
TARGET_ADDED = 1.0 / 3.0


@dataclass
class AuthzResult:
    """One scenario's measured window."""

    name: str
    clients: int
    channels: int
    calls: int
    allowed: int
    duration_s: float
    calls_per_s: float
    server_cpu_us_per_call: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    first_errors: list[str]
    cpu: dict[str, float]
    ratio: float | None = None
    """Server CPU per call divided by the trivial server's."""
    added: float | None = None
    """(CPU per call - trivial CPU per call) / trivial CPU per call."""


@dataclass
class InprocResult:
    """CPU per warm decision in this process, without gRPC (time.process_time)."""

    decisions: int
    decide_us: float
    servicer_us: float
    wire_us: float


def summarise(name: str, rec: Recorder, measured: Measured, channels: int) -> AuthzResult:
    """Turn a scenario's recorder and CPU window into its result."""
    window_s = min(measured.wall_s, rec.window_end - rec.window_start)
    lat = sorted(rec.latencies_ms)
    return AuthzResult(
        name=name,
        clients=rec.clients,
        channels=channels,
        calls=rec.calls,
        allowed=rec.postings,
        duration_s=round(window_s, 3),
        calls_per_s=rec.calls / window_s if window_s > 0 else math.nan,
        server_cpu_us_per_call=measured.server_cpu_s * 1e6 / rec.calls if rec.calls else math.nan,
        latency_ms={
            "p50": percentile(lat, 50),
            "p90": percentile(lat, 90),
            "p99": percentile(lat, 99),
            "max": lat[-1] if lat else math.nan,
        },
        errors=dict(rec.errors),
        first_errors=list(rec.first_errors),
        cpu=measured.split,
    )


def judge(results: list[AuthzResult]) -> None:
    """Fill in each Check scenario's CPU ratio to the trivial call."""
    trivial = next((r for r in results if r.name == TRIVIAL), None)
    if trivial is None or not trivial.server_cpu_us_per_call > 0:
        return
    base = trivial.server_cpu_us_per_call
    for r in results:
        r.ratio = r.server_cpu_us_per_call / base
        r.added = (r.server_cpu_us_per_call - base) / base


def target_met(results: list[AuthzResult]) -> bool | None:
    """Whether the warm Check met the target; None when it could not be judged."""
    warm = next((r for r in results if r.name == WARM), None)
    if warm is None or warm.added is None or math.isnan(warm.added):
        return None
    return warm.added <= TARGET_ADDED


def table(results: list[AuthzResult]) -> str:
    """The comparison table, trivial first."""
    head = (
        f"{'scenario':<9} {'calls':>8} {'calls/s':>8} {'srv CPU µs/call':>15} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'x trivial':>9} {'added':>6} {'errors':>6} "
        f"{'cores busy/srv/bench/rest':>25}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        ratio = f"{r.ratio:8.2f}x" if r.ratio is not None else f"{'':>9}"
        added = f"{r.added:+6.2f}" if r.added is not None and r.name != TRIVIAL else f"{'':>6}"
        c = r.cpu
        split = (
            f"{c['busy_cores']:.2f}/{c['service_cores']:.2f}/{c['bench_cores']:.2f}/"
            f"{c['rest_cores']:.2f}"
            if c
            else ""
        )
        lines.append(
            f"{r.name:<9} {r.calls:>8,} {r.calls_per_s:>8,.0f} {r.server_cpu_us_per_call:>15,.0f} "
            f"{r.latency_ms['p50']:>7.2f} {r.latency_ms['p99']:>7.2f} {ratio} {added} "
            f"{sum(r.errors.values()):>6} {split:>25}"
        )
    return "\n".join(lines)


def target_line(results: list[AuthzResult]) -> str:
    """The issue's target, and whether the warm Check met it."""
    met = target_met(results)
    warm = next((r for r in results if r.name == WARM), None)
    verdict = "not judged" if met is None else ("met" if met else "MISSED")
    value = f"{warm.added:.2f}" if warm is not None and warm.added is not None else "?"
    return (
        f"target: warm added CPU <= {TARGET_ADDED:.2f} x trivial "
        f"(Check CPU/call <= {1 + TARGET_ADDED:.2f} x trivial): warm added {value} -> {verdict}"
    )


def inproc_line(inproc: InprocResult | None, results: list[AuthzResult]) -> list[str]:
    """The in-process figures, next to the trivial call's CPU per call."""
    if inproc is None:
        return []
    trivial = next((r for r in results if r.name == TRIVIAL), None)
    base = trivial.server_cpu_us_per_call if trivial else math.nan

    def share(us: float) -> str:
        return f"{us:6.1f} µs = {us / base:.2f} x trivial" if base > 0 else f"{us:6.1f} µs"

    return [
        f"in-process, no gRPC: {inproc.decisions:,} warm decisions per depth, process CPU, "
        "median of 5 interleaved rounds:",
        f"  Authorizer.decide(AuthzRequest)                        {share(inproc.decide_us)}",
        f"  servicer.Check (CheckRequest -> decide -> CheckResponse) {share(inproc.servicer_us)}",
        f"  + protobuf parse of the request, serialise of the reply {share(inproc.wire_us)}",
        f"  trivial grpc.aio call, server CPU per call             {base:6.1f} µs",
    ]


def notes(results: list[AuthzResult], background_cores: float | None, backend: str) -> list[str]:
    """Footnotes printed under the table."""
    cores = os.cpu_count() or 1
    out = []
    if background_cores is not None and background_cores > 0.25:
        out.append(
            f"WARNING: other work kept {background_cores:.2f} of {cores} cores busy just before "
            "the run; throughput is lower than on an idle machine."
        )
    out += [
        f"The load generator, the server under test and the database share this machine's "
        f"{cores} cores: calls/s is bounded by all three; server CPU µs/call is the server "
        "process's own CPU (all its threads, /proc) over the measured window divided by the "
        "calls completed in it, background work (change feed polls, usage flushes) included.",
        "cores columns: machine busy / server under test / load generator / the rest (the "
        "database, the kernel's loopback networking and any other process on the machine).",
        "added = (CPU/call - trivial CPU/call) / trivial CPU/call; trivial is a bare grpc.aio "
        "server answering a fixed reply on the same method path, driven by the same client.",
        "cold: every call uses a different key once (a cache miss and a store read), over "
        "all the cold keys; there is no warm-up window.",
    ]
    if backend == "postgresql":
        out.append(
            "PostgreSQL: the database's own CPU for cold reads is under 'rest', not in the "
            "server's CPU/call."
        )
    for r in results:
        out.append(
            f"{r.name}: {r.clients} clients over {r.channels} channel(s), {r.duration_s:.1f} s; "
            f"p90 {r.latency_ms['p90']:.2f} ms, max {r.latency_ms['max']:.2f} ms"
        )
        if r.cpu.get("rest_cores", 0.0) > 0.25 and (r.name != COLD or backend == "sqlite"):
            out.append(
                f"  WARNING: {r.cpu['rest_cores']:.2f} cores went to other work during {r.name}; "
                "its figures are noisier (rerun on a quiet machine to compare)"
            )
        for key, count in sorted(r.errors.items()):
            out.append(f"  error {key}: {count}")
    return out
