"""The posting engine against in-memory state: posting (in full or in part), voiding and
expiring holds, and the refusals of each.
"""

from __future__ import annotations

import pytest

from ledger_svc.domain.commands import CreateTx, ExpireTx, PostTx, VoidTx
from ledger_svc.domain.errors import (
    PendingExpired,
    PostAmountInvalid,
    TransactionNotFound,
    TransactionNotPending,
)
from ledger_svc.domain.model import NewTransaction, Totals, TxStatus
from tests.unit.ledger.engine_support import ASSET, LIABILITY, store_with_hold, two_accounts
from tests.unit.ledger.support import (
    T0,
    account,
    credit,
    debit,
    effects_are_empty,
    engine_with,
    transfer,
)

# -- posting and voiding holds --------------------------------------------------------


def test_posting_a_hold_in_full_moves_every_entry_to_posted() -> None:
    engine = two_accounts()
    hold = engine.apply(CreateTx(transfer("cash", "deposits", 400, pending=True)))
    posted = engine.apply(PostTx(hold.id))

    assert posted.id == hold.id
    assert posted.status is TxStatus.POSTED
    assert posted.posted_entries == hold.entries
    assert posted.resolve_time == T0
    assert engine.accounts["cash"].totals == Totals(debits_posted=400)
    assert engine.accounts["deposits"].totals == Totals(credits_posted=400)
    assert [j.kind for j in engine.effects.journal] == ["CREATE", "POST"]


def test_posting_part_of_a_hold_posts_that_amount_and_releases_the_rest() -> None:
    store, hold_id = store_with_hold(400)
    [posted] = store.flush(PostTx(hold_id, amount=150))

    assert posted.status is TxStatus.POSTED
    assert [e.amount for e in posted.entries] == [400, 400]
    assert [e.amount for e in posted.posted_entries] == [150, 150]
    assert store.accounts["cash"].totals == Totals(debits_posted=150)
    assert store.accounts["deposits"].totals == Totals(credits_posted=150)
    posting_rows = [e for e in store.entries if not e.pending]
    assert [(e.spec.amount, e.balance_after) for e in posting_rows] == [(150, 150), (150, 150)]


def test_posting_exactly_the_held_amount_is_a_valid_partial_post() -> None:
    store, hold_id = store_with_hold(400)
    [posted] = store.flush(PostTx(hold_id, amount=400))
    assert [e.amount for e in posted.posted_entries] == [400, 400]


@pytest.mark.parametrize("amount", [0, -1, 401])
def test_a_partial_amount_outside_one_to_the_held_amount_is_refused(amount: int) -> None:
    store, hold_id = store_with_hold(400)
    with pytest.raises(PostAmountInvalid) as caught:
        store.flush(PostTx(hold_id, amount=amount))
    assert caught.value.metadata["held"] == "400"
    assert store.transactions[hold_id].status is TxStatus.PENDING


def test_a_partial_post_of_a_hold_with_more_than_two_entries_is_refused() -> None:
    engine = engine_with(account("a", ASSET), account("b", LIABILITY), account("c", LIABILITY))
    hold = engine.apply(
        CreateTx(
            NewTransaction(entries=(debit("a", 10), credit("b", 4), credit("c", 6)), pending=True)
        )
    )
    with pytest.raises(PostAmountInvalid) as caught:
        engine.apply(PostTx(hold.id, amount=4))
    assert caught.value.metadata["entries"] == "3"
    assert engine.apply(PostTx(hold.id)).posted_entries == hold.entries


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (PostTx, PostTx),
        (PostTx, VoidTx),
        (VoidTx, VoidTx),
        (VoidTx, PostTx),
    ],
)
def test_a_hold_resolves_only_once(
    first: type[PostTx] | type[VoidTx], second: type[PostTx] | type[VoidTx]
) -> None:
    store, hold_id = store_with_hold(400)
    store.flush(first(hold_id))
    accounts_before = dict(store.accounts)
    with pytest.raises(TransactionNotPending) as caught:
        store.flush(second(hold_id))
    assert caught.value.metadata["status"] == ("POSTED" if first is PostTx else "VOIDED")
    assert store.accounts == accounts_before


