"""The edge bench's markdown report: settings, tables, ratios and what they mean."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Mapping, Sequence

from bench import edge_report as rep
from bench.edge_explore import JWT_LIFETIME_S
from bench.edge_report import RowResult

# Options that keep identity's key cache as the one answer, so a revoked key stops working
# within the cache's bound (change feed every 0.25 s, refusal past 0.75 s of staleness).
KEEPS_REVOCATION = ("a0", "a1", "a2", "a3", "a4", "a5", "b5")


def _settings(
    args: argparse.Namespace, context: Mapping[str, object], idle: float | None, elapsed_s: float
) -> list[str]:
    cores = os.cpu_count() or 1
    budget = (f"{args.requests} requests" if args.requests
              else f"{args.duration_s:g} s (+ {args.warmup_s:g} s warm-up)")  # fmt: skip
    return [
        f"- Machine: {cores} cores ({platform.machine()}), shared by the load generator, Envoy "
        "and every service: throughput is bounded by all of them together; the CPU columns say "
        "who spent what.",
        f"- Before the run, other work kept {idle if idle is not None else '?'} cores busy. "
        f"The whole run took {elapsed_s / 60:.1f} min.",
        f"- Each row: {args.reps} runs of {budget}, rows interleaved run by run; req/s is the "
        "median, and each run is listed. A ratio is the median of the two rows' ratios run by "
        "run (the rows of one run are minutes apart; the runs of one row are further apart).",
        f"- Load: {args.connections} connections with one request in flight each (h2load "
        f"-c {args.connections} -m 1); the Python gRPC client keeps {args.connections} calls "
        f"in flight over {args.grpc_channels} channel(s).",
        f"- Envoy 1.40 with the config `scripts/envoy_config.render` makes (ext_authz over "
        f"{context.get('authz_protocol', '?')}, JSON access log to a file flushed every second), "
        f"`--concurrency {args.envoy_concurrency}`; services: the stack's identity and ledger "
        f"(`scripts/run_stack.py`: SQLite, mTLS), one process each, logging at "
        f"{args.service_log_level}. The stack's own Envoy idles beside the bench's.",
        "- The bench key is an admin key of the platform merchant with a 100,000 req/s rate "
        "limit, made with the stack's admin key: the bootstrap admin key's default limit "
        "(1,000 req/s) would turn part of every REST row into 429s.",
        "- CPU columns: utime+stime from /proc/<pid>/stat over each run (every thread), per "
        "process group: envoy (the row's Envoy), identity, ledger (the processes serving the "
        "RPC), aux (the row's extra servers: stubs, a second Check process), loadgen (h2load, "
        "or the Python client's own CPU inside the run). cores busy: the whole machine "
        "(/proc/stat); other: busy cores none of those spent (idle Envoys and servers, the "
        "kernel, anyone else's work: above ~0.25 the run was disturbed).",
    ]


def _revocation(delays: Mapping[str, float | None]) -> list[str]:
    if not delays:
        return []
    shown = {k: "not refused within 5 s" if v is None else f"{v * 1000:.0f} ms"
             for k, v in delays.items()}  # fmt: skip
    return [
        "",
        "Revocation probe: a fresh key is revoked through the REST API; each path is then "
        "called every 10 ms until it answers 401: " + ", ".join(
            f"{k}: {v}" for k, v in shown.items()) + ". "
        f"c2 was called with a token signed for that key ({JWT_LIFETIME_S} s lifetime): "
        "jwt_authn cannot see a revocation, so its bound is the token's lifetime "
        f"({JWT_LIFETIME_S // 60} min here), unless tokens live under 1 s or Envoy is handed a "
        "deny list.",
    ]  # fmt: skip


def _recommendation(results: Sequence[RowResult]) -> list[str]:
    """The explored option that keeps the revocation bound with the best ratio, beside the
    product's own (row 1.1, against 1.2)."""
    found = rep.by_key(results)
    ratios = {key: rep.ratio_value(found, key, rep.baseline(key)) for key in KEEPS_REVOCATION}
    valid = {k: v for k, v in ratios.items() if v is not None}
    if not valid:
        return []
    best = max(valid, key=lambda k: valid[k])
    product = rep.ratio_value(found, "1.1", "1.2")
    shown = f"{product:.2f}" if product is not None else "n/a"
    return [
        "",
        f"Fastest explored option that keeps the 1 s revocation bound: **{best}** "
        f"({found[best].row.path}), {valid[best]:.2f} x REST without authorization, run by "
        f"run; the product's own ext_authz (row 1.1): {shown}.",
    ]


def render_report(
    args: argparse.Namespace,
    results: Sequence[RowResult],
    context: Mapping[str, object],
    idle: float | None,
    elapsed_s: float,
) -> str:
    main = [r for r in results if r.row.section == "main"]
    explore = [r for r in results if r.row.section != "main"]
    lines = ["# Edge benchmark (paymesh issue 4)", "", *_settings(args, context, idle, elapsed_s)]
    lines += ["", "## Rows", "", rep.rows_table(main), "", "## Ratios", "", rep.ratios_table(main)]
    if explore:
        delays = context.get("revocation")
        revocation = dict(delays) if isinstance(delays, dict) else {}
        lines += ["", "## Explore: what would make authenticated REST reach 0.8x", "",
                  rep.explore_table([*main, *explore], revocation), "",
                  rep.rows_table(explore), *_revocation(revocation),
                  *_recommendation([*main, *explore])]  # fmt: skip
    lines += ["", "## What each row changed", "", rep.notes_table(results)]
    return "\n".join(lines)
