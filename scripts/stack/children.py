"""Child processes: their output shown with a name prefix, their last lines kept.

Each child runs in a session of its own, so Ctrl-C in the terminal reaches only
the supervisor, which then stops Envoy first and the services after it; if
the terminal's SIGINT reached every process at once, that order would be lost.
Where util-linux's setpriv exists, each child is also told to receive SIGTERM
when the supervisor dies (PR_SET_PDEATHSIG), so even a supervisor killed with
SIGKILL leaves no process behind holding a port. setpriv execs the command,
so the pid the supervisor holds is the service's own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shutil
import signal
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

TAIL_LINES = 20
_STREAM_LIMIT = 1 << 20  # one log line with a long traceback must not end the pump
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


class Console:
    """Prints children's lines and the supervisor's own, aligned on one column."""

    def __init__(self, out: TextIO = sys.stdout, me: str = "stack") -> None:
        self._out = out
        self._me = me
        self._width = len(me)

    def reserve(self, names: Iterable[str]) -> None:
        """Widen the name column for ``names``."""
        self._width = max(self._width, *(len(n) for n in names))

    def line(self, name: str, text: str) -> None:
        self._out.write(f"{name:>{self._width}} | {text.rstrip()}\n")
        self._out.flush()

    def say(self, text: str) -> None:
        """A line of the supervisor's own."""
        for one in text.splitlines() or [""]:
            self.line(self._me, one)

    def raw(self, text: str) -> None:
        """Lines without a prefix, so they can be copied and pasted."""
        self._out.write(text.rstrip("\n") + "\n")
        self._out.flush()


def describe_exit(returncode: int) -> str:
    """ "exit code 3" or "killed by SIGKILL"."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Child:
    """One child process, from start to reaped."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: Path,
        console: Console,
        shown: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._env = dict(env)
        self._cwd = cwd
        self._console = console
        self._shown = shown
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.stopping = False
        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} was never started"
        return self._proc.pid

    @property
    def started(self) -> bool:
        """True once ``start`` has run (the process may have ended since)."""
        return self._proc is not None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped; None while running or never started."""
        return None if self._proc is None else self._proc.returncode

    async def start(self) -> None:
        argv = self.argv
        if _SETPRIV is not None:
            argv = [_SETPRIV, "--pdeathsig", "TERM", "--", *argv]
        self._proc = await asyncio.create_subprocess_exec(
            *argv,
            env=self._env,
            cwd=self._cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=_STREAM_LIMIT,
        )
        assert self._proc.stdout is not None
        self._pump = asyncio.create_task(self._read(self._proc.stdout), name=f"pump-{self.name}")

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: take what is buffered
                raw = await stream.read(_STREAM_LIMIT)
            if not raw:
                return
            text = raw.decode(errors="replace").rstrip("\n")
            self.tail.append(text)
            if self._shown:
                self._console.line(self.name, text)

    async def wait(self) -> int:
        """The exit status, once the process is reaped and its output read to the end."""
        assert self._proc is not None and self._pump is not None
        returncode = await self._proc.wait()
        # The pump ends at EOF, which a grandchild holding the pipe could delay forever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._pump), timeout=1.0)
        return returncode

    def send(self, sig: signal.Signals) -> None:
        if self.running:
            assert self._proc is not None
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    async def stop(self, grace_s: float, force: asyncio.Event | None = None) -> bool:
        """SIGTERM, then SIGKILL after ``grace_s`` (or when ``force`` is set).

        True when the process ended on its own within the grace.
        """
        self.stopping = True
        if self._proc is None:
            return True
        self.send(signal.SIGTERM)
        waiter = asyncio.ensure_future(self._proc.wait())
        forced = asyncio.ensure_future(force.wait() if force else asyncio.sleep(grace_s))
        done, _ = await asyncio.wait(
            {waiter, forced}, timeout=grace_s, return_when="FIRST_COMPLETED"
        )
        forced.cancel()
        clean = waiter in done
        if not clean:
            self.send(signal.SIGKILL)
        await waiter
        if self._pump is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._pump), timeout=1.0)
        return clean


async def run_once(child: Child) -> int:
    """Start ``child`` and wait for it to end; if the caller is cancelled, kill it first."""
    await child.start()
    try:
        return await child.wait()
    except asyncio.CancelledError:
        await child.stop(grace_s=2.0)
        raise
