"""Where the CPU went during one step of the payments bench, process group by process group.

The groups are named lists of pids, asked for again when the window closes, because some
change while it is open: PostgreSQL starts a backend when a service's pool opens another
connection. A pid seen only at the close counts from zero (it started inside the window); a
pid gone by then loses what it spent (rare: pools keep their connections). Counters are
utime + stime of every thread (/proc/<pid>/stat), like ``bench.edge_load``.

The machine's own counters (/proc/stat) give the busy cores; "other" is what none of the
groups spent: the kernel's network work, idle processes, and whatever else shares the two
cores (other people's tests), which is why every table shows it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.edge_load import process_ticks

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")

PidSource = Callable[[], Iterable[int]]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


@dataclass
class Span:
    """CPU seconds by group over a window of ``wall_s`` seconds, and the machine's load."""

    wall_s: float
    cpu_s: dict[str, float] = field(default_factory=dict)
    busy_cores: float = 0.0

    @property
    def other_cores(self) -> float:
        """Busy cores that none of the groups account for."""
        ours = sum(self.cpu_s.values()) / self.wall_s if self.wall_s > 0 else 0.0
        return max(0.0, self.busy_cores - ours)

    def per_item_us(self, group: str, items: int) -> float:
        """CPU microseconds of ``group`` per item (payment or read); 0 for no items."""
        return self.cpu_s.get(group, 0.0) * 1e6 / items if items else 0.0

    def total_s(self) -> float:
        return sum(self.cpu_s.values())


class CpuMeter:
    """Counters of every group at ``start``; ``stop`` returns the span since."""

    def __init__(self, groups: Mapping[str, PidSource]) -> None:
        self.groups = groups
        self._start: dict[str, dict[int, int]] = {}
        self._machine = (0, 0)
        self._t0 = 0.0

    def start(self) -> None:
        self._start = {g: _ticks(src()) for g, src in self.groups.items()}
        self._machine = machine_ticks()
        self._t0 = time.monotonic()

    def stop(self) -> Span:
        wall_s = time.monotonic() - self._t0
        span = Span(wall_s)
        for group, source in self.groups.items():
            before = self._start.get(group, {})
            now = _ticks([*before, *source()])
            spent = sum(max(0, ticks - before.get(pid, 0)) for pid, ticks in now.items())
            span.cpu_s[group] = spent / _TICKS_PER_S
        busy, total = machine_ticks()
        if total > self._machine[1]:
            cores = os.cpu_count() or 1
            span.busy_cores = (busy - self._machine[0]) / (total - self._machine[1]) * cores
        return span


def _ticks(pids: Iterable[int]) -> dict[int, int]:
    """Ticks of each live pid (a pid gone reads 0 and is left out)."""
    found = {}
    for pid in set(pids):
        ticks = process_ticks(pid)
        if ticks:
            found[pid] = ticks
    return found


def fixed(*pids: int) -> PidSource:
    """A group whose pids never change."""
    frozen = tuple(p for p in pids if p)
    return lambda: frozen
