"""Results: per-scenario summaries, the comparison table and the JSON file."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.load import Recorder
    from bench.pg import PgbenchResult


@dataclass
class ScenarioResult:
    """One scenario's measured window."""

    name: str
    clients: int
    channels: int
    batch_size: int
    target_ratio: float
    duration_s: float
    postings: int
    calls: int
    postings_per_s: float
    calls_per_s: float
    latency_ms: dict[str, float]
    retries: int
    errors: dict[str, int]
    first_errors: list[str]
    fairness: dict[str, float]
    cpu: dict[str, float] = field(default_factory=dict)
    db_commits_per_s: float | None = None  # approximate: pg_stat_database lags ~1 s
    ratio: float | None = None
    passed: bool | None = None


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list; NaN when it is empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def jain_index(values: list[int]) -> float:
    """Jain's fairness index: 1.0 when every client got the same number of calls, 1/n worst."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return (total * total) / (len(values) * squares) if squares else math.nan


def summarise(
    *,
    name: str,
    rec: Recorder,
    clients: int,
    channels: int,
    batch_size: int,
    target_ratio: float,
    cpu_split: dict[str, float],
) -> ScenarioResult:
    """Turn a scenario's recorder into its result."""
    window_s = rec.window_end - rec.window_start
    lat = sorted(rec.latencies_ms)
    cpu_split = dict(cpu_split)
    commits = cpu_split.pop("db_commits", None)
    return ScenarioResult(
        name=name,
        clients=clients,
        channels=channels,
        batch_size=batch_size,
        target_ratio=target_ratio,
        duration_s=round(window_s, 3),
        postings=rec.postings,
        calls=rec.calls,
        postings_per_s=rec.postings / window_s,
        calls_per_s=rec.calls / window_s,
        latency_ms={
            "p50": percentile(lat, 50),
            "p90": percentile(lat, 90),
            "p99": percentile(lat, 99),
            "max": lat[-1] if lat else math.nan,
            "mean": sum(lat) / len(lat) if lat else math.nan,
        },
        retries=rec.retries,
        errors=dict(rec.errors),
        first_errors=list(rec.first_errors),
        fairness={
            "jain": jain_index(rec.per_client_calls),
            "min_calls": float(min(rec.per_client_calls, default=0)),
            "max_calls": float(max(rec.per_client_calls, default=0)),
        },
        cpu=cpu_split,
        db_commits_per_s=commits / window_s if commits is not None else None,
    )


def judge(results: list[ScenarioResult], pgbench_tps: float | None) -> None:
    """Fill in each result's ratio to pgbench TPS and whether it met its target."""
    for result in results:
        if pgbench_tps:
            result.ratio = result.postings_per_s / pgbench_tps
            result.passed = result.ratio >= result.target_ratio


def table(results: list[ScenarioResult], pgbench: PgbenchResult | None) -> str:
    """The comparison table, pgbench first."""
    head = (
        f"{'scenario':<12} {'clients':>7} {'postings/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'x pgbench':>9} {'target':>7} {'result':>6} {'errors':>7} {'CPU svc/bench/rest':>19}"
    )
    lines = [head, "-" * len(head)]
    if pgbench is not None:
        lat = f"{pgbench.latency_avg_ms:8.2f}" if pgbench.latency_avg_ms is not None else " " * 8
        lines.append(
            f"{'pgbench':<12} {pgbench.clients:>7} {pgbench.tps:>11,.0f} {lat} {'':>8} "
            f"{1.0:>8.2f}x {'':>7} {'':>6} {pgbench.failed:>7}"
        )
    for r in results:
        ratio = f"{r.ratio:>8.2f}x" if r.ratio is not None else f"{'n/a':>9}"
        verdict = "n/a" if r.passed is None else ("pass" if r.passed else "MISS")
        split = (
            f"{r.cpu['service_cores']:.2f}/{r.cpu['bench_cores']:.2f}/{r.cpu['rest_cores']:.2f}"
            if r.cpu
            else ""
        )
        lines.append(
            f"{r.name:<12} {r.clients:>7} {r.postings_per_s:>11,.0f} "
            f"{r.latency_ms['p50']:>8.2f} {r.latency_ms['p99']:>8.2f} {ratio} "
            f"{'>=' + format(r.target_ratio, '.1f') + 'x':>7} {verdict:>6} "
            f"{sum(r.errors.values()):>7} {split:>19}"
        )
    return "\n".join(lines)


def notes(
    results: list[ScenarioResult], pgbench: PgbenchResult | None, background_cores: float | None
) -> list[str]:
    """Footnotes printed under the table."""
    cores = os.cpu_count() or 1
    out = []
    if background_cores is not None and background_cores > 0.25:
        out.append(
            f"WARNING: other work kept {background_cores:.2f} of {cores} cores busy just before "
            "the run; every figure (pgbench too) is lower than on an idle machine."
        )
    out += [
        f"The load generator, the ledger service and PostgreSQL share this machine's "
        f"{cores} cores; every figure includes the client's own CPU.",
        "pgbench row: TPC-B-like TPS, -M prepared -c 8 -j 2; p50 column is its average latency.",
        "postings/s counts transactions recorded (not calls) in the measured window; latency is "
        "per call; errors are failed calls or batch items, warm-up included.",
        "CPU columns are cores used in the measured window: service / load generator / the rest "
        "(mostly PostgreSQL).",
    ]
    if pgbench is None:
        out.append("pgbench was not run, so there are no ratios.")
    for r in results:
        fair = r.fairness
        out.append(
            f"{r.name}: {r.calls:,} calls over {r.channels} channel(s); per-client calls "
            f"{fair['min_calls']:.0f}..{fair['max_calls']:.0f}, Jain fairness {fair['jain']:.3f}; "
            f"ABORTED retries {r.retries}; p90 {r.latency_ms['p90']:.2f} ms, "
            f"max {r.latency_ms['max']:.2f} ms"
        )
        if r.db_commits_per_s:
            out.append(
                f"  ~{r.db_commits_per_s:,.0f} database commits/s (the service's own background "
                f"work included), ~{r.postings_per_s / r.db_commits_per_s:,.1f} postings per commit"
            )
        for key, count in sorted(r.errors.items()):
            out.append(f"  error {key}: {count}")
    return out


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (dataclasses allowed) as indented JSON; NaN becomes null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if hasattr(value, "__dataclass_fields__"):
            return clean(asdict(value))
        return value

    path.write_text(json.dumps(clean(payload), indent=2) + "\n")
