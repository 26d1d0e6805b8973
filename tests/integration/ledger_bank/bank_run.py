"""One bank run: 32 clients, a monitor and a nemesis that SIGKILLs the ledger twice.

Then the checker's findings, one entry per invariant, and the summary line.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger_bank.bank_checks import (
    list_every_transaction,
    problems_with_acknowledged_transactions,
    problems_with_balances_against_the_model,
    problems_with_conservation,
    problems_with_negative_balances,
    problems_with_the_transaction_count,
    problems_with_verification,
    read_balances,
    read_transactions,
    wait_until_due_holds_expire,
)
from tests.integration.ledger_bank.bank_model import History
from tests.integration.ledger_bank.bank_rpc import CallStats, LedgerEndpoint, call_until_definite
from tests.integration.ledger_bank.bank_workload import BankClient, Monitor
from tests.integration.ledger_bank.ledger_process import LedgerProcess

KILLS_ENV = "PAYMESH_BANK_KILLS"
EXPIRY_WAIT_S = 20.0

Findings = dict[str, list[str]]


@dataclass
class BankRun:
    """What happened during the load."""

    seed: int
    clients: int
    seconds: float = 0.0
    downtimes: list[float] = field(default_factory=list)
    monitor: Monitor | None = None
    ledger_transactions: int = 0
    verify: pb.VerifyLedgerResponse | None = None
    final_balances: dict[str, pb.Balance] = field(default_factory=dict)


async def run_the_bank(
    process: LedgerProcess,
    endpoint: LedgerEndpoint,
    history: History,
    stats: CallStats,
    run: BankRun,
    seconds: float,
) -> None:
    """Clients and the monitor for `seconds`; the ledger is SIGKILLed and restarted twice."""
    run.monitor = Monitor(endpoint, history.bank)
    stop_the_monitor = asyncio.Event()
    monitoring = asyncio.create_task(run.monitor.run_until_stopped(stop_the_monitor))
    began = time.monotonic()
    clients = [
        BankClient(endpoint, history, stats, random.Random(run.seed + i))
        for i in range(run.clients)
    ]
    nemesis = asyncio.create_task(
        kill_and_restart_the_ledger(process, endpoint, stats, began, seconds)
    )
    await asyncio.gather(nemesis, *(c.run_until(began + seconds) for c in clients))
    run.downtimes = nemesis.result()
    run.seconds = time.monotonic() - began
    stop_the_monitor.set()
    await monitoring


async def kill_and_restart_the_ledger(
    process: LedgerProcess, endpoint: LedgerEndpoint, stats: CallStats, began: float, seconds: float
) -> list[float]:
    """SIGKILL at each fraction of the run, restart on the same database (a new port)."""
    downtimes = []
    for fraction in kill_fractions():
        await asyncio.sleep(max(0.0, began + fraction * seconds - time.monotonic()))
        killed_at = time.monotonic()
        stats.kill_times.append(time.time())
        await process.kill()
        endpoint.point_at(await process.start())
        downtimes.append(time.monotonic() - killed_at)
    return downtimes


def kill_fractions() -> list[float]:
    """PAYMESH_BANK_KILLS (default and minimum 2) kills, evenly spread: 1/3 and 2/3 of the run."""
    kills = max(2, int(os.environ.get(KILLS_ENV, "2")))
    return [i / (kills + 1) for i in range(1, kills + 1)]


async def check_the_bank(
    endpoint: LedgerEndpoint, history: History, stats: CallStats, run: BankRun
) -> Findings:
    """Every invariant's problems, after due holds have had time to expire."""
    assert run.monitor is not None
    await wait_until_due_holds_expire(endpoint, history, stats, EXPIRY_WAIT_S)
    bank = history.bank
    trial = await call_until_definite(
        endpoint, "GetTrialBalance", pb.GetTrialBalanceRequest(), stats
    )
    balances = run.final_balances = await read_balances(endpoint, stats, bank)
    read = await read_transactions(endpoint, stats, history.txs)
    listed = await list_every_transaction(endpoint, stats)
    run.verify = await call_until_definite(
        endpoint, "VerifyLedger", pb.VerifyLedgerRequest(), stats
    )
    run.ledger_transactions = len(listed)
    return {
        "seen during the run (idempotency, double resolution, unexpected errors)": list(
            history.violations
        ),
        "(1) money conserved, trial balance balanced (monitor and final)": [
            *run.monitor.conservation_breaks,
            *problems_with_conservation(trial, balances, bank),
        ],
        "(1b) every posted balance equals the acknowledged results": (
            problems_with_balances_against_the_model(balances, history)
        ),
        "(2) no protected balance ever negative": problems_with_negative_balances(
            run.monitor, balances, bank
        ),
        "(3) every acknowledged transaction readable, status as last seen or later": (
            problems_with_acknowledged_transactions(history, read)
        ),
        "(4) the ledger holds exactly the acknowledged creations": (
            problems_with_the_transaction_count(history, listed)
        ),
        "(5) VerifyLedger ok": problems_with_verification(run.verify),
    }


def summary_line(history: History, stats: CallStats, run: BankRun, kills: int) -> str:
    """(6) One line: op counts, refusals, retries, kills, throughput."""
    monitor = run.monitor
    assert monitor is not None
    issued = sum(v for k, v in history.ops.items() if not k.endswith("_ok"))
    ops = " ".join(f"{k}={history.ops[k]}/{history.ops[k + '_ok']}ok" for k in op_names(history))
    downtimes = ",".join(f"{d:.2f}s" for d in run.downtimes)
    return (
        f"BANK seed={run.seed} clients={run.clients} seconds={run.seconds:.1f}"
        f" ops={issued} [{ops} replay={history.ops['replay']}]"
        f" refusals={dict(sorted(history.refusals.items()))}"
        f" retries={dict(sorted(stats.retries.items()))} retried_requests={stats.retried_requests}"
        f" in_doubt_writes={dict(sorted(stats.in_doubt_writes.items()))}"
        f" kills={kills} downtimes=[{downtimes}]"
        f" acknowledged_txs={len(history.txs)} ledger_txs={run.ledger_transactions}"
        f" monitor_polls={monitor.polls} monitor_balance_reads={monitor.balance_reads}"
        f" monitor_failed_polls={monitor.unavailable}"
        f" ops_per_s={issued / run.seconds:.0f}"
    )


def balances_line(history: History, run: BankRun) -> str:
    """Final posted/available/pending-debits of every account (hot customers first)."""
    bank = history.bank
    names = {bank.funding: "funding", bank.fees: "fees"}
    names |= {c: f"hot{i}" if c in bank.hot else f"cust{i}" for i, c in enumerate(bank.customers)}
    shown = [
        f"{names[a]}={b.posted.minor_units}/{b.available.minor_units}/{b.pending_debits.minor_units}"
        for a, b in run.final_balances.items()
    ]
    return "BANK final posted/available/pending_debits: " + " ".join(shown)


def op_names(history: History) -> list[str]:
    return sorted(k for k in history.ops if not k.endswith("_ok") and k != "replay")


def render_findings(findings: Findings, limit: int = 25) -> str:
    """The broken invariants, each with up to `limit` problems."""
    lines = []
    for invariant, problems in findings.items():
        if problems:
            lines.append(f"BROKEN {invariant}: {len(problems)} problem(s)")
            lines += [f"    {p}" for p in problems[:limit]]
    return "\n".join(lines)
