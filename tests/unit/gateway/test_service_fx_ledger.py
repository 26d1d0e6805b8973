"""The ledger side of conversions and payouts without I/O: their outbox payloads (the
multi-currency create, the reverse, the FX accounts flag) and the balances the ledger must
hold for them (``expected_balances``), replayed through a tiny in-memory ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from gateway_svc.domain.conversions import ConversionTransition, open_conversion
from gateway_svc.domain.fx import Quote
from gateway_svc.domain.fx_postings import (
    ReverseTransactionPlan,
    fx_position_code,
    payout_clearing_code,
    payout_fees_code,
    plan_conversion_hold,
    plan_conversion_transition,
)
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.ledger_accounts import AccountRole, Books
from gateway_svc.domain.ledger_expected import (
    AccountTotals,
    ConversionFacts,
    PayoutFacts,
    TransactionStage,
    conversion_facts,
    expected_balances,
)
from gateway_svc.domain.postings import PostTransactionPlan
from gateway_svc.service_layer.ledger_payloads import (
    payload_books,
    payload_opens_fx,
    payload_plan,
    plan_payload,
)
from gateway_svc.service_layer.relay_apply import transaction_entries

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
QUOTE = Quote("quo_1", "m_1", "EUR", "GBP", FixedSide.BUY, 100_000, 86_000, "0.86", "0.86",
              "0.8587", "EURGBP", 0, T0, T0 + timedelta(seconds=30), "cnv_1")  # fmt: skip
GBP, EUR = Books("m_1", "GBP"), Books("m_1", "EUR")
S = TransactionStage


def test_a_conversions_two_leg_hold_survives_the_outbox_round_trip() -> None:
    hold = plan_conversion_hold(open_conversion("cnv_1", QUOTE, T0))

    payload = plan_payload(hold, GBP, fx=True)

    assert payload["op"] == "create_multi" and payload_opens_fx(payload)
    assert payload_plan(payload) == hold and payload_books(payload) == GBP
    assert transaction_entries(hold) == [
        (GBP.code(AccountRole.PAYABLE), "DEBIT", 86_000, "GBP"),
        (fx_position_code("GBP"), "CREDIT", 86_000, "GBP"),
        (fx_position_code("EUR"), "DEBIT", 100_000, "EUR"),
        (EUR.code(AccountRole.PAYABLE), "CREDIT", 100_000, "EUR"),
    ]


def test_a_reverse_names_the_posted_transaction_by_its_request_id() -> None:
    reverse = ReverseTransactionPlan("cnv_1:conversion:reverse", "cnv_1:conversion:hold")

    payload = plan_payload(reverse, GBP)

    assert payload["op"] == "reverse" and not payload_opens_fx(payload)
    assert payload_plan(payload) == reverse
    with pytest.raises(ValueError, match="unknown ledger payload op"):
        payload_plan({**payload, "op": "transfer"})


def test_a_booked_conversion_posts_its_hold_and_a_later_close_reverses_it() -> None:
    c = open_conversion("cnv_1", QUOTE, T0)
    booked = ConversionTransition(c.status, c.status.AWAITING_FUNDS, T0)
    closed = ConversionTransition(c.status.FUNDS_ARRIVED, c.status.FAILED, T0)
    [post] = plan_conversion_transition(c, booked)
    [reverse] = plan_conversion_transition(c, closed)
    assert isinstance(post, PostTransactionPlan) and isinstance(reverse, ReverseTransactionPlan)
    assert payload_plan(plan_payload(post, GBP, fx=True)) == post


def _replayed(
    conversions: list[ConversionFacts], payouts: list[PayoutFacts]
) -> dict[str, AccountTotals]:
    """A tiny ledger applying each fact's own transaction at its stage (no zero accounts)."""
    out: dict[str, AccountTotals] = defaultdict(AccountTotals)

    def move(code: str, debit: bool, amount: int, stage: TransactionStage) -> None:
        pending, posted = stage is S.HELD, stage in (S.POSTED, S.REVERSED)
        t = AccountTotals(
            debits_posted=amount if posted and (debit or stage is S.REVERSED) else 0,
            credits_posted=amount if posted and (not debit or stage is S.REVERSED) else 0,
            debits_pending=amount if pending and debit else 0,
            credits_pending=amount if pending and not debit else 0,
        )
        out[code] = out[code].plus(t)

    for c in conversions:
        sell, buy = Books(c.merchant_id, c.sell_currency), Books(c.merchant_id, c.buy_currency)
        move(sell.code(AccountRole.PAYABLE), True, c.sell_minor, c.stage)
        move(fx_position_code(c.sell_currency), False, c.sell_minor, c.stage)
        move(fx_position_code(c.buy_currency), True, c.buy_minor, c.stage)
        move(buy.code(AccountRole.PAYABLE), False, c.buy_minor, c.stage)
    for p in payouts:
        books = Books(p.merchant_id, p.currency)
        move(books.code(AccountRole.PAYABLE), True, p.amount_minor, p.stage)
        move(payout_clearing_code(books), False, p.amount_minor, p.stage)
        if p.fee_minor:
            fee = Books(p.merchant_id, p.fee_currency)
            move(fee.code(AccountRole.PAYABLE), True, p.fee_minor, S.POSTED)
            move(payout_fees_code(fee), False, p.fee_minor, S.POSTED)
    return dict(out)


def test_expected_balances_of_conversions_and_payouts_at_every_stage() -> None:
    conversions = [
        ConversionFacts(f"cnv_{s.value}", "m_1", "GBP", 86_000, "EUR", 100_000, s) for s in S
    ]
    payouts = [
        PayoutFacts("po_1", "m_1", "GBP", 5_000, S.HELD),
        PayoutFacts("po_2", "m_1", "GBP", 7_000, S.POSTED, 7, "GBP"),
        PayoutFacts("po_3", "m_1", "GBP", 9_000, S.POSTED, 3, "USD"),
        PayoutFacts("po_4", "m_1", "GBP", 4_000, S.RELEASED),
    ]

    expected = expected_balances([], [], conversions=conversions, payouts=payouts)

    replayed = _replayed(conversions, payouts)
    assert {c: t for c, t in expected.items() if t != AccountTotals()} == replayed
    assert expected[GBP.code(AccountRole.PAYABLE)] == AccountTotals(
        debits_posted=86_000 * 2 + 7_000 + 7 + 9_000, credits_posted=86_000,
        debits_pending=86_000 + 5_000,
    )  # fmt: skip
    usd = Books("m_1", "USD")
    assert expected[payout_fees_code(usd)] == AccountTotals(credits_posted=3)
    assert expected[usd.code(AccountRole.REFUNDS)] == AccountTotals()  # books listed whole


def test_a_conversions_facts_follow_its_status() -> None:
    c = open_conversion("cnv_1", QUOTE, T0)
    assert conversion_facts(c).stage is S.HELD
    c.fail("INSUFFICIENT_FUNDS: no", T0)
    assert conversion_facts(c).stage is S.RELEASED
