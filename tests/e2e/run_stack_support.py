"""The real `make run` supervisor (scripts/run_stack.py) as a subprocess, for e2e tests.

Every listener is on port 0 and every file under the test's own directory, so
tests never race for a port, nor share a var/ with a developer's stack. A test
learns where things are only from stack.json, as any tool would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_STACK = REPO_ROOT / "scripts" / "run_stack.py"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


@dataclass
class StackRun:
    """One supervisor process and the files it writes."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    stack_file: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def info(self) -> dict[str, Any]:
        """stack.json as it is now."""
        content: dict[str, Any] = json.loads(self.stack_file.read_text())
        return content

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
        """stack.json once the supervisor has written it (it does so only when ready)."""
        deadline = time.monotonic() + timeout_s
        while not self.stack_file.exists():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"run_stack exited with {self.proc.returncode} before ready:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no stack.json after {timeout_s} s:\n{self.log()}")
            time.sleep(0.1)
        return self.info()

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Send ``sig`` and return the supervisor's exit code."""
        self.proc.send_signal(sig)
        return self.wait()

    def wait(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            message = f"run_stack still running after {timeout_s} s:\n{self.log()}"
            raise AssertionError(message) from exc


def all_pids(info: Mapping[str, Any]) -> dict[str, int]:
    """name -> pid of every child stack.json lists (Envoy, the sandbox and every replica)."""
    pids = {"envoy": int(info["envoy"]["pid"]), "sandbox": int(info["sandbox"]["pid"])}
    for service in info["services"].values():
        for replica in service["replicas"]:
            pids[replica["name"]] = int(replica["pid"])
    return pids


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def trust(info: Mapping[str, Any]) -> ssl.SSLContext:
    """TLS that trusts only the stack's CA, from stack.json."""
    return ssl.create_default_context(cafile=info["ca_cert"])


def admin_headers(info: Mapping[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {info['admin_api_key']}"}


@contextlib.contextmanager
def run_stack(
    workdir: Path, *, replicas: int = 1, env: Mapping[str, str] | None = None
) -> Iterator[StackRun]:
    """Start the supervisor; on the way out make sure it and its children are gone."""
    stack_file = workdir / "paymesh" / "stack.json"
    log_path = workdir / "run_stack.log"
    child_env = {
        **os.environ,
        "PAYMESH_REST_ADDR": "127.0.0.1:0",
        "PAYMESH_GRPC_ADDR": "127.0.0.1:0",
        "PAYMESH_ADMIN_ADDR": "127.0.0.1:0",
        "PAYMESH_VAR_DIR": str(workdir / "var"),
        "PAYMESH_STACK_FILE": str(stack_file),
        "PAYMESH_REPLICAS": str(replicas),
        **(env or {}),
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own script, fixed argv
            [sys.executable, str(RUN_STACK)],
            cwd=REPO_ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    run = StackRun(proc, log_path, stack_file)
    pids: dict[str, int] = {}
    try:
        yield run
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            pids = all_pids(run.info())
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # A safety net only: the supervisor reaps its children itself (tests assert that).
        for name, pid in pids.items():
            if alive(pid) and _is_ours(pid, name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _is_ours(pid: int, name: str) -> bool:
    """Whether ``pid`` still runs our child ``name`` (a pid can be reused once reaped)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return False
    marker = {"envoy": "envoy", "sandbox": "-m\0sandbox"}.get(name, name.split("-")[0] + "_svc")
    return marker in cmdline


def environ_of(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with (/proc/<pid>/environ): what the supervisor
    handed a child, read as the child sees it."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
