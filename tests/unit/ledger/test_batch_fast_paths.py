"""The shortcuts the batch path takes for speed (issue 5) give exactly what the plain ways did.

Each one replaced a slower equivalent: ``Account.with_totals`` for ``dataclasses.replace``,
``chain.sorted_json`` for ``json.dumps(sort_keys=True)``, a remembered ``canonical_time``,
filling a response's Transaction in place for building and copying one, and one write
statement whose parameters are column arrays. Stored bytes and hashes depend on the first
three, so "the same" here means equal strings, not just equal meaning.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from ledger_svc.adapters.pg_flush import WRITE_FLUSH, flush_params
from ledger_svc.domain import chain
from ledger_svc.domain.commands import CreateTx, PostTx
from ledger_svc.domain.effects import Effects
from ledger_svc.domain.model import AccountType, EntrySpec, Totals, Transaction
from ledger_svc.entrypoints import convert as cv
from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.unit.ledger.support import T0, Store, account, engine_with, transfer

_text = st.text(max_size=12)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)


def test_with_totals_equals_replace_and_leaves_the_original_alone() -> None:
    before = account("wallet", AccountType.LIABILITY, debits_must_not_exceed_credits=True)
    totals = Totals(1, 2, 3, 4)

    after = before.with_totals(totals)

    assert after == replace(before, totals=totals)
    assert before.totals == Totals()
    assert after.balances.posted == 1


@given(st.dictionaries(_text, _json_values, max_size=6))
def test_sorted_json_writes_the_bytes_json_dumps_with_sorted_keys_writes(
    value: dict[str, object],
) -> None:
    assert chain.sorted_json(value) == json.dumps(value, sort_keys=True)


def test_canonical_time_names_one_instant_the_same_in_any_zone_and_tells_instants_apart() -> None:
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))
    later = T0 + timedelta(microseconds=1)

    assert (
        chain.canonical_time(T0) == chain.canonical_time(plus_two) == "2025-03-01T12:00:00.000000Z"
    )
    assert chain.canonical_time(later) == "2025-03-01T12:00:00.000001Z"
    assert chain.canonical_time(None) is None


def _built(t: Transaction) -> pb.Transaction:
    """The message built the plain way: every part its own message, then assembled."""

    def entry(e: EntrySpec) -> pb.Entry:
        direction = pb.DIRECTION_DEBIT if e.direction.value == "DEBIT" else pb.DIRECTION_CREDIT
        amount = cv.money(e.currency, e.amount)
        return pb.Entry(account_id=e.account_id, direction=direction, amount=amount)

    msg = pb.Transaction(
        id=t.id, entries=[entry(e) for e in t.entries], description=t.description,
        external_ref=t.external_ref, metadata=t.metadata,
        status=pb.TransactionStatus.Value(f"TRANSACTION_STATUS_{t.status.value}"),
        posted_entries=[entry(e) for e in t.posted_entries],
        reverses_transaction_id=t.reverses_id or "",
        reversed_by_transaction_id=t.reversed_by_id or "", sequence=t.sequence, hash=t.hash,
    )  # fmt: skip
    for field in ("effective_time", "create_time", "expire_time", "resolve_time"):
        value = getattr(t, field)
        if value is not None:
            getattr(msg, field).FromDatetime(value)
    return msg


def test_a_transaction_filled_into_a_response_is_the_message_built_part_by_part() -> None:
    store = Store()
    store.open(account("cash", AccountType.ASSET), account("deposits", AccountType.LIABILITY))
    posted, hold = store.flush(
        CreateTx(transfer("cash", "deposits", 500, metadata={"order": "o_1", "a": "b"})),
        CreateTx(transfer("cash", "deposits", 300, pending=True, pending_timeout_s=30.0)),
    )
    store.advance(5)
    [partial] = store.flush(PostTx(hold.id, 120))
    shapes = [posted, hold, partial, replace(posted, reversed_by_id="txn_9", reverses_id="txn_8")]
    response = pb.CreateTransactionsResponse()
    stamps: cv.Stamps = {}

    for t in shapes:
        cv.fill_transaction(response.results.add().transaction, t, stamps)

    assert [r.transaction for r in response.results] == [_built(t) for t in shapes]
    assert [cv.transaction(t) for t in shapes] == [_built(t) for t in shapes]
    assert len(stamps) == 3  # T0, the hold's expiry, the post's time: each made once


def test_the_flush_statement_takes_one_parameter_per_placeholder_in_column_groups() -> None:
    engine = engine_with(
        account("cash", AccountType.ASSET), account("deposits", AccountType.LIABILITY)
    )
    for i in range(3):
        engine.apply(CreateTx(transfer("cash", "deposits", 10 + i), request_id=f"r{i}"))
    effects: Effects = engine.effects

    params = flush_params(effects, engine.head, T0)
    empty = flush_params(Effects(), engine.head, T0)

    assert len(params) == len(empty) == WRITE_FLUSH.count("%b")
    assert params[-2:] == [3, engine.head.hash]
    lengths = [len(p) for p in params[:-2]]
    # journal 6 columns, created 13, resolved 4, entries 10, totals 5, records 4
    groups = [6, 13, 4, 10, 5, 4]
    sizes = []
    for width in groups:
        group, lengths = lengths[:width], lengths[width:]
        assert len(set(group)) == 1, group
        sizes.append(group[0])
    assert sizes == [3, 3, 0, 6, 2, 3]
