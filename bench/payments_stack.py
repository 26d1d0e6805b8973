"""The stack the payments bench drives: ``make run``'s supervisor on PostgreSQL, port 0 everywhere.

It is the real thing (scripts/run_stack.py): identity, ledger and gateway, one process each
(or as ``--replicas`` says),
the provider sandbox the supervisor starts and points the gateway's providers at, and Envoy
in front; every database on the local PostgreSQL (``bench.payments_pg``). The bench learns
ports, pids, certificates and the admin key from stack.json, as any tool would, and stops
the supervisor on the way out (``bench.edge_stack.Children``), Ctrl-C included.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bench import payments_pg as ppg
from bench.edge_stack import REPO_ROOT, Children, Stack
from bench.payments_callbacks import CallbackProbe
from bench.payments_meter import PidSource, fixed

_START_TIMEOUT_S = 120.0
SERVICE_GROUPS = ("envoy", "identity", "gateway", "ledger", "sandbox")
"""The stack's processes, in the order the report lists them."""


@dataclass(frozen=True)
class PaymentStack:
    """stack.json, with what the bench needs from it named."""

    stack: Stack

    @property
    def rest_url(self) -> str:
        return self.stack.rest_url

    def pid(self, group: str) -> int:
        info = self.stack.info
        if group == "envoy":
            return int(info["envoy"]["pid"])
        if group == "sandbox":
            return int(info["sandbox"]["pid"])
        if group == "supervisor":
            return int(info["supervisor_pid"])
        return self.stack.pid(group)

    def callback_probe(self) -> CallbackProbe:
        """A reader of the sandbox's callback counters (``bench.payments_callbacks``)."""
        return CallbackProbe(str(self.stack.info["sandbox"]["control_url"]),
                             self.stack.pki / "ca.pem")  # fmt: skip

    def pids(self, group: str) -> tuple[int, ...]:
        """Every process of ``group``: each replica of a service (``--replicas``)."""
        if group in ("envoy", "sandbox", "supervisor"):
            return (self.pid(group),)
        return tuple(int(r["pid"]) for r in self.stack.info["services"][group]["replicas"])

    def groups(self, server: ppg.Server, loadgen: PidSource) -> dict[str, PidSource]:
        """Every CPU group of a step: the stack's processes, its supervisor (which copies
        their output), PostgreSQL's backends and shared processes, and the load generator."""
        groups = {g: fixed(*self.pids(g)) for g in (*SERVICE_GROUPS, "supervisor")}
        groups["postgres"] = server.pids
        groups["pg shared"] = server.shared_pids
        groups["loadgen"] = loadgen
        return groups


def start(
    children: Children,
    database_url: str,
    log_level: str,
    *,
    callbacks: bool = True,
    replicas: str = "1",
) -> PaymentStack:
    """``scripts/run_stack.py`` under the work directory; its stack.json once ready.

    Raises RuntimeError when the stack exits early or starts no provider sandbox (the bench
    measures payments against the sandbox the stack runs, as ``make run`` does).
    """
    stack_file = children.workdir / "stack.json"
    env: Mapping[str, str] = {
        "PAYMESH_REST_ADDR": "127.0.0.1:0",
        "PAYMESH_GRPC_ADDR": "127.0.0.1:0",
        "PAYMESH_ADMIN_ADDR": "127.0.0.1:0",
        "PAYMESH_VAR_DIR": str(children.workdir / "var"),
        "PAYMESH_STACK_FILE": str(stack_file),
        "PAYMESH_REPLICAS": replicas,
        "PAYMESH_DATABASE_URL": database_url,
        # At INFO every RPC writes a line that the supervisor then copies, on the same cores.
        **{f"{s.upper()}_LOG_LEVEL": log_level for s in ppg.SERVICES},
        # Empty: the stack leaves the sandbox's callbacks off (scripts/stack/sandbox.py).
        **({} if callbacks else {"SANDBOX_WEBHOOK_TARGET": ""}),
    }
    child = children.spawn("stack", [sys.executable, str(REPO_ROOT / "scripts" / "run_stack.py")],
                           env)  # fmt: skip
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not stack_file.exists():
        if child.proc.poll() is not None:
            raise RuntimeError(f"run_stack exited ({child.proc.returncode}):\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no stack.json after {_START_TIMEOUT_S:.0f} s:\n{child.log_tail()}")
        time.sleep(0.1)
    info = json.loads(stack_file.read_text())
    if not info.get("sandbox", {}).get("pid"):
        raise RuntimeError("the stack started no provider sandbox (stack.json has no sandbox)")
    if "gateway" not in info.get("services", {}):
        raise RuntimeError("the stack started no gateway")
    return PaymentStack(Stack(info))
