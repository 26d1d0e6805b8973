"""The edge bench's processes: the stack ``make run`` starts, and the extra servers the bench adds.

The stack is the real supervisor (scripts/run_stack.py) with every listener on port 0 and its
var directory under the bench's work directory; the bench learns everything (ports, pids,
certificates, the admin key) from its stack.json, as any tool would. Its own Envoy stays idle:
the bench runs its own Envoys (``bench.edge_envoy``) in front of the same replicas, so each
row can use a different configuration and ``--concurrency``.

Extra servers (plaintext twins of the services for h2load, a second Check process, the authz
stubs) run as children of the bench; every child of the bench is registered in ``Children``
and stopped on the way out, Ctrl-C and exceptions included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.stack.services import SERVICES

REPO_ROOT = Path(__file__).resolve().parent.parent
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
_START_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 30.0


@dataclass
class Child:
    """A process the bench started, and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Children:
    """Every process the bench started; ``stop_all`` ends them, newest first."""

    def __init__(self, workdir: Path, env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.env = dict(env or {})
        """Added to every child's environment (before its own ``env``)."""
        self._started: list[Child] = []

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Child:
        """Start ``argv`` with ``env`` added to ours; output goes to <workdir>/<name>.log."""
        log_path = self.workdir / f"{name}.log"
        full_env = {**os.environ, **self.env, **(env or {})}
        if _SETPRIV is not None:  # the child gets SIGTERM if the bench dies, even by SIGKILL
            argv = [_SETPRIV, "--pdeathsig", "TERM", "--", *argv]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own argv
                argv, cwd=REPO_ROOT, env=full_env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        child = Child(name, proc, log_path)
        self._started.append(child)
        return child

    def stop(self, child: Child, sig: signal.Signals = signal.SIGTERM) -> None:
        child.stop(sig)
        if child in self._started:
            self._started.remove(child)

    def stop_all(self) -> None:
        for child in reversed(self._started):
            # The supervisor stops its own children in order on SIGINT, as after Ctrl-C.
            child.stop(signal.SIGINT if child.name == "stack" else signal.SIGTERM, _STOP_TIMEOUT_S)
        self._started.clear()


@dataclass(frozen=True)
class Stack:
    """What stack.json says, in the shape the bench uses."""

    info: dict[str, Any]

    @property
    def pki(self) -> Path:
        return Path(self.info["ca_cert"]).parent

    @property
    def var_dir(self) -> Path:
        return Path(self.info["var_dir"])

    @property
    def rest_url(self) -> str:
        return str(self.info["rest_url"])

    @property
    def admin_key(self) -> str:
        return str(self.info["admin_api_key"])

    def replica(self, service: str) -> dict[str, Any]:
        found: dict[str, Any] = self.info["services"][service]["replicas"][0]
        return found

    def pid(self, service: str) -> int:
        return int(self.replica(service)["pid"])

    def database(self, service: str) -> str:
        return str(self.info["services"][service]["database"])

    def upstreams(self) -> dict[str, list[str]]:
        """EdgeConfig.upstreams for the stack's replicas, as the supervisor builds them
        (scripts/stack: each service's spec names the listener behind each cluster)."""
        clusters: dict[str, list[str]] = {}
        for spec in SERVICES:
            replica = self.replica(spec.name)
            for cluster, key in spec.clusters.items():
                clusters.setdefault(cluster, []).append(f"127.0.0.1:{replica[key]}")
        return clusters

    def ports(self, service: str) -> dict[str, Any]:
        """Every port the replica bound (its ports file), also those stack.json omits."""
        path = self.var_dir / "run" / f"{self.replica(service)['name']}.ports.json"
        ports: dict[str, Any] = json.loads(path.read_text())
        return ports

    def grpc_check_addr(self) -> str:
        """identity's gRPC Check listener: the bench asks the stack for one of its own."""
        port = self.ports("identity").get("hot")
        if not port:
            raise RuntimeError("identity serves no gRPC Check listener of its own (hot port)")
        return f"127.0.0.1:{port}"

    @property
    def descriptor_set(self) -> Path:
        return self.var_dir / "envoy" / "paymesh.pb"


def start_stack(children: Children) -> Stack:
    """``scripts/run_stack.py`` on port 0 under the work directory; its stack.json once ready."""
    stack_file = children.workdir / "stack.json"
    env = {
        "PAYMESH_REST_ADDR": "127.0.0.1:0",
        "PAYMESH_GRPC_ADDR": "127.0.0.1:0",
        "PAYMESH_ADMIN_ADDR": "127.0.0.1:0",
        "PAYMESH_VAR_DIR": str(children.workdir / "var"),
        "PAYMESH_STACK_FILE": str(stack_file),
        "PAYMESH_REPLICAS": "1",
        "PAYMESH_DATABASE_URL": "",  # SQLite: the brief's default
        # identity's gRPC Check on a listener of its own, whichever protocol the product's
        # ext_authz uses: the bench compares both (the stack sets it when it uses gRPC).
        "IDENTITY_AUTHZ_LISTEN_ADDR": "127.0.0.1:0",
    }
    argv = [sys.executable, str(REPO_ROOT / "scripts" / "run_stack.py")]
    child = children.spawn("stack", argv, env)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not stack_file.exists():
        if child.proc.poll() is not None:
            raise RuntimeError(f"run_stack exited ({child.proc.returncode}):\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no stack.json after {_START_TIMEOUT_S:.0f} s:\n{child.log_tail()}")
        time.sleep(0.1)
    return Stack(json.loads(stack_file.read_text()))


def wait_ports(child: Child, ports_file: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            code = child.proc.returncode
            raise RuntimeError(f"{child.name} exited ({code}):\n{child.log_tail()}")
        with contextlib.suppress(FileNotFoundError, ValueError):
            ports: dict[str, Any] = json.loads(ports_file.read_text())
            if all(ports.get(k) for k in keys):
                return ports
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} published no ports within {_START_TIMEOUT_S:.0f} s")


def start_service(
    children: Children, stack: Stack, name: str, service: str, *, plaintext: bool
) -> Child:
    """Another replica of ``service`` ("identity" or "ledger") on the stack's database.

    ``plaintext``: no TLS, loopback only (svc_kit refuses it elsewhere), for h2load, which
    cannot present a client certificate. A plaintext identity believes a principal header
    from any peer (``trust_plaintext``), which is what lets h2load call WhoAmI directly.
    Otherwise it presents the service's dev certificate and admits only Envoy's, as the
    stack's replica does. Each listener is on port 0, published to a ports file.
    """
    prefix = service.upper()
    ports_file = children.workdir / f"{name}.ports.json"
    ports_file.unlink(missing_ok=True)
    env = {
        f"{prefix}_DATABASE_URL": stack.database(service),
        f"{prefix}_LISTEN_ADDR": "127.0.0.1:0",
        f"{prefix}_PORTS_FILE": str(ports_file),
        # rpc_requests_total by code: h2load cannot see a grpc-status.
        f"{prefix}_METRICS_ADDR": "127.0.0.1:0",
        f"{prefix}_PLAINTEXT": "true" if plaintext else "false",
    }
    if not plaintext:
        env.update({
            f"{prefix}_TLS_CERT_FILE": str(stack.pki / f"{service}.pem"),
            f"{prefix}_TLS_KEY_FILE": str(stack.pki / f"{service}-key.pem"),
            f"{prefix}_TLS_CA_FILE": str(stack.pki / "ca.pem"),
        })  # fmt: skip
    keys: tuple[str, ...] = ("grpc", "metrics")
    if service == "identity":
        env["IDENTITY_AUTHZ_LISTEN_ADDR"] = "127.0.0.1:0"
        env["IDENTITY_KEY_PEPPER_FILE"] = str(stack.var_dir / "identity" / "pepper")
        keys = ("grpc", "hot", "metrics")
    child = children.spawn(name, [sys.executable, "-m", f"{service}_svc", "serve"], env)
    child.ports = wait_ports(child, ports_file, keys)
    return child


@contextlib.contextmanager
def bench_children(workdir: Path, env: Mapping[str, str] | None = None) -> Iterator[Children]:
    """A ``Children`` that is emptied on the way out, also after Ctrl-C or SIGTERM."""
    children = Children(workdir, env)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield children
    finally:
        children.stop_all()
        signal.signal(signal.SIGTERM, previous)
