"""Jepsen's bank test against the real ledger service on PostgreSQL (ledger.md).

32 concurrent clients move money between ten accounts for PAYMESH_BANK_SECONDS
(default 20) while the ledger process is SIGKILLed and restarted twice. Every
write is retried with its request_id until it has a definite answer, so the
clients' history is an exact model: the checker then demands conservation, no
negative protected balance, every acknowledged transaction as last seen (or
resolved since), exactly the acknowledged transactions in the ledger, and a
clean VerifyLedger.

A second, shorter test races 50 identical requests per round without kills.

PAYMESH_BANK_KILLS (default and minimum 2) spreads more kills evenly over the
run. PAYMESH_BANK_SEED fixes the clients' random choices (the interleaving,
and so the exact outcome, still varies from run to run).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger_bank.bank_checks import (
    list_every_transaction,
    problems_with_the_transaction_count,
    problems_with_verification,
)
from tests.integration.ledger_bank.bank_rpc import CallStats, LedgerEndpoint, call_until_definite
from tests.integration.ledger_bank.bank_run import (
    BankRun,
    balances_line,
    check_the_bank,
    render_findings,
    run_the_bank,
    summary_line,
)
from tests.integration.ledger_bank.bank_workload import (
    conservation_problems,
    open_and_fund_the_bank,
)
from tests.integration.ledger_bank.duplicate_rounds import DUPLICATES, DuplicateRounds
from tests.integration.ledger_bank.ledger_process import LedgerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 32
SECONDS_ENV = "PAYMESH_BANK_SECONDS"
SEED_ENV = "PAYMESH_BANK_SEED"
DUPLICATE_SECONDS = 5.0


def bank_seconds() -> float:
    """How long the load runs (PAYMESH_BANK_SECONDS, default 20)."""
    return float(os.environ.get(SECONDS_ENV, "20"))


def bank_seed() -> int:
    """PAYMESH_BANK_SEED, or a fresh seed (printed in the summary)."""
    return int(os.environ.get(SEED_ENV) or random.randrange(2**31))


@pytest.fixture
async def ledger(
    pg_database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[LedgerProcess, LedgerEndpoint]]:
    """A ledger subprocess on a fresh PostgreSQL database, and an endpoint pointing at it."""
    process = LedgerProcess(pg_database_url, tmp_path)
    endpoint = LedgerEndpoint()
    try:
        endpoint.point_at(await process.start())
        yield process, endpoint
    finally:
        await endpoint.close()
        await process.stop()


async def test_bank_keeps_every_invariant_while_the_ledger_is_killed_twice(
    ledger: tuple[LedgerProcess, LedgerEndpoint],
) -> None:
    process, endpoint = ledger
    stats = CallStats()
    _, history = await open_and_fund_the_bank(endpoint, stats)
    run = BankRun(seed=bank_seed(), clients=CLIENTS)

    await run_the_bank(process, endpoint, history, stats, run, bank_seconds())
    findings = await check_the_bank(endpoint, history, stats, run)

    print("\n" + summary_line(history, stats, run, process.kills))
    print(balances_line(history, run))
    report = render_findings(findings)
    if report:
        print(report)
        print(process.log_tails())
    assert process.kills >= 2
    assert not report, f"ledger invariants broken (logs in {process.log_dir}):\n{report}"


async def test_fifty_identical_concurrent_requests_act_exactly_once_per_round(
    ledger: tuple[LedgerProcess, LedgerEndpoint],
) -> None:
    _, endpoint = ledger
    stats = CallStats()
    bank, history = await open_and_fund_the_bank(endpoint, stats)
    rounds = DuplicateRounds(endpoint, history, stats, random.Random(bank_seed()))

    stop_at = time.monotonic() + DUPLICATE_SECONDS
    while time.monotonic() < stop_at:
        await rounds.one_round(rounds.next_kind())

    listed = await list_every_transaction(endpoint, stats)
    verify = await call_until_definite(endpoint, "VerifyLedger", pb.VerifyLedgerRequest(), stats)
    trial = await call_until_definite(
        endpoint, "GetTrialBalance", pb.GetTrialBalanceRequest(), stats
    )
    problems = [
        *rounds.problems,
        *history.violations,
        *problems_with_the_transaction_count(history, listed),
        *problems_with_verification(verify),
        *conservation_problems(trial, bank),
    ]
    print(
        f"\nDUPLICATES rounds={dict(rounds.rounds)} copies_per_round={DUPLICATES}"
        f" requests={stats.calls} retries={dict(stats.retries)}"
        f" acknowledged_txs={len(history.txs)} ledger_txs={len(listed)}"
    )
    assert sum(rounds.rounds.values()) >= 8
    assert not problems, "\n".join(problems[:50])
