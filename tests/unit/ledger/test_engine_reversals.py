"""The posting engine against in-memory state: reversals and their refusals, and the running
balances that posted entries carry for statements.
"""

from __future__ import annotations

import pytest

from ledger_svc.domain.commands import CreateTx, PostTx, ReverseTx, VoidTx
from ledger_svc.domain.errors import (
    LimitExceeded,
    TransactionAlreadyReversed,
    TransactionNotReversible,
)
from ledger_svc.domain.model import AccountType, Direction, NewTransaction, Totals, TxStatus
from tests.unit.ledger.engine_support import (
    ASSET,
    LIABILITY,
    flagged_wallet,
    store_with_hold,
    two_accounts,
)
from tests.unit.ledger.support import Store, account, credit, debit, engine_with, snapshot, transfer

# -- reversals ------------------------------------------------------------------------------


def test_a_reversal_mirrors_the_posted_entries_and_links_both_transactions() -> None:
    engine = engine_with(account("a", ASSET), account("b", LIABILITY), account("c", LIABILITY))
    orig = engine.apply(
        CreateTx(
            NewTransaction(
                entries=(debit("a", 10), credit("b", 4), credit("c", 6)),
                external_ref="inv-9",
                metadata={"k": "v"},
            )
        )
    )
    rev = engine.apply(ReverseTx(orig.id))

    assert [(e.account_id, e.direction, e.amount) for e in rev.entries] == [
        ("a", Direction.CREDIT, 10),
        ("b", Direction.DEBIT, 4),
        ("c", Direction.DEBIT, 6),
    ]
    assert rev.posted_entries == rev.entries
    assert rev.status is TxStatus.POSTED
    assert rev.reverses_id == orig.id
    assert engine.transactions[orig.id].reversed_by_id == rev.id
    assert (rev.description, rev.external_ref, rev.metadata) == (
        f"Reversal of {orig.id}",
        "inv-9",
        {"k": "v"},
    )
    for aid in ("a", "b", "c"):
        assert engine.accounts[aid].balances.posted == 0


def test_a_reversal_in_a_later_flush_updates_the_original_and_creates_the_reversal() -> None:
    store = Store()
    store.open(account("cash", ASSET), account("deposits", LIABILITY))
    [orig] = store.flush(CreateTx(transfer("cash", "deposits", 90)))
    engine = store.engine()
    rev = engine.apply(ReverseTx(orig.id, description="refund"))
    assert rev.description == "refund"
    assert list(engine.effects.created) == [rev.id]
    assert engine.effects.updated[orig.id].reversed_by_id == rev.id
    assert engine.effects.updated[orig.id].status is TxStatus.POSTED


def test_reversing_a_partially_posted_hold_reverses_only_the_posted_amount() -> None:
    store, hold_id = store_with_hold(400)
    store.flush(PostTx(hold_id, amount=150))
    [rev] = store.flush(ReverseTx(hold_id))
    assert [e.amount for e in rev.entries] == [150, 150]
    assert store.accounts["cash"].totals == Totals(debits_posted=150, credits_posted=150)


def test_reversing_twice_is_refused_as_already_reversed() -> None:
    engine = two_accounts()
    orig = engine.apply(CreateTx(transfer("cash", "deposits", 5)))
    rev = engine.apply(ReverseTx(orig.id))
    before = snapshot(engine)
    with pytest.raises(TransactionAlreadyReversed) as caught:
        engine.apply(ReverseTx(orig.id))
    assert caught.value.metadata["reversed_by"] == rev.id
    assert snapshot(engine) == before


def test_reversing_a_reversal_is_refused_as_not_reversible() -> None:
    engine = two_accounts()
    orig = engine.apply(CreateTx(transfer("cash", "deposits", 5)))
    rev = engine.apply(ReverseTx(orig.id))
    with pytest.raises(TransactionNotReversible, match="itself a reversal"):
        engine.apply(ReverseTx(rev.id))


@pytest.mark.parametrize("resolve", [None, VoidTx])
def test_reversing_a_pending_or_voided_transaction_is_refused_as_not_reversible(
    resolve: type[VoidTx] | None,
) -> None:
    engine = two_accounts()
    hold = engine.apply(CreateTx(transfer("cash", "deposits", 5, pending=True)))
    if resolve is not None:
        engine.apply(resolve(hold.id))
    with pytest.raises(TransactionNotReversible) as caught:
        engine.apply(ReverseTx(hold.id))
    assert caught.value.metadata["status"] == ("PENDING" if resolve is None else "VOIDED")


def test_a_reversal_that_would_break_a_limit_is_refused() -> None:
    engine = flagged_wallet(0)
    deposit = engine.apply(CreateTx(transfer("bank", "wallet", 100)))
    engine.apply(CreateTx(transfer("wallet", "merchant", 80)))
    with pytest.raises(LimitExceeded):
        engine.apply(ReverseTx(deposit.id))
    assert engine.transactions[deposit.id].reversed_by_id is None


# -- statement balances ------------------------------------------------------------------------


def test_each_posted_entry_carries_its_accounts_running_posted_balance() -> None:
    store = Store()
    store.open(
        account("cash", ASSET, totals=Totals(debits_posted=1000, credits_posted=200)),
        account("deposits", LIABILITY, totals=Totals(credits_posted=800)),
        account("fees", AccountType.REVENUE),
    )
    [a] = store.flush(CreateTx(transfer("cash", "deposits", 300)))
    [hold] = store.flush(CreateTx(transfer("deposits", "cash", 120, pending=True)))
    store.flush(
        CreateTx(
            NewTransaction(
                entries=(
                    debit("deposits", 50),
                    credit("cash", 45),
                    credit("fees", 5),
                    debit("cash", 10),
                    credit("deposits", 10),
                )
            )
        ),
        PostTx(hold.id, amount=100),
    )
    store.flush(ReverseTx(a.id))

    # Replay every posted row, in written order, onto the opening posted balances.
    running = {"cash": 800, "deposits": 800, "fees": 0}
    normal = {"cash": Direction.DEBIT, "deposits": Direction.CREDIT, "fees": Direction.CREDIT}
    posted_rows = [e for e in store.entries if not e.pending]
    assert len(posted_rows) == 2 + 5 + 2 + 2
    for row in posted_rows:
        sign = 1 if row.spec.direction is normal[row.spec.account_id] else -1
        running[row.spec.account_id] += sign * row.spec.amount
        assert row.balance_after == running[row.spec.account_id]
    for aid, balance in running.items():
        assert store.accounts[aid].balances.posted == balance


def test_pending_entries_carry_no_balance() -> None:
    store, _ = store_with_hold(400)
    assert [e.balance_after for e in store.entries] == [None, None]
    assert all(e.pending for e in store.entries)
