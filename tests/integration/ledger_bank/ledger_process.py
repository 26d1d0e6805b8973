"""The ledger service as a real subprocess that the bank test can SIGKILL and restart.

Each start picks a fresh free port (checked again just before the spawn), writes
the process's output to its own log file under the test's tmp_path, and returns
only once grpc.health.v1 reports SERVING.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[3]
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
SWEEP_INTERVAL_S = "0.2"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
SPAWN_ATTEMPTS = 3


def a_free_port() -> int:
    """A port the OS just handed out on 127.0.0.1 (the socket is closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_still_free(port: int) -> bool:
    """True when nothing holds the port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def a_port_that_is_still_free() -> int:
    """A free port, checked a second time just before use."""
    for _ in range(50):
        port = a_free_port()
        if port_is_still_free(port):
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1")


def ledger_environment(database_url: str, port: int) -> dict[str, str]:
    """The caller's environment without stray LEDGER_* settings, plus the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_DATABASE_URL=database_url,
        LEDGER_PLAINTEXT="1",
        LEDGER_LISTEN_ADDR=f"127.0.0.1:{port}",
        LEDGER_SWEEP_INTERVAL_S=SWEEP_INTERVAL_S,
    )
    return env


def open_log_for_writing(path: Path) -> IO[bytes]:
    """A log file the subprocess writes to (opened outside the event loop's coroutines)."""
    return path.open("wb")


def tail_of(path: Path, lines: int) -> str:
    """The last lines of a log file."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def health_is_serving(address: str) -> bool:
    """One grpc.health.v1 check of the overall service."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass
class LedgerProcess:
    """One ledger service at a time on one database; SIGKILL and restart at will."""

    database_url: str
    log_dir: Path
    address: str = ""
    starts: int = 0
    kills: int = 0
    log_paths: list[Path] = field(default_factory=list)
    startup_seconds: list[float] = field(default_factory=list)
    _proc: asyncio.subprocess.Process | None = None
    _log: IO[bytes] | None = None

    async def start(self) -> str:
        """Spawn the service on a fresh port; return its address once SERVING."""
        began = time.monotonic()
        for _ in range(SPAWN_ATTEMPTS):
            port = a_port_that_is_still_free()
            await self._spawn(port)
            if await self._serving_or_exited(f"127.0.0.1:{port}"):
                self.address = f"127.0.0.1:{port}"
                self.startup_seconds.append(time.monotonic() - began)
                return self.address
            self._close_log()
        raise RuntimeError(f"ledger did not start; last log:\n{tail_of(self.log_paths[-1], 40)}")

    async def kill(self) -> None:
        """SIGKILL the service and reap it: whatever it had in flight is cut off."""
        proc = self._running()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        self.kills += 1
        self._close_log()

    async def stop(self) -> None:
        """SIGTERM (graceful) if it still runs; SIGKILL if it does not stop in time."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            self._close_log()
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        self._close_log()

    def is_running(self) -> bool:
        """True while the current process has not exited."""
        return self._proc is not None and self._proc.returncode is None

    def log_tails(self, lines: int = 30) -> str:
        """The end of every process's log, newest last."""
        return "\n".join(f"--- {p.name}\n{tail_of(p, lines)}" for p in self.log_paths)

    def logs_containing(self, needle: str) -> list[str]:
        """Every log line (of every process) that contains needle."""
        found = []
        for path in self.log_paths:
            text = path.read_text(errors="replace") if path.exists() else ""
            found += [f"{path.name}: {line}" for line in text.splitlines() if needle in line]
        return found

    async def _spawn(self, port: int) -> None:
        self.starts += 1
        path = self.log_dir / f"ledger-{self.starts}.log"
        self.log_paths.append(path)
        self._log = open_log_for_writing(path)
        self._proc = await asyncio.create_subprocess_exec(
            str(PYTHON),
            "-m",
            "ledger_svc",
            "serve",
            cwd=REPO_ROOT,
            env=ledger_environment(self.database_url, port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def _serving_or_exited(self, address: str) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.is_running():
                return False
            if await health_is_serving(address):
                return True
            await asyncio.sleep(0.05)
        await self.kill()
        raise RuntimeError(f"ledger at {address} not SERVING after {STARTUP_TIMEOUT_S}s")

    def _running(self) -> asyncio.subprocess.Process:
        if self._proc is None or self._proc.returncode is not None:
            raise RuntimeError("the ledger process is not running")
        return self._proc

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
