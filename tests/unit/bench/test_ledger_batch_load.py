"""The ledger batch bench's load: the gateway's two transactions per payment, and its books."""

from __future__ import annotations

from google.rpc import status_pb2

from bench.ledger_batch_load import Book, Payments, Step
from paymesh.ledger.v1 import ledger_pb2 as pb

BOOKS = [{"clearing": f"c{m}", "payable": f"p{m}", "provider_fees": f"f{m}"} for m in range(3)]


def test_each_payment_is_a_capture_and_a_provider_fee_with_the_gateways_request_ids() -> None:
    payments = Payments(Book(merchants=BOOKS), "seed")

    request, legs = payments.batch(4)

    assert request.mode == pb.BATCH_MODE_INDEPENDENT
    ids = [r.request_id for r in request.requests]
    assert [i.split(":", 1)[1] for i in ids] == ["capture:auto", "provider_fee"] * 2
    assert ids[0].split(":")[0] == ids[1].split(":")[0] != ids[2].split(":")[0]
    capture, fee = legs[0], legs[1]
    merchant = next(b for b in BOOKS if b["clearing"] == capture[0][0])
    assert [(a, side) for a, side, _ in capture] == [
        (merchant["clearing"], 0),
        (merchant["payable"], 1),
    ]
    assert [(a, side) for a, side, _ in fee] == [
        (merchant["provider_fees"], 0),
        (merchant["clearing"], 1),
    ]
    for item, item_legs in zip(request.requests, legs, strict=True):
        amounts = [e.amount.minor_units for e in item.transaction.entries]
        assert amounts == [amount for _, _, amount in item_legs] and amounts[0] == amounts[1]


def test_a_batch_size_may_split_a_payment_and_the_next_batch_goes_on_from_there() -> None:
    payments = Payments(Book(merchants=BOOKS), "seed")

    first, _ = payments.batch(3)
    second, _ = payments.batch(3)

    ids = [r.request_id for r in [*first.requests, *second.requests]]
    assert len(set(ids)) == 6
    assert ids[2].split(":")[0] == ids[3].split(":")[0]  # one payment across the two calls


def test_only_accepted_items_count_towards_the_expected_balances() -> None:
    book = Book(merchants=BOOKS)
    payments = Payments(book, "seed")
    _, legs = payments.batch(2)
    reply = pb.CreateTransactionsResponse()
    reply.results.add().transaction.id = "txn_1"
    reply.results.add().error.CopyFrom(status_pb2.Status(code=9, message="limit"))
    step = Step(batch=2, run=1, wall_s=1.0)

    made = payments.settle(step, reply, legs)

    assert made == 1
    (debited, _, amount), (credited, _, _) = legs[0]
    assert book.expected == {debited: [amount, 0], credited: [0, amount]}
    assert sum(step.errors.values()) == 1
