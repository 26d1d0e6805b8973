"""The posting engine against in-memory state: creating posted and pending transactions,
limit flags (pending counted), closed accounts, and that a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from ledger_svc.domain import rules
from ledger_svc.domain.commands import CreateTx, PostTx, ReverseTx, VoidTx
from ledger_svc.domain.engine import PostingEngine
from ledger_svc.domain.errors import (
    AccountClosed,
    AccountNotFound,
    CurrencyMismatch,
    LedgerError,
    LimitExceeded,
    TransactionUnbalanced,
    ValidationFailed,
)
from ledger_svc.domain.model import AccountStatus, NewTransaction, Totals, TxStatus
from tests.unit.ledger.engine_support import (
    ASSET,
    LIABILITY,
    flagged_wallet,
    store_with_hold,
    two_accounts,
)
from tests.unit.ledger.support import (
    T0,
    Store,
    account,
    credit,
    debit,
    effects_are_empty,
    engine_with,
    snapshot,
    transfer,
)

# -- creating posted and pending transactions ---------------------------------


def test_a_posted_transaction_adds_to_posted_totals_and_is_recorded_as_posted() -> None:
    engine = two_accounts()
    tx = engine.apply(CreateTx(transfer("cash", "deposits", 700, description="top-up")))

    assert tx.status is TxStatus.POSTED
    assert tx.posted_entries == tx.entries
    assert (tx.effective_time, tx.create_time, tx.expire_time) == (T0, T0, None)
    assert engine.accounts["cash"].totals == Totals(debits_posted=700)
    assert engine.accounts["deposits"].totals == Totals(credits_posted=700)
    fx = engine.effects
    assert fx.created == {tx.id: tx}
    assert fx.updated == {}
    assert fx.deltas == {"cash": Totals(debits_posted=700), "deposits": Totals(credits_posted=700)}
    assert [(e.transaction_id, e.index, e.pending) for e in fx.entries] == [
        (tx.id, 0, False),
        (tx.id, 1, False),
    ]
    assert [(j.kind, j.transaction_id, j.sequence) for j in fx.journal] == [("CREATE", tx.id, 1)]


def test_a_pending_transaction_adds_to_pending_totals_only_and_gets_an_expire_time() -> None:
    engine = two_accounts()
    tx = engine.apply(
        CreateTx(transfer("cash", "deposits", 700, pending=True, pending_timeout_s=90))
    )

    assert tx.status is TxStatus.PENDING
    assert tx.posted_entries == ()
    assert tx.expire_time == T0 + timedelta(seconds=90)
    assert engine.accounts["cash"].totals == Totals(debits_pending=700)
    assert engine.accounts["deposits"].totals == Totals(credits_pending=700)
    assert all(e.pending and e.balance_after is None for e in engine.effects.entries)


def test_a_pending_transaction_without_a_timeout_never_expires() -> None:
    tx = two_accounts().apply(CreateTx(transfer("cash", "deposits", 5, pending=True)))
    assert tx.status is TxStatus.PENDING
    assert tx.expire_time is None


def test_an_explicit_effective_time_is_kept_and_create_time_is_now() -> None:
    earlier = T0 - timedelta(days=3)
    tx = two_accounts().apply(CreateTx(transfer("cash", "deposits", 5, effective_time=earlier)))
    assert (tx.effective_time, tx.create_time) == (earlier, T0)


def test_a_multi_currency_transaction_moves_each_account_in_its_own_currency() -> None:
    engine = engine_with(
        account("usd-cash", ASSET, "USD"),
        account("usd-fx", LIABILITY, "USD"),
        account("eur-fx", ASSET, "EUR"),
        account("eur-cash", LIABILITY, "EUR"),
    )
    tx = NewTransaction(
        entries=(
            debit("usd-cash", 1000, "USD"),
            credit("usd-fx", 1000, "USD"),
            debit("eur-fx", 920, "EUR"),
            credit("eur-cash", 920, "EUR"),
        )
    )
    engine.apply(CreateTx(tx))
    assert engine.accounts["usd-fx"].totals == Totals(credits_posted=1000)
    assert engine.accounts["eur-fx"].totals == Totals(debits_posted=920)


def test_an_entry_naming_an_unknown_account_is_refused_with_its_index() -> None:
    engine = two_accounts()
    with pytest.raises(AccountNotFound) as caught:
        engine.apply(CreateTx(transfer("cash", "ghost", 5)))
    assert caught.value.metadata == {"account_id": "ghost", "entry_index": "1"}


def test_an_entry_in_another_currency_than_its_account_is_refused() -> None:
    engine = engine_with(account("cash", ASSET, "USD"), account("eur", LIABILITY, "EUR"))
    with pytest.raises(CurrencyMismatch) as caught:
        engine.apply(CreateTx(transfer("cash", "eur", 5, "USD")))
    assert caught.value.metadata["account_currency"] == "EUR"
    assert caught.value.metadata["entry_currency"] == "USD"


def test_the_engine_refuses_an_unbalanced_transaction_even_unvalidated() -> None:
    engine = two_accounts()
    with pytest.raises(TransactionUnbalanced):
        engine.apply(CreateTx(NewTransaction(entries=(debit("cash", 5), credit("deposits", 4)))))
    assert effects_are_empty(engine)


# -- limit flags, pending counted ---------------------------------------------


def test_debits_up_to_the_credits_pass_on_a_debit_limited_account() -> None:
    engine = flagged_wallet(100)
    engine.apply(CreateTx(transfer("wallet", "merchant", 100)))
    assert engine.accounts["wallet"].balances.posted == 0


def test_debits_beyond_the_credits_are_refused_naming_the_flag() -> None:
    engine = flagged_wallet(100)
    with pytest.raises(LimitExceeded) as caught:
        engine.apply(CreateTx(transfer("wallet", "merchant", 101)))
    assert caught.value.metadata["account_id"] == "wallet"
    assert caught.value.metadata["flag"] == "debits_must_not_exceed_credits"
    assert caught.value.metadata["available"] == "100"


def test_pending_debits_count_against_a_debit_limit() -> None:
    engine = flagged_wallet(100)
    engine.apply(CreateTx(transfer("wallet", "merchant", 60, pending=True)))
    with pytest.raises(LimitExceeded):
        engine.apply(CreateTx(transfer("wallet", "merchant", 41)))
    engine.apply(CreateTx(transfer("wallet", "merchant", 40)))
    assert engine.accounts["wallet"].totals == Totals(
        debits_posted=40, credits_posted=100, debits_pending=60
    )


def test_pending_credits_do_not_count_towards_a_debit_limit() -> None:
    engine = flagged_wallet(0)
    engine.apply(CreateTx(transfer("bank", "wallet", 500, pending=True)))
    with pytest.raises(LimitExceeded):
        engine.apply(CreateTx(transfer("wallet", "merchant", 1)))


def test_a_transaction_that_credits_a_limited_account_as_much_as_it_debits_it_passes() -> None:
    engine = flagged_wallet(0)
    tx = NewTransaction(
        entries=(debit("wallet", 50), credit("wallet", 50), debit("bank", 7), credit("merchant", 7))
    )
    engine.apply(CreateTx(tx))
    assert engine.accounts["wallet"].totals == Totals(debits_posted=50, credits_posted=50)


def test_credits_beyond_the_debits_are_refused_on_a_credit_limited_account() -> None:
    engine = engine_with(
        account(
            "cash", ASSET, credits_must_not_exceed_debits=True, totals=Totals(debits_posted=80)
        ),
        account("payable", LIABILITY),
    )
    engine.apply(CreateTx(transfer("payable", "cash", 30, pending=True)))
    with pytest.raises(LimitExceeded) as caught:
        engine.apply(CreateTx(transfer("payable", "cash", 51)))
    assert caught.value.metadata["flag"] == "credits_must_not_exceed_debits"
    engine.apply(CreateTx(transfer("payable", "cash", 50)))
    assert engine.accounts["cash"].balances.available == 0


def test_a_total_that_would_overflow_64_bits_is_refused() -> None:
    near_max = Totals(credits_posted=rules.INT64_MAX - 10)
    engine = engine_with(account("a", LIABILITY, totals=near_max), account("b", ASSET))
    with pytest.raises(ValidationFailed, match="overflow"):
        engine.apply(CreateTx(transfer("b", "a", 11)))
    engine.apply(CreateTx(transfer("b", "a", 10)))
    assert engine.accounts["a"].totals.credits_posted == rules.INT64_MAX


# -- a refusal changes nothing --------------------------------------------------


def _limit(e: PostingEngine) -> None:
    e.apply(CreateTx(transfer("wallet", "merchant", 10_000)))


def _limit_on_second_account(e: PostingEngine) -> None:
    tx = NewTransaction(
        entries=(debit("bank", 10_000), debit("wallet", 10_000), credit("merchant", 20_000))
    )
    e.apply(CreateTx(tx))


def _unknown_tx(e: PostingEngine) -> None:
    e.apply(PostTx("txn_nope"))


def _bad_partial(e: PostingEngine) -> None:
    e.apply(PostTx("txn_0001", amount=10**6))


def _reverse_pending(e: PostingEngine) -> None:
    e.apply(ReverseTx("txn_0001"))


def _reused_request_id(e: PostingEngine) -> None:
    e.apply(CreateTx(transfer("bank", "merchant", 999), request_id="req-1"))


@pytest.mark.parametrize(
    "refused",
    [
        _limit,
        _limit_on_second_account,
        _unknown_tx,
        _bad_partial,
        _reverse_pending,
        _reused_request_id,
    ],
)
def test_a_refused_command_leaves_state_and_effects_unchanged(
    refused: Callable[[PostingEngine], None],
) -> None:
    engine = flagged_wallet(100)
    engine.apply(CreateTx(transfer("wallet", "merchant", 30, pending=True)))  # txn_0001
    engine.apply(CreateTx(transfer("bank", "wallet", 20), request_id="req-1"))
    before = snapshot(engine)
    with pytest.raises(LedgerError):
        refused(engine)
    assert snapshot(engine) == before


# -- closed accounts ----------------------------------------------------------------


def test_a_closed_account_refuses_new_entries() -> None:
    engine = engine_with(
        account("cash", ASSET, status=AccountStatus.CLOSED), account("dep", LIABILITY)
    )
    with pytest.raises(AccountClosed) as caught:
        engine.apply(CreateTx(transfer("cash", "dep", 5)))
    assert caught.value.metadata == {"account_id": "cash"}
    assert effects_are_empty(engine)


def test_a_hold_on_an_account_closed_since_can_still_be_posted() -> None:
    store, hold_id = store_with_hold(400)
    store.close("deposits")
    [posted] = store.flush(PostTx(hold_id))
    assert posted.status is TxStatus.POSTED
    assert store.accounts["deposits"].totals == Totals(credits_posted=400)


def test_a_hold_on_an_account_closed_since_can_still_be_voided() -> None:
    store, hold_id = store_with_hold(400)
    store.close("cash")
    [voided] = store.flush(VoidTx(hold_id))
    assert voided.status is TxStatus.VOIDED
    assert store.accounts["cash"].totals.is_zero()


def test_reversing_into_a_closed_account_is_refused() -> None:
    store = Store()
    store.open(account("cash", ASSET), account("deposits", LIABILITY))
    [tx] = store.flush(CreateTx(transfer("cash", "deposits", 5)))
    store.close("deposits")
    with pytest.raises(AccountClosed):
        store.flush(ReverseTx(tx.id))
