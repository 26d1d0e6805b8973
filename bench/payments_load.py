"""The payments bench's load: h2load processes, their per-request logs, and latency figures.

Every payment needs its own idempotency key, and h2load sends one fixed body (``-d``) and
cycles one URI list *per client* from its first line ("URIs are used in this order for each
client"), so two clients of one h2load process would send the same keys. The key therefore
travels in the query string (``POST /v1/payments?request_id=...``: Envoy's transcoder binds
the query parameter even with ``body: "*"``), and each connection is an h2load process of its
own (``-c 1``) with its own list of distinct URIs. A process that sends more requests than
its list holds would replay keys, so ``Fleet.check_lists`` refuses such a run.

Payment jobs send a fixed number of requests (``-n``) rather than run for a duration: h2load
resets the streams still in flight when a duration ends, Envoy then cancels those calls, and
a payment cancelled mid-flight is left to the gateway's completer once its idempotency key's
lock times out (90 s), not CAPTURED when the check looks. With ``-n`` every request is
answered, each process stops on its own, and the measured window closes no later than the
first process to finish (``Fleet.first_exit``). Reads, which change nothing, run for a
duration.

Latency and throughput come from h2load's ``--log-file`` (start time, status, duration of
every request), cut to the measured window, so the warm-up and the wind-down never count.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.edge_load import H2LOAD

_EXIT_GRACE_S = 30.0


@dataclass(frozen=True)
class Sample:
    """One request of an h2load log: when it started, its status (-1: the stream failed)
    and how long it took."""

    start_us: int
    status: int
    duration_us: int

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us


def parse_log(text: str) -> list[Sample]:
    """The rows of an h2load ``--log-file`` (tab-separated; later columns are ignored)."""
    samples = []
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) >= 3 and cols[0].isdigit():
            samples.append(Sample(int(cols[0]), int(cols[1]), int(cols[2])))
    return samples


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@dataclass
class Window:
    """What the requests that ended inside [start_us, end_us) add up to."""

    start_us: int
    end_us: int
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.end_us - self.start_us) / 1e6

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)


def summarize(samples: Sequence[Sample], start_us: int, end_us: int) -> Window:
    """Successes (2xx), failures by status and 2xx latencies of the requests that ended in
    the window: the requests a server finished in that time, whenever they were sent."""
    window = Window(start_us, end_us)
    for s in samples:
        if not start_us <= s.end_us < end_us:
            continue
        if 200 <= s.status < 300:
            window.ok += 1
            window.latencies_ms.append(s.duration_us / 1000)
        else:
            label = "failed stream" if s.status < 0 else f"HTTP {s.status}"
            window.errors[label] = window.errors.get(label, 0) + 1
    window.latencies_ms.sort()
    return window


@dataclass(frozen=True)
class Job:
    """One h2load process: its clients, streams, optional rate, what it sends and logs."""

    name: str
    url: str
    """The target (ignored by h2load when ``uri_file`` is given, which names it again)."""
    headers: Mapping[str, str]
    clients: int = 1
    streams: int = 1
    rps: float = 0.0
    """Requests per second per client (h2load --rps); 0: as fast as answers come back."""
    uri_file: Path | None = None
    uri_count: int = 0
    body_file: Path | None = None
    requests: int = 0
    """Requests to send, then stop once all are answered; 0: run for the fleet's duration."""

    def argv(self, seconds: float, log_file: Path) -> list[str]:
        budget = (
            ["-n", str(self.requests)] if self.requests else ["-D", f"{round(seconds * 1000)}ms"]
        )
        argv = [H2LOAD, "-t", "1", "-c", str(self.clients), "-m", str(self.streams), *budget,
                "--log-file", str(log_file)]  # fmt: skip
        if self.rps > 0:
            argv += ["--rps", f"{self.rps:.4f}"]
        for name, value in self.headers.items():
            argv += ["-H", f"{name}: {value}"]
        if self.body_file is not None:
            argv += ["-d", str(self.body_file)]
        return [*argv, "-i", str(self.uri_file)] if self.uri_file else [*argv, self.url]


@dataclass
class Fleet:
    """Running h2load processes (``start``), then their logs and exit (``finish``)."""

    jobs: Sequence[Job]
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    sent: int = 0
    """Requests every process sent (its log rows), including the warm-up and the tail."""

    def start(self, seconds: float) -> None:
        for job in self.jobs:
            out = (self.workdir / f"{job.name}.out").open("wb")
            argv = job.argv(seconds, self._log(job))
            self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))  # noqa: S603
            out.close()

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def first_exit(self, timeout_s: float, poll_s: float = 0.02) -> None:
        """Return after ``timeout_s``, or as soon as any process has exited."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                return
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def _log(self, job: Job) -> Path:
        return self.workdir / f"{job.name}.log"

    def finish(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` (and a grace) for every process, killing stragglers, then
        read the logs."""
        deadline = time.monotonic() + timeout_s + _EXIT_GRACE_S
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        failed = [
            (j, p.returncode) for j, p in zip(self.jobs, self.procs, strict=True) if p.returncode
        ]
        if failed:
            job, code = failed[0]
            tail = (self.workdir / f"{job.name}.out").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"h2load {job.name} exited {code}:\n{tail}")
        for job in self.jobs:
            rows = parse_log(self._log(job).read_text())
            self.samples += rows
            self.sent += len(rows)
        self.check_lists()

    def check_lists(self) -> None:
        """Refuse a run in which a process went past its URI list: it sent a key twice."""
        for job in self.jobs:
            if job.uri_file is None:
                continue
            rows = sum(1 for _ in self._log(job).open())
            if rows > job.uri_count:
                raise RuntimeError(f"h2load {job.name} sent {rows} requests but had "
                                   f"{job.uri_count} keys")  # fmt: skip

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def write_uris(path: Path, base_url: str, path_prefix: str, keys: Sequence[str]) -> int:
    """One ``<base><path>?request_id=<key>`` per line (the first line names the host h2load
    dials; the others only their paths matter); the number of lines."""
    lines = [f"{base_url}{path_prefix}?request_id={key}" for key in keys]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def requests_for(rate_rps: float, seconds: float, processes: int, spare: float = 1.15) -> int:
    """Requests each of ``processes`` sends so that, at ``rate_rps`` in all, they outlast
    ``seconds`` by ``spare`` (a closed loop's rate is an estimate; a fixed rate is exact)."""
    return math.ceil(rate_rps * seconds * spare / max(1, processes)) + 2
