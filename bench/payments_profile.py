"""A py-spy profile of the gateway under load, boiled down to the functions that cost most.

``py-spy record --format raw`` writes one collapsed stack per line with its sample count;
idle threads are not sampled, so the samples are where the gateway's Python was on CPU (a
C call counts for the Python frame that made it). Three views come out of it:

- by package: the leaf frame's top-level package (psycopg, sqlalchemy, grpc, asyncio...), the
  bluntest answer to "what is it doing";
- by function, self: the leaf frames;
- by gateway function, inclusive: every gateway_svc frame on a stack, each counted once per
  stack, which says which use-case step the cost belongs to.

The profile runs in a step of its own so that py-spy's sampling never touches a measured row.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

RATE_HZ = 100
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^():]+)(?::\d+)?\)$")
_OURS = ("gateway_svc", "svc_kit")


@dataclass
class Profile:
    """Sample counts of one recording."""

    seconds: float
    samples: int = 0
    by_package: Counter[str] = field(default_factory=Counter)
    by_self: Counter[str] = field(default_factory=Counter)
    by_ours: Counter[str] = field(default_factory=Counter)

    def share(self, n: int) -> float:
        return n / self.samples if self.samples else 0.0


def frame_name(frame: str) -> tuple[str, str]:
    """("func (path)", top-level package) of one frame, line numbers dropped."""
    found = _FRAME.match(frame)
    if not found:
        return frame or "?", "?"
    path = found["path"]
    top = path.split("/", 1)[0]
    package = top.removesuffix(".py") if top.endswith(".py") else top
    return f"{found['func']} ({path})", package


def parse(lines: Iterable[str], seconds: float) -> Profile:
    """A ``Profile`` of py-spy's raw (collapsed) output."""
    profile = Profile(seconds)
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";")]
        profile.samples += n
        leaf, package = frames[-1]
        profile.by_self[leaf] += n
        profile.by_package[package] += n
        for name in {name for name, pkg in frames if pkg in _OURS}:
            profile.by_ours[name] += n
    return profile


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` for ``seconds`` (it does not pause the process)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    argv = [str(py_spy), "record", "--pid", str(pid), "--duration", f"{max(1, round(seconds))}",
            "--rate", str(RATE_HZ), "--format", "raw", "--nonblocking", "-o", str(out)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def finish(proc: subprocess.Popen[bytes], out: Path, seconds: float) -> Profile:
    """Wait for the recording; its profile. Raises RuntimeError when py-spy failed."""
    _, err = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"py-spy exited {proc.returncode}: {err.decode(errors='replace')[-800:]}"
        )
    with out.open() as lines:
        return parse(lines, max(1, round(seconds)))


def tables(profile: Profile, top: int = 12) -> str:
    """The three views as markdown."""
    lines = [f"{profile.samples:,} samples at {RATE_HZ} Hz over {profile.seconds:g} s. Only "
             "threads running Python are sampled: work in C outside any Python frame (gRPC "
             "core's own threads, libpq's I/O) is not in these shares, so they split the "
             "gateway's Python time, not all of its CPU.", "",
             "| package (leaf frame) | share |", "|---|---|"]  # fmt: skip
    lines += [
        f"| {pkg} | {profile.share(n):.1%} |" for pkg, n in profile.by_package.most_common(top)
    ]
    lines += ["", "| function (self) | share |", "|---|---|"]
    lines += [
        f"| `{name}` | {profile.share(n):.1%} |" for name, n in profile.by_self.most_common(top)
    ]
    lines += ["", "| gateway_svc / svc_kit function (inclusive) | share |", "|---|---|"]
    lines += [f"| `{name}` | {profile.share(n):.1%} |"
              for name, n in profile.by_ours.most_common(top + 8)]  # fmt: skip
    return "\n".join(lines)
