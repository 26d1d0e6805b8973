"""Where the CPU went during a scenario: the machine, the service, the load generator.

Everything shares one machine (ledger.md: 2 cores), so a throughput figure means little
without knowing whether the CPU was full and who used it. Linux /proc only; elsewhere the
split is simply absent.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU counters at one moment, in clock ticks."""

    machine_busy: int
    machine_total: int
    service: int
    bench: int


def snapshot(service_pid: int | None) -> CpuSnapshot | None:
    """Read the counters now, or None when /proc is not there."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(value) for value in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return CpuSnapshot(
        machine_busy=sum(ticks) - idle,
        machine_total=sum(ticks),
        service=_process_ticks(service_pid) if service_pid else 0,
        bench=_process_ticks(os.getpid()),
    )


def _process_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name is in parentheses and may hold spaces; fields resume after it.
    after = stat.rsplit(")", 1)[1].split()
    return int(after[11]) + int(after[12])  # utime + stime


def split(before: CpuSnapshot | None, after: CpuSnapshot | None) -> dict[str, float]:
    """CPU use between two snapshots, in cores: total busy, service, bench, the rest.

    "rest" is mostly PostgreSQL (its backends, WAL writer and checkpointer).
    """
    if before is None or after is None:
        return {}
    total = after.machine_total - before.machine_total
    if total <= 0:
        return {}
    cores = os.cpu_count() or 1
    wall_s = total / _TICKS_PER_S / cores
    busy = (after.machine_busy - before.machine_busy) / _TICKS_PER_S / wall_s
    service = (after.service - before.service) / _TICKS_PER_S / wall_s
    bench = (after.bench - before.bench) / _TICKS_PER_S / wall_s
    return {
        "cores": float(cores),
        "busy_cores": round(busy, 2),
        "service_cores": round(service, 2),
        "bench_cores": round(bench, 2),
        "rest_cores": round(max(0.0, busy - service - bench), 2),
    }


def background_busy_cores(seconds: float = 1.0) -> float | None:
    """Cores busy over the next ``seconds`` before the bench loads the machine: other work."""
    before = snapshot(None)
    time.sleep(seconds)
    measured = split(before, snapshot(None))
    return measured.get("busy_cores")
