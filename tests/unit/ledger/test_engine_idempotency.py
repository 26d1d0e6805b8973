"""The posting engine against in-memory state: request ids (replays, reuse with other
content) and atomic groups of commands that apply all or nothing.
"""

from __future__ import annotations

import pytest

from ledger_svc.domain.commands import CreateTx, PostTx, VoidTx
from ledger_svc.domain.errors import LimitExceeded, RequestIdReused, TransactionNotFound
from ledger_svc.domain.model import Totals
from tests.unit.ledger.engine_support import (
    ASSET,
    LIABILITY,
    flagged_wallet,
    store_with_hold,
    two_accounts,
)
from tests.unit.ledger.support import Store, account, effects_are_empty, snapshot, transfer

# -- idempotency ----------------------------------------------------------------------------


def test_replaying_a_request_returns_the_same_transaction_and_writes_nothing() -> None:
    store = Store()
    store.open(account("cash", ASSET), account("deposits", LIABILITY))
    cmd = CreateTx(transfer("cash", "deposits", 50), request_id="req-1")
    [first] = store.flush(cmd)
    accounts_before = dict(store.accounts)

    engine = store.engine()
    again = engine.apply(cmd)
    assert again == first
    assert effects_are_empty(engine)
    assert engine.head == store.head
    assert engine.accounts == accounts_before


def test_a_replay_within_the_same_flush_also_writes_nothing_more() -> None:
    engine = two_accounts()
    cmd = CreateTx(transfer("cash", "deposits", 50), request_id="req-1")
    first = engine.apply(cmd)
    before = snapshot(engine)
    assert engine.apply(cmd) is first
    assert snapshot(engine) == before


def test_a_successful_request_remembers_its_fingerprint_and_result() -> None:
    engine = two_accounts()
    cmd = CreateTx(transfer("cash", "deposits", 50), request_id="req-1")
    tx = engine.apply(cmd)
    [record] = engine.effects.remembered
    assert (record.request_id, record.result_id) == ("req-1", tx.id)
    assert record.fingerprint == cmd.fingerprint()
    assert engine.remembered == {"req-1": record}


def test_a_request_without_a_request_id_is_not_remembered_and_posts_each_time() -> None:
    engine = two_accounts()
    cmd = CreateTx(transfer("cash", "deposits", 50))
    first, second = engine.apply(cmd), engine.apply(cmd)
    assert first.id != second.id
    assert engine.effects.remembered == []
    assert engine.accounts["cash"].totals.debits_posted == 100


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        (CreateTx(transfer("cash", "deposits", 51), request_id="r"), "transaction.entries"),
        (
            CreateTx(transfer("cash", "deposits", 50, description="x"), request_id="r"),
            "transaction.description",
        ),
        (
            CreateTx(transfer("cash", "deposits", 50, metadata={"a": "b"}), request_id="r"),
            "transaction.metadata",
        ),
        (CreateTx(transfer("cash", "deposits", 50, pending=True), request_id="r"), "pending"),
        (PostTx("txn_0001", request_id="r"), "method"),
    ],
)
def test_a_request_id_reused_with_other_content_is_refused_naming_the_field(
    changed: CreateTx | PostTx, field: str
) -> None:
    engine = two_accounts()
    engine.apply(CreateTx(transfer("cash", "deposits", 50), request_id="r"))
    before = snapshot(engine)
    with pytest.raises(RequestIdReused) as caught:
        engine.apply(changed)
    assert caught.value.metadata == {"request_id": "r", "field": field}
    assert field in caught.value.message
    assert snapshot(engine) == before


def test_a_post_request_id_reused_with_another_amount_names_the_amount() -> None:
    store, hold_id = store_with_hold(400)
    store.flush(PostTx(hold_id, amount=100, request_id="post-1"))
    with pytest.raises(RequestIdReused) as caught:
        store.flush(PostTx(hold_id, amount=200, request_id="post-1"))
    assert caught.value.metadata["field"] == "amount_minor_units"


def test_a_replayed_post_returns_the_posted_transaction_instead_of_not_pending() -> None:
    store, hold_id = store_with_hold(400)
    cmd = PostTx(hold_id, request_id="post-1")
    [posted] = store.flush(cmd)
    engine = store.engine()
    assert engine.apply(cmd) == posted
    assert effects_are_empty(engine)


def test_a_refused_request_is_not_remembered_so_it_can_be_retried() -> None:
    engine = flagged_wallet(0)
    with pytest.raises(LimitExceeded):
        engine.apply(CreateTx(transfer("wallet", "merchant", 10), request_id="r"))
    assert engine.remembered == {}
    tx = engine.apply(CreateTx(transfer("bank", "wallet", 10), request_id="r"))
    assert engine.remembered["r"].result_id == tx.id


# -- all or nothing ---------------------------------------------------------------------------


def test_an_atomic_group_applies_every_command_in_order() -> None:
    engine = flagged_wallet(0)
    results = engine.apply_atomically(
        [
            CreateTx(transfer("bank", "wallet", 100)),
            CreateTx(transfer("wallet", "merchant", 100)),
        ]
    )
    assert [tx.sequence for tx in results] == [1, 2]
    assert engine.accounts["wallet"].balances.posted == 0
    assert engine.accounts["merchant"].balances.posted == 100


def test_an_atomic_group_with_one_refusal_restores_everything_and_names_the_index() -> None:
    engine = flagged_wallet(0)
    engine.apply(CreateTx(transfer("bank", "wallet", 10), request_id="before"))
    before = snapshot(engine)
    with pytest.raises(LimitExceeded) as caught:
        engine.apply_atomically(
            [
                CreateTx(transfer("bank", "wallet", 100), request_id="g-0"),
                CreateTx(transfer("bank", "merchant", 5, pending=True), request_id="g-1"),
                CreateTx(transfer("wallet", "merchant", 111), request_id="g-2"),
            ]
        )
    assert caught.value.metadata["index"] == "2"
    assert snapshot(engine) == before
    assert "g-0" not in engine.remembered


def test_after_a_refused_atomic_group_the_engine_keeps_working_from_the_restored_state() -> None:
    engine = flagged_wallet(0)
    with pytest.raises(TransactionNotFound) as caught:
        engine.apply_atomically([CreateTx(transfer("bank", "wallet", 100)), VoidTx("txn_nope")])
    assert caught.value.metadata["index"] == "1"
    tx = engine.apply(CreateTx(transfer("bank", "wallet", 7)))
    assert tx.sequence == 1
    assert [j.sequence for j in engine.effects.journal] == [1]
    assert engine.accounts["wallet"].totals == Totals(credits_posted=7)
