"""Starting states shared by the posting-engine unit tests (the ``test_engine_*`` modules).

Those modules test the posting engine against in-memory state: each command's
effects and refusals. The builders and the fake storage under these helpers
are in support.py.
"""

from __future__ import annotations

from ledger_svc.domain.commands import CreateTx
from ledger_svc.domain.engine import PostingEngine
from ledger_svc.domain.model import AccountType, Totals
from tests.unit.ledger.support import Store, account, engine_with, transfer

ASSET = AccountType.ASSET
LIABILITY = AccountType.LIABILITY


def two_accounts() -> PostingEngine:
    """cash (ASSET) and deposits (LIABILITY), both USD and unflagged."""
    return engine_with(account("cash", ASSET), account("deposits", LIABILITY))


def store_with_hold(amount: int = 400, timeout_s: float | None = 30.0) -> tuple[Store, str]:
    """A store whose one pending transfer (cash -> deposits) was persisted at T0."""
    store = Store()
    store.open(account("cash", ASSET), account("deposits", LIABILITY))
    [hold] = store.flush(
        CreateTx(transfer("cash", "deposits", amount, pending=True, pending_timeout_s=timeout_s))
    )
    return store, hold.id


def flagged_wallet(credits_posted: int = 100) -> PostingEngine:
    """wallet may not have debits over credits; it holds ``credits_posted``."""
    return engine_with(
        account(
            "wallet",
            LIABILITY,
            debits_must_not_exceed_credits=True,
            totals=Totals(credits_posted=credits_posted),
        ),
        account("merchant", LIABILITY),
        account("bank", ASSET),
    )