def test_posting_a_transaction_that_was_never_pending_is_refused() -> None:
    engine = two_accounts()
    tx = engine.apply(CreateTx(transfer("cash", "deposits", 5)))
    with pytest.raises(TransactionNotPending):
        engine.apply(PostTx(tx.id))


def test_posting_an_unknown_transaction_is_refused_as_not_found() -> None:
    with pytest.raises(TransactionNotFound) as caught:
        two_accounts().apply(PostTx("txn_missing"))
    assert caught.value.metadata == {"transaction_id": "txn_missing"}


@pytest.mark.parametrize("late_s", [30, 31, 3600])
@pytest.mark.parametrize("command", [PostTx, VoidTx])
def test_posting_or_voiding_at_or_after_the_timeout_is_refused_as_expired(
    command: type[PostTx] | type[VoidTx], late_s: int
) -> None:
    store, hold_id = store_with_hold(400, timeout_s=30)
    store.advance(late_s)
    with pytest.raises(PendingExpired):
        store.flush(command(hold_id))
    assert store.transactions[hold_id].status is TxStatus.PENDING


def test_posting_just_before_the_timeout_still_passes() -> None:
    store, hold_id = store_with_hold(400, timeout_s=30)
    store.advance(29.999)
    [posted] = store.flush(PostTx(hold_id))
    assert posted.status is TxStatus.POSTED


# -- expiry (the sweeper's command) ------------------------------------------------------


def test_expiring_a_due_hold_releases_it_and_journals_an_expire_event() -> None:
    store, hold_id = store_with_hold(400, timeout_s=30)
    store.advance(30)
    [expired] = store.flush(ExpireTx(hold_id))

    assert expired.status is TxStatus.EXPIRED
    assert expired.resolve_time == store.now
    assert expired.posted_entries == ()
    assert store.accounts["cash"].totals.is_zero()
    assert store.accounts["deposits"].totals.is_zero()
    assert [j.kind for j in store.journal] == ["CREATE", "EXPIRE"]


def test_an_expired_hold_can_no_longer_be_posted() -> None:
    store, hold_id = store_with_hold(400, timeout_s=30)
    store.advance(60)
    store.flush(ExpireTx(hold_id))
    with pytest.raises(TransactionNotPending) as caught:
        store.flush(PostTx(hold_id))
    assert caught.value.metadata["status"] == "EXPIRED"


def test_expiring_a_hold_that_is_not_yet_due_changes_nothing() -> None:
    store, hold_id = store_with_hold(400, timeout_s=30)
    store.advance(29)
    engine = store.engine()
    result = engine.apply(ExpireTx(hold_id))
    assert result.status is TxStatus.PENDING
    assert effects_are_empty(engine)


def test_expiring_a_hold_without_a_timeout_changes_nothing() -> None:
    store, hold_id = store_with_hold(400, timeout_s=None)
    store.advance(10**7)
    engine = store.engine()
    assert engine.apply(ExpireTx(hold_id)).status is TxStatus.PENDING
    assert effects_are_empty(engine)


@pytest.mark.parametrize(
    ("resolve", "status"), [(PostTx, TxStatus.POSTED), (VoidTx, TxStatus.VOIDED)]
)
def test_expiring_a_hold_that_was_already_resolved_changes_nothing(
    resolve: type[PostTx] | type[VoidTx], status: TxStatus
) -> None:
    store, hold_id = store_with_hold(400, timeout_s=30)
    store.flush(resolve(hold_id))
    store.advance(3600)
    engine = store.engine()
    assert engine.apply(ExpireTx(hold_id)).status is status
    assert effects_are_empty(engine)
