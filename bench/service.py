"""A service under test, run as a subprocess: start on a free port, wait, stop.

``start_ledger`` runs ``python -m ledger_svc serve``; ``start_service`` runs any module
(identity_svc, the authz bench's trivial server) and waits until it answers gRPC health.
"""

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
class ServiceProcess:
    """A running service subprocess and where it writes its log."""

    proc: asyncio.subprocess.Process
    target: str
    log_path: Path
    name: str = "ledger_svc"

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


# The ledger bench's name for it.
LedgerProcess = ServiceProcess


async def start_ledger(database_url: str, ready_timeout_s: float = 60.0) -> ServiceProcess:
    """Start the ledger on a fresh loopback port and return once health says SERVING."""
    port = free_port()
    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_PLAINTEXT": "1",
        "LEDGER_LISTEN_ADDR": f"127.0.0.1:{port}",
    }
    args = ["-m", "ledger_svc", "serve"]
    return await start_service("ledger_svc", args, env, port, ready_timeout_s)


async def start_service(
    name: str, args: list[str], env: dict[str, str], port: int, ready_timeout_s: float = 60.0
) -> ServiceProcess:
    """Run ``python *args`` with ``env`` added to ours, serving on loopback ``port``.

    Returns once gRPC health says SERVING, or answers UNIMPLEMENTED (a server without the
    health service, which is up all the same).
    """
    full_env = dict(os.environ)
    full_env.update(env)
    fd, log_name = tempfile.mkstemp(prefix=f"paymesh-bench-{name}-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args,
            cwd=REPO_ROOT, env=full_env, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    service = ServiceProcess(
        proc=proc, target=f"127.0.0.1:{port}", log_path=Path(log_name), name=name
    )
    print(f"  {name} pid {proc.pid} on {service.target}, log {log_name}")
    try:
        await _wait_serving(service, ready_timeout_s)
    except BaseException:
        await stop_service(service)
        raise
    return service


async def _wait_serving(service: ServiceProcess, timeout_s: float) -> None:
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
                    f"{service.name} exited with {service.proc.returncode} before it was ready; "
                    f"log tail:\n{service.log_tail()}"
                )
            try:
                reply = await check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == _SERVING:
                    print(f"  {service.name} SERVING after {time.monotonic() - started:.1f} s")
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    print(f"  {service.name} answering after {time.monotonic() - started:.1f} s")
                    return
                last = f"{exc.code().name}: {exc.details()}"
            await asyncio.sleep(0.25)
    raise TimeoutError(
        f"{service.name} not SERVING within {timeout_s:.0f} s (last: {last}); "
        f"log tail:\n{service.log_tail()}"
    )


async def stop_service(service: ServiceProcess, timeout_s: float = 30.0) -> int | None:
    """SIGTERM the service and wait for it; SIGKILL it if it outlives ``timeout_s``."""
    proc = service.proc
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            print(f"  {service.name} ignored SIGTERM for {timeout_s:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return proc.returncode


stop_ledger = stop_service
