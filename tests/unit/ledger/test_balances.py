"""Balances derived from the four running totals, signed by the account's normal balance."""

from __future__ import annotations

import pytest

from ledger_svc.domain.commands import CreateTx, PostTx, VoidTx
from ledger_svc.domain.model import AccountType, Balances, Totals, balances
from tests.unit.ledger.support import account, engine_with, transfer

TOTALS = Totals(debits_posted=100, credits_posted=30, debits_pending=20, credits_pending=10)


def test_a_debit_normal_balance_grows_with_debits_and_loses_pending_credits_from_available() -> (
    None
):
    # posted = 100 - 30; pending adds the net hold 20 - 10; available drops outgoing holds (10).
    assert balances(TOTALS, debit_normal=True) == Balances(posted=70, pending=80, available=60)


def test_a_credit_normal_balance_grows_with_credits_and_loses_pending_debits_from_available() -> (
    None
):
    # posted = 30 - 100; pending adds -(20 - 10); available drops outgoing holds (20).
    assert balances(TOTALS, debit_normal=False) == Balances(posted=-70, pending=-80, available=-90)


def test_incoming_holds_raise_pending_but_never_available() -> None:
    incoming = Totals(credits_posted=500, credits_pending=200)
    assert balances(incoming, debit_normal=False) == Balances(
        posted=500, pending=700, available=500
    )


def test_zero_totals_give_zero_balances() -> None:
    assert balances(Totals(), debit_normal=True) == Balances(0, 0, 0)
    assert Totals().is_zero()
    assert not Totals(credits_pending=1).is_zero()


def test_totals_add_element_wise_and_accept_negative_deltas() -> None:
    released = TOTALS.plus(Totals(debits_pending=-20, debits_posted=5))
    assert released == Totals(
        debits_posted=105, credits_posted=30, debits_pending=0, credits_pending=10
    )


@pytest.mark.parametrize(
    ("type_", "debit_normal"),
    [
        (AccountType.ASSET, True),
        (AccountType.EXPENSE, True),
        (AccountType.LIABILITY, False),
        (AccountType.EQUITY, False),
        (AccountType.REVENUE, False),
    ],
)
def test_asset_and_expense_accounts_are_debit_normal_and_the_rest_credit_normal(
    type_: AccountType, debit_normal: bool
) -> None:
    assert type_.debit_normal is debit_normal
    acct = account("x", type_, totals=TOTALS)
    assert acct.balances == balances(TOTALS, debit_normal=debit_normal)


def test_a_posted_transfer_moves_both_posted_balances_by_the_amount() -> None:
    engine = engine_with(
        account("cash", AccountType.ASSET), account("deposits", AccountType.LIABILITY)
    )
    engine.apply(CreateTx(transfer("cash", "deposits", 2500)))
    assert engine.accounts["cash"].balances == Balances(posted=2500, pending=2500, available=2500)
    assert engine.accounts["deposits"].balances == Balances(
        posted=2500, pending=2500, available=2500
    )


def test_a_hold_shows_in_pending_and_reduces_only_the_payers_available() -> None:
    engine = engine_with(
        account("wallet", AccountType.LIABILITY, totals=Totals(credits_posted=1000)),
        account("merchant", AccountType.LIABILITY),
    )
    engine.apply(CreateTx(transfer("wallet", "merchant", 300, pending=True)))
    assert engine.accounts["wallet"].balances == Balances(posted=1000, pending=700, available=700)
    assert engine.accounts["merchant"].balances == Balances(posted=0, pending=300, available=0)


def test_posting_a_hold_moves_it_from_pending_into_posted() -> None:
    engine = engine_with(
        account("wallet", AccountType.LIABILITY, totals=Totals(credits_posted=1000)),
        account("merchant", AccountType.LIABILITY),
    )
    hold = engine.apply(CreateTx(transfer("wallet", "merchant", 300, pending=True)))
    engine.apply(PostTx(hold.id))
    assert engine.accounts["wallet"].balances == Balances(posted=700, pending=700, available=700)
    assert engine.accounts["merchant"].balances == Balances(posted=300, pending=300, available=300)


def test_voiding_a_hold_restores_every_balance() -> None:
    start = Totals(credits_posted=1000)
    engine = engine_with(
        account("wallet", AccountType.LIABILITY, totals=start),
        account("merchant", AccountType.LIABILITY),
    )
    hold = engine.apply(CreateTx(transfer("wallet", "merchant", 300, pending=True)))
    engine.apply(VoidTx(hold.id))
    assert engine.accounts["wallet"].totals == start
    assert engine.accounts["merchant"].totals.is_zero()
