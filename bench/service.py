"""The ledger service under test, run as a subprocess: start on a free port, wait, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
_SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclass
class LedgerProcess:
    """A running ``python -m ledger_svc serve`` and where it writes its log."""

    proc: asyncio.subprocess.Process
    target: str
    log_path: Path

    @property
    def pid(self) -> int:
        """The service's process id."""
        return self.proc.pid

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the service's stdout and stderr."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port that was free a moment ago: bind port 0 on loopback, read it, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def start_ledger(database_url: str, ready_timeout_s: float = 60.0) -> LedgerProcess:
    """Start the service on a fresh loopback port and return once health says SERVING."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        LEDGER_DATABASE_URL=database_url,
        LEDGER_PLAINTEXT="1",
        LEDGER_LISTEN_ADDR=f"127.0.0.1:{port}",
    )
    fd, log_name = tempfile.mkstemp(prefix="paymesh-bench-ledger-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ledger_svc", "serve",
            cwd=REPO_ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    service = LedgerProcess(proc=proc, target=f"127.0.0.1:{port}", log_path=Path(log_name))
    print(f"  ledger_svc pid {proc.pid} on {service.target}, log {log_name}")
    try:
        await _wait_serving(service, ready_timeout_s)
    except BaseException:
        await stop_ledger(service)
        raise
    return service


async def _wait_serving(service: LedgerProcess, timeout_s: float) -> None:
    started = time.monotonic()
    deadline = started + timeout_s
    last = "no answer yet"
    async with grpc.aio.insecure_channel(service.target) as channel:
        # grpc-stubs does not type HealthStub's methods; the raw method is typed.
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        while time.monotonic() < deadline:
            if service.proc.returncode is not None:
                raise RuntimeError(
                    f"ledger_svc exited with {service.proc.returncode} before it was ready; "
                    f"log tail:\n{service.log_tail()}"
                )
            try:
                reply = await check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == _SERVING:
                    print(f"  ledger_svc SERVING after {time.monotonic() - started:.1f} s")
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                last = f"{exc.code().name}: {exc.details()}"
            await asyncio.sleep(0.25)
    raise TimeoutError(
        f"ledger_svc not SERVING within {timeout_s:.0f} s (last: {last}); "
        f"log tail:\n{service.log_tail()}"
    )


async def stop_ledger(service: LedgerProcess, timeout_s: float = 30.0) -> int | None:
    """SIGTERM the service and wait for it; SIGKILL it if it outlives ``timeout_s``."""
    proc = service.proc
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            print(f"  ledger_svc ignored SIGTERM for {timeout_s:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return proc.returncode
