"""A gateway as its own process (``python -m gateway_svc serve``), configured only by
GATEWAY_* variables as ``make run`` configures it, that a test can SIGKILL and restart on
the port it first got (what the supervisor does for a replica)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gateway_svc.settings import PROVIDER_FIELDS
from tests.e2e.run_stack_support import REPO_ROOT
from tests.e2e.stack_fixture import Edge, Services

LOCK_TIMEOUT_S = 1.0
"""The smallest lock timeout the settings allow: a retry may take the dead request over."""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def gateway_env(services: Services, hops: Edge, workdir: Path) -> dict[str, str]:
    """The process's environment: ours without any GATEWAY_* of the caller's, plus the
    stack's addresses, the gateway's certificate and the sandbox for every provider."""
    pki = services.pki
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_LISTEN_ADDR": "127.0.0.1:0",
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'gateway.db'}",
        "GATEWAY_LEDGER_ADDR": hops.internal_target,
        "GATEWAY_IDENTITY_ADDR": hops.internal_target,
        "GATEWAY_TLS_CERT_FILE": str(pki / "gateway.pem"),
        "GATEWAY_TLS_KEY_FILE": str(pki / "gateway-key.pem"),
        "GATEWAY_TLS_CA_FILE": str(pki / "ca.pem"),
        "GATEWAY_PORTS_FILE": str(workdir / "gateway-ports.json"),
        "GATEWAY_IDEMPOTENCY_LOCK_TIMEOUT_S": str(LOCK_TIMEOUT_S),
        "GATEWAY_RECONCILER_INTERVAL_S": "0.5",
    }
    for name in PROVIDER_FIELDS:
        if name in services.sandbox.running.sims:
            env[f"GATEWAY_{name.upper()}__BASE_URL"] = services.sandbox.base_url(name)
            env[f"GATEWAY_{name.upper()}__CA_FILE"] = str(pki / "ca.pem")
    return env


@dataclass
class GatewayProcess:
    """``python -m gateway_svc serve``, started and restarted on the port it first got."""

    env: dict[str, str]
    workdir: Path
    proc: asyncio.subprocess.Process | None = None
    port: int = 0
    starts: int = 0

    @property
    def ports_file(self) -> Path:
        return Path(self.env["GATEWAY_PORTS_FILE"])

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("gateway-*.log"))
        )

    async def start(self, **overrides: str) -> None:
        """Start the process (on the previous port after the first start; ``overrides`` are
        more GATEWAY_* variables) and wait until it serves: it writes its ports file only
        once its server has started."""
        self.ports_file.unlink(missing_ok=True)
        env = {**self.env, **overrides}
        if self.port:
            env["GATEWAY_LISTEN_ADDR"] = f"127.0.0.1:{self.port}"
        self.starts += 1
        with (self.workdir / f"gateway-{self.starts}.log").open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway_svc", "serve",
                cwd=REPO_ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        self.port = await self._published_port()

    async def _published_port(self) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ports_file.exists():
            assert self.proc.returncode is None, f"the gateway exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"the gateway did not start:\n{self.log()}"
            await asyncio.sleep(0.05)
        return int(json.loads(self.ports_file.read_text())["grpc"])

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or released."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
