"""The payments bench's figures: settled rates, the targets, CPU per payment, the profile."""

from __future__ import annotations

import dataclasses

from bench.payments_callbacks import CallbackState
from bench.payments_load import Window
from bench.payments_meter import Span
from bench.payments_pg import OutboxState
from bench.payments_profile import frame_name, parse, tables
from bench.payments_report import Outcome, cpu_table, dominant, steps_table, targets_table
from bench.payments_steps import StepResult

SECOND_US = 1_000_000


def _result(key: str, kind: str, ok: int, latencies_ms: list[float], *,
            backlog: int = 0, cpu_s: dict[str, float] | None = None,
            target_rps: float = 0.0) -> StepResult:  # fmt: skip
    window = Window(0, 2 * SECOND_US, ok=ok, latencies_ms=sorted(latencies_ms))
    span = Span(2.0, cpu_s or {}, busy_cores=1.9)
    outbox = (OutboxState(5, 100, 0), OutboxState(5 + backlog, 200, 0))
    return StepResult(key, kind, f"{key} load", 4, window, span, target_rps, outbox=outbox,
                      items_per_payment=3.0)  # fmt: skip


def test_the_settled_rate_takes_away_the_payments_the_outbox_fell_behind_on() -> None:
    # 200 replies in 2 s, and 60 outbox items (20 payments' worth) more pending at the end.
    result = _result("pay-c4", "closed", 200, [10.0] * 200, backlog=60)
    assert result.window.rps == 100.0
    assert result.settled_rps == 90.0
    assert _result("read-me", "read", 200, [1.0] * 200, backlog=60).settled_rps == 100.0


def test_with_callbacks_the_settled_rate_follows_whichever_backlog_is_further_behind() -> None:
    # 200 replies in 2 s; the outbox fell 10 payments behind (30 items), the sandbox's
    # callbacks 40 payments behind (80 callbacks at 2 each): 40 payments in 2 s is 20/s.
    result = _result("pay-c16", "closed", 200, [10.0] * 200, backlog=30)
    late = dataclasses.replace(
        result,
        callbacks=(CallbackState(pending=5, finished=100), CallbackState(85, 150)),
        callbacks_per_payment=2.0,
    )
    assert (result.settled_rps, late.settled_rps) == (95.0, 80.0)
    assert "+30 (0.0); callbacks +80" in steps_table([late])


def test_the_targets_say_met_or_missed_against_the_issues_numbers() -> None:
    best = _result("pay-c8", "closed", 1200, [20.0] * 1200)  # 600/s
    half = _result("pay-half", "open", 600, [10.0] * 594 + [150.0] * 6, target_rps=300)
    read = _result("read-me", "read", 4000, [2.0] * 4000)  # 2000/s
    lines = targets_table(Outcome(best, half, read)).splitlines()
    assert "600.0 | met" in lines[2]
    assert "0.300 (600.0 / 2,000 reads/s) | met" in lines[3]
    # The 99th percentile of 600 is the 594th value: still 10 ms.
    assert "p99 10.0 ms | met" in lines[4]
    slow = _result("pay-c1", "closed", 100, [40.0] * 100)  # 50/s
    missed = targets_table(Outcome(slow, None, read))
    assert missed.count("MISSED") == 2 and "half" not in missed


def test_cpu_per_payment_and_the_ceiling_it_sets_on_two_cores() -> None:
    cpu = {"gateway": 4.0, "identity": 1.0, "postgres": 1.0, "loadgen": 0.0}
    result = _result("pay-c4", "closed", 200, [10.0] * 200, cpu_s=cpu)
    row = cpu_table([result]).splitlines()[2]
    # 6 CPU seconds over 200 payments: 30 ms each, so 2 cores hold at most ~67/s.
    assert "| 20,000 |" in row and row.endswith("| 30,000 | 67 |")
    assert dominant(result).startswith("At pay-c4, one payment cost 30.0 ms of CPU")
    assert "gateway 20.0 ms (67%)" in dominant(result)
    assert "| pay-c4 | pay-c4 load | 100.0 | 100.0 | 10.0 | 10.0 | 0 | +0 (0.0) |" in steps_table(
        [result]
    )


def test_frames_lose_their_line_numbers_and_name_their_package() -> None:
    assert frame_name("execute (psycopg/cursor_async.py:113)") == (
        "execute (psycopg/cursor_async.py)", "psycopg",
    )  # fmt: skip
    assert frame_name("run (threading.py:982)")[1] == "threading"
    assert frame_name("garbage") == ("garbage", "?")


def test_a_profile_counts_self_time_by_leaf_and_our_functions_once_per_stack() -> None:
    raw = [
        "main (gateway_svc/__main__.py:9);flow (gateway_svc/service_layer/f.py:1);"
        "flow (gateway_svc/service_layer/f.py:2);send (psycopg/c.py:3) 30\n",
        "main (gateway_svc/__main__.py:9);loop (asyncio/base_events.py:5) 10\n",
        "not a stack line\n",
    ]
    profile = parse(raw, seconds=1.0)
    assert profile.samples == 40
    assert profile.by_package == {"psycopg": 30, "asyncio": 10}
    assert profile.by_self["send (psycopg/c.py)"] == 30
    # Recursion (flow twice on one stack) counts once.
    assert profile.by_ours["flow (gateway_svc/service_layer/f.py)"] == 30
    assert profile.by_ours["main (gateway_svc/__main__.py)"] == 40
    text = tables(profile)
    assert "| psycopg | 75.0% |" in text and text.startswith("40 samples at 100 Hz over 1 s.")
