"""The payments bench's load parts: h2load's per-request log, the window, job arguments, key
lists, and the fleet's early stop, against real files and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.edge_load import H2LOAD
from bench.payments_load import (
    Fleet,
    Job,
    Sample,
    parse_log,
    percentile,
    requests_for,
    summarize,
    write_uris,
)
from bench.payments_meter import CpuMeter, fixed

LOG = "1000000\t200\t5000\n1001000\t503\t2000\njunk line\n1002000\t-1\t100\n1003000\t200\t9000\n"


def test_an_h2load_log_row_is_start_status_and_duration_and_junk_is_skipped() -> None:
    rows = parse_log(LOG)
    assert rows[0] == Sample(1_000_000, 200, 5_000)
    assert [r.status for r in rows] == [200, 503, -1, 200]
    assert rows[-1].end_us == 1_012_000


def test_the_window_counts_the_requests_that_ended_inside_it_whenever_they_started() -> None:
    rows = parse_log(LOG)
    # Ends: 1.005, 1.003, 1.0021, 1.012 s; the window [1.003, 1.010) keeps the first three.
    window = summarize(rows, 1_003_000, 1_010_000)
    assert window.ok == 1 and window.latencies_ms == [5.0]
    assert window.errors == {"HTTP 503": 1}
    assert window.rps == pytest.approx(1 / 0.007)
    assert summarize(rows, 1_002_000, 1_003_000).errors == {"failed stream": 1}


def test_percentiles_are_nearest_rank_and_none_is_zero() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0, 99.0, 100.0,
    )  # fmt: skip
    assert percentile([7.0], 0.99) == 7.0 and percentile([], 0.5) == 0.0


def test_each_process_gets_enough_requests_to_outlast_the_step_at_the_expected_rate() -> None:
    # 100/s over 10 s across 4 processes, 15 % spare: 288 each (and 2 more).
    assert requests_for(100.0, 10.0, 4) == 290
    assert requests_for(100.0, 10.0, 4, spare=1.0) == 252
    assert requests_for(0.5, 1.0, 8) >= 2


def test_a_payment_job_sends_a_fixed_count_from_its_key_list_and_a_read_runs_for_a_time(
    tmp_path: Path,
) -> None:
    pay = Job("p0", "https://h:1/v1/payments", {"authorization": "Bearer k"}, streams=16,
              rps=12.5, uri_file=tmp_path / "u", uri_count=9, body_file=tmp_path / "b",
              requests=9)  # fmt: skip
    argv = pay.argv(3.5, tmp_path / "log")
    assert argv[0] == H2LOAD and argv[-2:] == ["-i", str(tmp_path / "u")]
    assert "-D" not in argv and argv[argv.index("-n") + 1] == "9"
    assert argv[argv.index("--rps") + 1] == "12.5000"
    assert argv[argv.index("-m") + 1] == "16" and argv[argv.index("-d") + 1] == str(tmp_path / "b")
    read = Job("r", "https://h:1/v1/me", {}, clients=4).argv(3.5, tmp_path / "log")
    # h2load takes whole units: 3.5 s is 3500ms.
    assert read[read.index("-D") + 1] == "3500ms" and read[-1] == "https://h:1/v1/me"
    assert read[read.index("-c") + 1] == "4" and "--rps" not in read


def test_a_key_list_names_the_host_first_and_every_key_once(tmp_path: Path) -> None:
    path = tmp_path / "uris"
    count = write_uris(path, "https://127.0.0.1:9", "/v1/payments", ["a-0", "a-1", "a-2"])
    lines = path.read_text().splitlines()
    assert count == 3 and lines[0] == "https://127.0.0.1:9/v1/payments?request_id=a-0"
    assert len({line.rsplit("=", 1)[1] for line in lines}) == 3


def test_a_process_that_sent_more_requests_than_it_had_keys_fails_the_step(tmp_path: Path) -> None:
    job = Job("p0", "https://h/v1/payments", {}, uri_file=tmp_path / "u", uri_count=2)
    (tmp_path / "p0.log").write_text("1\t200\t1\n2\t200\t1\n3\t200\t1\n")
    with pytest.raises(RuntimeError, match="sent 3 requests but had 2 keys"):
        Fleet([job], tmp_path).check_lists()


def test_the_window_closes_as_soon_as_the_first_process_is_done(tmp_path: Path) -> None:
    fleet = Fleet([], tmp_path)

    def sleeper(seconds: float) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])  # noqa: S603

    fleet.procs = [sleeper(0.05), sleeper(5)]
    try:
        started = time.monotonic()
        fleet.first_exit(3.0)
        assert time.monotonic() - started < 1.0
    finally:
        fleet.kill()
    assert all(p.returncode is not None for p in fleet.procs)


def test_the_meter_counts_a_process_started_inside_the_window_from_zero() -> None:
    spawned: list[int] = []
    meter = CpuMeter({"self": fixed(os.getpid()), "late": lambda: spawned})
    meter.start()
    # The child burns 0.15 s of CPU, says so, then waits to be told to exit.
    burn = ("import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.15: "
            "pass\nprint('burnt', flush=True)\nsys.stdin.read()")  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE,  # noqa: S603
                             stdout=subprocess.PIPE)  # fmt: skip
    spawned.append(child.pid)
    assert child.stdout is not None and child.stdout.readline() == b"burnt\n"
    span = meter.stop()
    child.communicate(b"")
    # Clock ticks are 10 ms: the counters may round the 0.15 s down by one.
    assert span.cpu_s["late"] >= 0.14 and span.wall_s > 0
    assert span.per_item_us("late", 10) == pytest.approx(span.cpu_s["late"] * 1e5)
    assert span.other_cores >= 0.0
