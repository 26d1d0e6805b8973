"""The edge bench's load runs: h2load or the gRPC load generator, with the CPU each process used.

One run is one repetition of one row: CPU counters of every process that matters are read
before and after it (/proc/<pid>/stat utime+stime, all threads), so the table can say where
the cost went: Envoy, identity, the ledger, the auxiliary servers a row adds, the load
generator, and the machine as a whole (/proc/stat).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

H2LOAD = "/usr/bin/h2load"
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_FINISHED = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout"
)
_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
_RPC_LINE = re.compile(r"^rpc_requests_total\{(?P<labels>[^}]*)\} (?P<value>[\d.e+]+)$", re.M)


@dataclass(frozen=True)
class Budget:
    """How long one run lasts: seconds, or a number of requests (the tests' tiny mode)."""

    duration_s: float = 0.0
    requests: int = 0

    def h2load_args(self) -> list[str]:
        return ["-D", f"{self.duration_s:g}"] if self.duration_s > 0 else ["-n", str(self.requests)]

    def grpcload_args(self) -> list[str]:
        if self.duration_s > 0:
            return ["--duration-s", f"{self.duration_s:g}"]
        return ["--requests", str(self.requests)]


@dataclass
class Run:
    """One repetition: throughput, failures, and CPU seconds by process group."""

    requests: int
    ok: int
    wall_s: float
    errors: dict[str, int] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    busy_cores: float = 0.0
    other_cores: float = 0.0
    """Busy cores not spent by the measured processes nor the load generator: the rest of
    the machine (idle Envoys and servers, the kernel's softirqs, anyone else's work)."""
    cut: int = 0
    """Requests h2load had in flight when its duration ended, cut short by design."""

    @property
    def rps(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0


def process_ticks(pid: int) -> int:
    """utime + stime of ``pid`` and all its threads, in clock ticks; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    after = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return int(after[11]) + int(after[12])


def _machine() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


@dataclass
class CpuWindow:
    """CPU counters of named process groups, read at the start of a run."""

    groups: Mapping[str, Sequence[int]]
    start: dict[str, int] = field(default_factory=dict)
    machine: tuple[int, int] = (0, 0)
    children_s: float = 0.0

    def __post_init__(self) -> None:
        self.start = {g: sum(process_ticks(p) for p in pids) for g, pids in self.groups.items()}
        self.machine = _machine()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children_s = usage.ru_utime + usage.ru_stime

    def close(self, run: Run, loadgen_cpu_s: float | None = None) -> Run:
        """Fill ``run``'s CPU from the counters now.

        The load generator's column is its own CPU inside the run when it reports it (the
        Python client), else what the reaped child used (h2load, whose start costs nothing).
        """
        for group, pids in self.groups.items():
            ticks = sum(process_ticks(p) for p in pids) - self.start[group]
            run.cpu_s[group] = ticks / _TICKS_PER_S
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        reaped_s = usage.ru_utime + usage.ru_stime - self.children_s
        run.cpu_s["loadgen"] = loadgen_cpu_s if loadgen_cpu_s is not None else reaped_s
        busy, total = _machine()
        cores = os.cpu_count() or 1
        if total > self.machine[1]:
            wall_s = (total - self.machine[1]) / _TICKS_PER_S / cores
            run.busy_cores = (busy - self.machine[0]) / (total - self.machine[1]) * cores
            ours_s = sum(v for k, v in run.cpu_s.items() if k != "loadgen") + reaped_s
            run.other_cores = max(0.0, run.busy_cores - ours_s / wall_s)
        return run


def h2load(
    url: str,
    headers: Mapping[str, str],
    budget: Budget,
    connections: int,
    data_file: Path | None = None,
) -> Run:
    """h2load with ``connections`` connections, one stream in flight on each."""
    argv = [H2LOAD, "-c", str(connections), "-m", "1", "-t", "1", *budget.h2load_args()]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if data_file is not None:
        argv += ["-d", str(data_file)]
    timeout = (budget.duration_s or 60.0) + 60.0
    done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=timeout)  # noqa: S603
    return parse_h2load(done.stdout, done.stderr, done.returncode)


def parse_h2load(out: str, err: str, returncode: int) -> Run:
    """The numbers of h2load's summary; every non-2xx reply counts as an error."""
    finished, counts, status = _FINISHED.search(out), _REQUESTS.search(out), _STATUS.search(out)
    if returncode != 0 or not (finished and counts and status):
        raise RuntimeError(f"h2load failed ({returncode}):\n{out[-2000:]}\n{err[-2000:]}")
    value, unit = float(finished.group(1)), finished.group(2)
    wall_s = value / 1000 if unit == "ms" else value
    started, done, failed, errored, timeouts = (int(counts.group(i)) for i in (2, 3, 5, 6, 7))
    ok_2xx = int(status.group(1))
    errors = {
        "failed": failed,
        "errored": errored,
        "timeout": timeouts,
        "3xx": int(status.group(2)),
        "4xx": int(status.group(3)),
        "5xx": int(status.group(4)),
    }
    return Run(done, ok_2xx, wall_s, {k: v for k, v in errors.items() if v}, cut=started - done)


def grpcload(
    target: str,
    method: str,
    request: bytes,
    budget: Budget,
    *,
    concurrency: int,
    channels: int,
    metadata: Mapping[str, str] | None = None,
    tls: tuple[Path, Path, Path] | None = None,
) -> tuple[Run, float]:
    """``bench.edge_grpcload`` in a subprocess: the run, and the generator's own CPU seconds.

    ``tls`` is (CA, certificate, key): mTLS; None: plaintext.
    """
    argv = [
        sys.executable, "-m", "bench.edge_grpcload", "--target", target, "--method", method,
        "--request-hex", request.hex(), "--concurrency", str(concurrency),
        "--channels", str(channels), *budget.grpcload_args(),
    ]  # fmt: skip
    for name, value in (metadata or {}).items():
        argv += ["--metadata", f"{name}={value}"]
    if tls is not None:
        argv += ["--ca", str(tls[0]), "--cert", str(tls[1]), "--key", str(tls[2])]
    timeout = (budget.duration_s or 60.0) + 60.0
    cwd = Path(__file__).resolve().parent.parent
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"edge_grpcload failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    run = Run(int(result["calls"]), int(result["ok"]), float(result["wall_s"]), result["errors"])
    return run, float(result["cpu_s"])


def grpc_codes(metrics_port: int, method: str) -> Counter[str]:
    """rpc_requests_total of ``method`` by gRPC code, from a service's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5.0).text
    codes: Counter[str] = Counter()
    for match in _RPC_LINE.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        if labels.get("method") == method:
            codes[labels.get("code", "?")] += int(float(match.group("value")))
    return codes


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed): what h2load posts as the body."""
    return b"\x00" + len(message).to_bytes(4, "big") + message
