"""The hash-chained journal: gap-free sequence numbers and hashes a verifier can recompute."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger_svc.domain import chain
from ledger_svc.domain.commands import CreateTx, ExpireTx, PostTx, ReverseTx, VoidTx
from ledger_svc.domain.engine import ChainHead, JournalEvent, PostingEngine
from ledger_svc.domain.errors import LimitExceeded, TransactionNotFound
from ledger_svc.domain.model import AccountType, Transaction, TxStatus
from tests.unit.ledger.support import T0, Ids, Store, account, transfer


def busy_store() -> Store:
    """A store whose journal holds every event kind, spread over several flushes."""
    store = Store()
    store.open(
        account("cash", AccountType.ASSET),
        account("deposits", AccountType.LIABILITY, debits_must_not_exceed_credits=True),
        account("fees", AccountType.REVENUE),
    )
    [paid] = store.flush(
        CreateTx(transfer("cash", "deposits", 1000, metadata={"b": "2", "a": "1"}))
    )
    [h1, h2, h3] = store.flush(
        CreateTx(transfer("deposits", "fees", 10, pending=True, pending_timeout_s=60)),
        CreateTx(transfer("deposits", "fees", 20, pending=True)),
        CreateTx(transfer("deposits", "fees", 30, pending=True, pending_timeout_s=5)),
    )
    store.advance(10)
    store.flush(PostTx(h1.id, amount=7), VoidTx(h2.id), ExpireTx(h3.id))
    store.flush(ReverseTx(h1.id, description="refund"))
    store.flush(CreateTx(transfer("cash", "deposits", 5, effective_time=T0 - timedelta(days=1))))
    assert paid.status is TxStatus.POSTED
    return store


def rebuilt_content(event: JournalEvent, tx: Transaction) -> bytes:
    """What a verifier rebuilds from the stored transaction row, never from the event."""
    if event.kind == "CREATE":
        was_pending = tx.status is not TxStatus.POSTED or tx.resolve_time is not None
        return chain.create_content(
            transaction_id=tx.id,
            status=(TxStatus.PENDING if was_pending else TxStatus.POSTED).value,
            entries=tx.entries,
            description=tx.description,
            external_ref=tx.external_ref,
            metadata=tx.metadata,
            effective_time=tx.effective_time,
            expire_time=tx.expire_time,
            reverses_id=tx.reverses_id,
        )
    assert tx.resolve_time is not None
    return chain.resolve_content(
        kind=event.kind, transaction_id=tx.id, at=tx.resolve_time, posted=tx.posted_entries
    )


def test_journal_sequences_run_from_one_without_gaps_across_flushes() -> None:
    store = busy_store()
    assert [e.sequence for e in store.journal] == list(range(1, 10))
    assert [e.kind for e in store.journal] == [
        "CREATE",
        "CREATE",
        "CREATE",
        "CREATE",
        "POST",
        "VOID",
        "EXPIRE",
        "CREATE",
        "CREATE",
    ]
    assert store.head == ChainHead(9, store.journal[-1].hash)


def test_each_event_links_to_the_hash_of_the_one_before() -> None:
    store = busy_store()
    prev = chain.GENESIS_HASH
    for event in store.journal:
        assert event.prev_hash == prev
        prev = event.hash


def test_every_hash_recomputes_from_the_stored_transactions() -> None:
    store = busy_store()
    prev = chain.GENESIS_HASH
    for event in store.journal:
        content = rebuilt_content(event, store.transactions[event.transaction_id])
        assert chain.link(prev, content) == event.hash, event
        prev = event.hash


def test_a_transaction_carries_the_sequence_and_hash_of_its_create_event() -> None:
    store = busy_store()
    creates = [e for e in store.journal if e.kind == "CREATE"]
    for event in creates:
        tx = store.transactions[event.transaction_id]
        assert (tx.sequence, tx.hash) == (event.sequence, event.hash)


def test_editing_a_stored_amount_breaks_that_events_hash() -> None:
    store = busy_store()
    event = store.journal[0]
    tx = store.transactions[event.transaction_id]
    forged = replace(tx, entries=tuple(replace(e, amount=e.amount + 1) for e in tx.entries))
    assert chain.link(event.prev_hash, rebuilt_content(event, forged)) != event.hash
    assert chain.link(event.prev_hash, rebuilt_content(event, tx)) == event.hash


def test_an_engine_continues_the_chain_from_the_head_it_is_given() -> None:
    head = ChainHead(41, hashlib.sha256(b"earlier").hexdigest())
    engine = PostingEngine(
        head=head,
        accounts={"a": account("a"), "b": account("b", AccountType.LIABILITY)},
        transactions={},
        remembered={},
        now=T0,
        new_id=Ids(),
    )
    tx = engine.apply(CreateTx(transfer("a", "b", 1)))
    [event] = engine.effects.journal
    assert (event.sequence, event.prev_hash) == (42, head.hash)
    assert tx.sequence == 42
    assert engine.head == ChainHead(42, event.hash)


def test_refused_commands_take_no_sequence_number() -> None:
    store = Store()
    store.open(
        account("a", AccountType.LIABILITY, debits_must_not_exceed_credits=True),
        account("b", AccountType.LIABILITY),
    )
    engine = store.engine()
    with pytest.raises(LimitExceeded):
        engine.apply(CreateTx(transfer("a", "b", 1)))
    with pytest.raises(TransactionNotFound):
        engine.apply(VoidTx("txn_9999"))
    engine.apply(CreateTx(transfer("b", "a", 3)))
    assert [e.sequence for e in engine.effects.journal] == [1]
    assert engine.head.sequence == 1


def test_link_is_sha256_of_the_previous_hash_bytes_then_the_content() -> None:
    content = b'{"k":"CREATE"}'
    expected = hashlib.sha256(bytes(32) + content).hexdigest()
    assert chain.link(chain.GENESIS_HASH, content) == expected


def test_canonical_time_is_utc_with_microseconds_and_none_stays_none() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert chain.canonical_time(datetime(2025, 1, 1, 14, 0, 0, 5, tzinfo=plus_two)) == (
        "2025-01-01T12:00:00.000005Z"
    )
    assert chain.canonical_time(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00.000000Z"
    assert chain.canonical_time(None) is None


def _create(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "transaction_id": "txn_1",
        "status": "POSTED",
        "entries": transfer("a", "b", 5).entries,
        "description": "d",
        "external_ref": "r",
        "metadata": {"x": "1", "y": "2"},
        "effective_time": T0,
        "expire_time": None,
        "reverses_id": None,
    }
    fields.update(overrides)
    return chain.create_content(**fields)  # type: ignore[arg-type]


def test_create_content_does_not_depend_on_metadata_order_or_timezone_offset() -> None:
    assert _create(metadata={"y": "2", "x": "1"}) == _create()
    shifted = T0.astimezone(timezone(timedelta(hours=-5)))
    assert _create(effective_time=shifted) == _create()


@pytest.mark.parametrize(
    "change",
    [
        {"transaction_id": "txn_2"},
        {"status": "PENDING"},
        {"entries": transfer("a", "b", 6).entries},
        {"description": "e"},
        {"external_ref": "s"},
        {"metadata": {"x": "1"}},
        {"effective_time": T0 + timedelta(microseconds=1)},
        {"expire_time": T0},
        {"reverses_id": "txn_0"},
    ],
)
def test_create_content_changes_with_every_field(change: dict[str, object]) -> None:
    assert _create(**change) != _create()


def test_resolve_content_names_its_kind_time_and_posted_entries() -> None:
    entries = transfer("a", "b", 5).entries
    post = chain.resolve_content(kind="POST", transaction_id="t", at=T0, posted=entries)
    void = chain.resolve_content(kind="VOID", transaction_id="t", at=T0, posted=())
    assert post != void
    assert b'"k":"POST"' in post
    assert b'"entries":[]' in void
    later = chain.resolve_content(kind="VOID", transaction_id="t", at=T0 + timedelta(1), posted=())
    assert later != void
