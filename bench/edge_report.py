"""The edge bench's results: medians per row, the ratios against their targets, markdown."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.edge_load import Run
from bench.edge_plan import GROUPS, Row

TARGET = 0.8
_COLUMNS = (*GROUPS, "loadgen")


@dataclass
class RowResult:
    """Every run of one row."""

    row: Row
    runs: list[Run] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs) if self.runs else 0.0

    @property
    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for run in self.runs:
            total.update(run.errors)
        return total

    def cpu_s(self, group: str) -> float:
        """Median CPU seconds of ``group`` per run."""
        return statistics.median(r.cpu_s.get(group, 0.0) for r in self.runs)

    def us_per_request(self, group: str) -> float:
        """Median CPU microseconds of ``group`` per successful request."""
        return statistics.median(
            r.cpu_s.get(group, 0.0) * 1e6 / r.ok if r.ok else 0.0 for r in self.runs
        )

    @property
    def busy_cores(self) -> float:
        return statistics.median(r.busy_cores for r in self.runs)

    @property
    def other_cores(self) -> float:
        return statistics.median(r.other_cores for r in self.runs)


@dataclass(frozen=True)
class Ratio:
    """``numerator`` row's req/s over ``denominator``'s; ``target`` when the issue sets one."""

    name: str
    numerator: str
    denominator: str
    target: float | None = None


MAIN_RATIOS = (
    Ratio("WhoAmI: authenticated REST / unauthenticated REST", "1.1", "1.2", TARGET),
    Ratio("GetAccount: authenticated REST / unauthenticated REST", "4.1", "4.2", TARGET),
    Ratio("WhoAmI: REST via Envoy (authenticated) / direct gRPC mTLS", "1.1", "1.3b", TARGET),
    Ratio("WhoAmI: REST via Envoy (authenticated) / direct gRPC plaintext", "1.1", "1.3a", TARGET),
    Ratio("WhoAmI: REST via Envoy (no authorization) / direct gRPC mTLS", "1.2", "1.3b"),
    Ratio("GetAccount: REST via Envoy (authenticated) / direct gRPC mTLS", "4.1", "4.3b", TARGET),
    Ratio("GetAccount: REST via Envoy (authenticated) / direct gRPC plaintext", "4.1", "4.3a",
          TARGET),
    Ratio("GetAccount: REST via Envoy (no authorization) / direct gRPC mTLS", "4.2", "4.3b"),
    Ratio("GetAccount: pass-through :internal / direct", "5a", "4.3b"),
    Ratio("WhoAmI: pass-through :internal / direct", "5b", "5b-direct"),
)  # fmt: skip
_BASELINES = {"a1": "a1-noauth", "p1": "p1-direct", "1.1": "1.2", "5b": "5b-direct"}


def baseline(key: str) -> str:
    """The row an explore row is compared with: its section's baseline, run just before."""
    if key in _BASELINES:
        return _BASELINES[key]
    return "p0-direct" if key.startswith("p") else f"{key[0]}0-noauth"


def by_key(results: Sequence[RowResult]) -> dict[str, RowResult]:
    return {r.row.key: r for r in results}


def ratio_value(results: dict[str, RowResult], numerator: str, denominator: str) -> float | None:
    """The median, over runs, of the two rows' req/s ratio within the same run.

    Pairing runs cancels what changed on the machine between one run and the next (the
    rows of one run are minutes apart at most; the runs of one row can be a quarter of an
    hour apart), which a ratio of the two medians would not.
    """
    num, den = results.get(numerator), results.get(denominator)
    if num is None or den is None:
        return None
    pairs = [n.rps / d.rps for n, d in zip(num.runs, den.runs, strict=True) if d.rps > 0]
    return statistics.median(pairs) if pairs else None


def _cells(result: RowResult) -> tuple[str, str]:
    seconds = " / ".join(f"{result.cpu_s(g):.2f}" for g in _COLUMNS)
    micro = " / ".join(f"{result.us_per_request(g):.0f}" for g in _COLUMNS)
    return seconds, micro


def rows_table(results: Sequence[RowResult]) -> str:
    """One markdown line per row: req/s (median and each run), errors, CPU by process."""
    head = ("| # | RPC | path | load | req/s (median) | each run | errors | CPU s per run: "
            "envoy / identity / ledger / aux / loadgen | CPU µs per request (same order) "
            "| cores busy / other |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for r in results:
        runs = ", ".join(f"{run.rps:,.0f}" for run in r.runs)
        errors = sum(r.errors.values())
        seconds, micro = _cells(r)
        lines.append(
            f"| {r.row.key} | {r.row.rpc} | {r.row.path} | {r.row.tool} | {r.rps:,.0f} | {runs} "
            f"| {errors} | {seconds} | {micro} | {r.busy_cores:.2f} / {r.other_cores:.2f} |"
        )
    return "\n".join(lines)


def ratios_table(results: Sequence[RowResult]) -> str:
    found = by_key(results)
    lines = ["| ratio | rows | value | target |", "|---|---|---|---|"]
    for ratio in MAIN_RATIOS:
        value = ratio_value(found, ratio.numerator, ratio.denominator)
        shown = f"{value:.2f}" if value is not None else "n/a"
        target = (
            ""
            if ratio.target is None
            else f">= {ratio.target:.1f}: "
            + ("met" if value is not None and value >= ratio.target else "MISSED")
        )
        lines.append(f"| {ratio.name} | {ratio.numerator} / {ratio.denominator} | {shown} "
                     f"| {target} |")  # fmt: skip
    return "\n".join(lines)


def explore_table(results: Sequence[RowResult], revocation: dict[str, float | None]) -> str:
    """Each option against its baseline (the same REST path without authorization, or the
    direct call), with the CPU per request of Envoy and of the Python processes on it."""
    found = by_key(results)
    lines = [
        "| # | option | req/s | ratio | vs | CPU µs/req: envoy | identity | aux "
        "| revocation seen after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        key = r.row.key
        if key.endswith(("-noauth", "-direct")) or (r.row.section == "main" and key != "1.1"):
            continue
        against = baseline(key)
        value = ratio_value(found, key, against)
        shown = f"{value:.2f}" if value is not None else "n/a"
        micro = " | ".join(f"{r.us_per_request(g):,.0f}" for g in ("envoy", "identity", "aux"))
        lines.append(f"| {key} | {r.row.path} | {r.rps:,.0f} | {shown} | {against} | {micro} "
                     f"| {_seen(revocation, key)} |")  # fmt: skip
    return "\n".join(lines)


def _seen(revocation: dict[str, float | None], key: str) -> str:
    if key not in revocation:
        return ""
    delay = revocation[key]
    return "not refused within 5 s" if delay is None else f"{delay * 1000:.0f} ms"


def notes_table(results: Sequence[RowResult]) -> str:
    """What each row changed, in words."""
    lines = ["| # | how |", "|---|---|"]
    lines += [f"| {r.row.key} | {r.row.note} |" for r in results if r.row.note]
    return "\n".join(lines)
