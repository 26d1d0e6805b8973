"""Start the paymesh services for local use and keep them running: what `make run` calls.

Each service runs as its own process with mTLS from the development CA under
var/pki (``python -m svc_kit.pki init``), on its default SQLite file under
var/. On first start the identity service's first admin key is created and
written to var/identity/admin-key (mode 0600). Output from every service is
shown with a name prefix. Ctrl-C (or SIGTERM) stops them all; if one exits,
the rest are stopped and the exit code says which failed.

Settings given in the environment (LEDGER_*, IDENTITY_*) win over these defaults.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PKI = Path("var/pki")
ADMIN_KEY = Path("var/identity/admin-key")
SERVICES = (("ledger", "ledger_svc", "LEDGER"), ("identity", "identity_svc", "IDENTITY"))


def _env(workload: str, prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    defaults = {
        "TLS_CERT_FILE": str(PKI / f"{workload}.pem"),
        "TLS_KEY_FILE": str(PKI / f"{workload}-key.pem"),
        "TLS_CA_FILE": str(PKI / "ca.pem"),
    }
    if workload == "identity":
        # Envoy's ext_authz cluster: Check on a listener of its own (see IDENTITY_AUTHZ_*).
        defaults["AUTHZ_LISTEN_ADDR"] = "127.0.0.1:50063"
    for name, value in defaults.items():
        env.setdefault(f"{prefix}_{name}", value)
    return env


async def _pump(name: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        sys.stdout.write(f"{name:>8} | {line.decode(errors='replace')}")
        sys.stdout.flush()


async def _bootstrap_admin() -> None:
    if ADMIN_KEY.exists():  # noqa: ASYNC240 - one stat at start-up, before any task runs
        print(f"run_stack: admin key already in {ADMIN_KEY}", flush=True)
        return
    print("run_stack: first start: creating the platform admin key ...", flush=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "identity_svc", "bootstrap-admin", "--output", str(ADMIN_KEY),
        env=_env("identity", "IDENTITY"),
    )  # fmt: skip
    if await proc.wait() != 0:
        raise SystemExit("run_stack: bootstrap-admin failed")


async def main() -> int:
    """Run every service until a signal or until one of them exits."""
    os.chdir(REPO_ROOT)
    await _bootstrap_admin()
    procs: dict[str, asyncio.subprocess.Process] = {}
    pumps = []
    for name, module, prefix in SERVICES:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, "serve",
            env=_env(name, prefix),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        procs[name] = proc
        assert proc.stdout is not None
        pumps.append(asyncio.create_task(_pump(name, proc.stdout)))
    print(
        f"run_stack: started {', '.join(procs)}; admin key in {ADMIN_KEY}; Ctrl-C stops",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiters = {asyncio.create_task(p.wait()): n for n, p in procs.items()}
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({*waiters, stopper}, return_when=asyncio.FIRST_COMPLETED)
    failed = [waiters[t] for t in done if t in waiters]
    for proc in procs.values():
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    await asyncio.gather(*(p.wait() for p in procs.values()))
    await asyncio.gather(*pumps, return_exceptions=True)
    if failed:
        print(f"run_stack: {', '.join(failed)} exited; stopped the rest", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
