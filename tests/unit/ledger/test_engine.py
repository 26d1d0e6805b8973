"""The posting engine against in-memory state: each command's effects and refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from ledger_svc.domain import rules
from ledger_svc.domain.commands import CreateTx, ExpireTx, PostTx, ReverseTx, VoidTx
from ledger_svc.domain.engine import PostingEngine
from ledger_svc.domain.errors import (
    AccountClosed,
    AccountNotFound,
    CurrencyMismatch,
    LedgerError,
    LimitExceeded,
    PendingExpired,
    PostAmountInvalid,
    RequestIdReused,
    TransactionAlreadyReversed,
    TransactionNotFound,
    TransactionNotPending,
    TransactionNotReversible,
    TransactionUnbalanced,
    ValidationFailed,
)
from ledger_svc.domain.model import (
    AccountStatus,
    AccountType,
    Direction,
    NewTransaction,
    Totals,
    TxStatus,
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
