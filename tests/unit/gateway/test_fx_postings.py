"""Ledger plans of conversions and payouts: accounts, legs, balance per currency, request ids."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_svc.domain.conversions import Conversion, ConversionState, ConversionTransition
from gateway_svc.domain.fx_postings import (
    CurrencyLeg,
    MultiCurrencyTransactionPlan,
    ReverseTransactionPlan,
    fx_accounts,
    fx_position_code,
    merchant_balance_code,
    payout_clearing_code,
    payout_fees_code,
    plan_conversion_hold,
    plan_conversion_transition,
    plan_payout_transition,
)
from gateway_svc.domain.fx_provider import FixedSide, PaymentType
from gateway_svc.domain.ledger_accounts import (
    AccountRole,
    Books,
    LedgerAccountType,
    chart_of_accounts,
)
from gateway_svc.domain.payouts import Payout, PayoutState, PayoutTransition
from gateway_svc.domain.postings import (
    CreateTransactionPlan,
    PostTransactionPlan,
    Side,
    VoidTransactionPlan,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
C, P = ConversionState, PayoutState


def conversion(sell: str = "GBP", buy: str = "USD", sold: int = 10_000, bought: int = 12_345):
    return Conversion(
        id="conv_1",
        merchant_id="mer_1",
        quote_id="quo_1",
        buy_currency=buy,
        sell_currency=sell,
        fixed_side=FixedSide.SELL,
        buy_amount_minor=bought,
        sell_amount_minor=sold,
        client_rate="1.2345",
        mid_market_rate="1.2350",
        currency_pair=sell + buy,
        created_at=T0,
        updated_at=T0,
    )


def payout(fee_minor: int | None = None, fee_currency: str = "") -> Payout:
    return Payout(
        id="po_1",
        merchant_id="mer_1",
        beneficiary_id="ben_1",
        provider_beneficiary_id="cc_ben_1",
        amount_minor=50_000,
        currency="EUR",
        reason="invoice 42",
        reference="INV-42",
        payment_type=PaymentType.REGULAR,
        created_at=T0,
        updated_at=T0,
        fee_minor=fee_minor,
        fee_currency=fee_currency,
    )


def legs_of(plan: MultiCurrencyTransactionPlan | CreateTransactionPlan) -> list[CurrencyLeg]:
    """A plan's legs, each with its currency."""
    if isinstance(plan, MultiCurrencyTransactionPlan):
        return list(plan.legs)
    return [CurrencyLeg(g.account_code, plan.currency, g.side, g.amount_minor) for g in plan.legs]


def totals(plan: MultiCurrencyTransactionPlan | CreateTransactionPlan) -> dict[str, int]:
    """Net debit per currency of a plan: zero everywhere when it balances."""
    net: defaultdict[str, int] = defaultdict(int)
    for leg in legs_of(plan):
        net[leg.currency] += leg.amount_minor if leg.side is Side.DEBIT else -leg.amount_minor
    return dict(net)


# -- accounts ---------------------------------------------------------------------------------


def test_the_merchant_balance_is_the_payable_card_captures_credit():
    books = Books("mer_1", "USD")
    assert merchant_balance_code("mer_1", "USD") == books.code(AccountRole.PAYABLE)
    (payable,) = [a for a in chart_of_accounts(books) if a.code == books.code(AccountRole.PAYABLE)]
    assert payable.debits_must_not_exceed_credits and payable.type is LedgerAccountType.LIABILITY


def test_fx_accounts_open_payout_clearing_fees_and_the_platform_position():
    books = Books("mer_1", "EUR")
    specs = {s.code: s for s in fx_accounts(books)}
    assert set(specs) == {
        "gw/mer_1/EUR/payout_clearing",
        "gw/mer_1/EUR/payout_fees",
        "gw/platform/EUR/fx_position",
    }
    assert specs[payout_clearing_code(books)].type is LedgerAccountType.ASSET
    assert specs[payout_fees_code(books)].type is LedgerAccountType.REVENUE
    position = specs[fx_position_code("EUR")]
    assert (position.type, position.owner, position.currency) == (
        LedgerAccountType.ASSET,
        "platform",
        "EUR",
    )
    assert not any(s.debits_must_not_exceed_credits for s in specs.values())
    assert [s.request_id for s in fx_accounts(books)] == [s.request_id for s in specs.values()]
    assert all(s.request_id == f"open:{s.code}" for s in specs.values())


def test_the_platform_position_never_collides_with_a_merchants_books():
    merchant_codes = {a.code for a in chart_of_accounts(Books("platform", "EUR"))}
    assert fx_position_code("EUR") not in merchant_codes
    with pytest.raises(ValueError, match="ISO 4217"):
        fx_position_code("eur")


def test_long_merchant_ids_keep_request_ids_within_the_ledgers_limit():
    books = Books("m" * 170, "EUR")
    assert all(len(s.request_id) <= 128 for s in fx_accounts(books))
    with pytest.raises(ValueError, match="too long"):
        fx_accounts(Books("m" * 180, "EUR"))


# -- conversions ------------------------------------------------------------------------------


def test_a_conversion_is_one_transaction_with_two_balanced_currency_legs():
    plan = plan_conversion_hold(conversion())
    assert plan.request_id == "conv_1:conversion:hold" and plan.pending
    assert [(leg.account_code, leg.currency, leg.side, leg.amount_minor) for leg in plan.legs] == [
        ("gw/mer_1/GBP/payable", "GBP", Side.DEBIT, 10_000),
        ("gw/platform/GBP/fx_position", "GBP", Side.CREDIT, 10_000),
        ("gw/platform/USD/fx_position", "USD", Side.DEBIT, 12_345),
        ("gw/mer_1/USD/payable", "USD", Side.CREDIT, 12_345),
    ]
    assert totals(plan) == {"GBP": 0, "USD": 0}
    assert plan.external_ref == "conv_1" and plan.metadata["rate"] == "1.2345"


@given(
    st.sampled_from(["JPY", "USD", "KWD", "EUR"]),
    st.sampled_from(["GBP", "BHD", "KRW"]),
    st.integers(1, 10**15),
    st.integers(1, 10**15),
)
def test_every_conversion_plan_balances_per_currency(sell, buy, sold, bought):
    plan = plan_conversion_hold(conversion(sell, buy, sold, bought))
    assert totals(plan) == {sell: 0, buy: 0}
    assert set(plan.by_currency()) == {sell, buy}


def change(before: ConversionState | None, after: ConversionState) -> ConversionTransition:
    return ConversionTransition(before, after, T0 + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, C.PENDING, [("hold", MultiCurrencyTransactionPlan)]),
        (C.PENDING, C.AWAITING_FUNDS, [("post", PostTransactionPlan)]),
        (C.PENDING, C.FUNDS_ARRIVED, [("post", PostTransactionPlan)]),
        (C.PENDING, C.COMPLETED, [("post", PostTransactionPlan)]),
        (C.PENDING, C.FAILED, [("void", VoidTransactionPlan)]),
        (C.AWAITING_FUNDS, C.FUNDS_ARRIVED, []),
        (C.AWAITING_FUNDS, C.COMPLETED, []),
        (C.FUNDS_ARRIVED, C.COMPLETED, []),
        (C.AWAITING_FUNDS, C.FAILED, [("reverse", ReverseTransactionPlan)]),
        (C.FUNDS_ARRIVED, C.FAILED, [("reverse", ReverseTransactionPlan)]),
    ],
)
def test_each_conversion_transition_has_its_ledger_plan(before, after, expected):
    plans = plan_conversion_transition(conversion(), change(before, after))
    assert [(p.request_id, type(p)) for p in plans] == [
        (f"conv_1:conversion:{event}", kind) for event, kind in expected
    ]
    for plan in plans:
        if isinstance(plan, PostTransactionPlan):
            assert (plan.hold_request_id, plan.amount_minor) == ("conv_1:conversion:hold", None)
        elif isinstance(plan, VoidTransactionPlan):
            assert plan.hold_request_id == "conv_1:conversion:hold"
        elif isinstance(plan, ReverseTransactionPlan):
            assert plan.original_request_id == "conv_1:conversion:hold"


def test_an_unbalanced_multi_currency_plan_never_leaves_the_domain():
    legs = (
        CurrencyLeg("a", "GBP", Side.DEBIT, 10),
        CurrencyLeg("b", "GBP", Side.CREDIT, 10),
        CurrencyLeg("c", "USD", Side.DEBIT, 12),
        CurrencyLeg("d", "USD", Side.CREDIT, 11),
    )
    with pytest.raises(AssertionError, match="unbalanced"):
        MultiCurrencyTransactionPlan("conv_1:conversion:hold", legs, "bad")
    with pytest.raises(ValueError, match="request id"):
        ReverseTransactionPlan("has space", "conv_1:conversion:hold")


# -- payouts ----------------------------------------------------------------------------------


def payout_change(before: PayoutState | None, after: PayoutState) -> PayoutTransition:
    return PayoutTransition(before, after, T0 + timedelta(seconds=1))


def test_a_payout_holds_its_amount_from_the_merchants_balance():
    (hold,) = plan_payout_transition(payout(), payout_change(None, P.PENDING))
    assert isinstance(hold, CreateTransactionPlan)
    assert (hold.request_id, hold.pending, hold.pending_timeout_s) == (
        "po_1:payout:hold",
        True,
        None,
    )
    assert [(leg.account_code, leg.side, leg.amount_minor) for leg in hold.legs] == [
        ("gw/mer_1/EUR/payable", Side.DEBIT, 50_000),
        ("gw/mer_1/EUR/payout_clearing", Side.CREDIT, 50_000),
    ]
    assert totals(hold) == {"EUR": 0}


def test_completion_posts_the_hold_and_charges_the_fee_in_its_currency():
    post, fee = plan_payout_transition(payout(150, "GBP"), payout_change(P.SUBMITTED, P.COMPLETED))
    assert isinstance(post, PostTransactionPlan) and isinstance(fee, CreateTransactionPlan)
    assert (post.request_id, post.hold_request_id, post.amount_minor) == (
        "po_1:payout:post",
        "po_1:payout:hold",
        None,
    )
    assert (fee.request_id, fee.currency, fee.pending) == ("po_1:payout:fee", "GBP", False)
    assert [(leg.account_code, leg.side, leg.amount_minor) for leg in fee.legs] == [
        ("gw/mer_1/GBP/payable", Side.DEBIT, 150),
        ("gw/mer_1/GBP/payout_fees", Side.CREDIT, 150),
    ]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (P.PENDING, P.SUBMITTED, []),
        (P.PENDING, P.COMPLETED, ["po_1:payout:post"]),
        (P.SUBMITTED, P.COMPLETED, ["po_1:payout:post"]),
        (P.PENDING, P.FAILED, ["po_1:payout:void"]),
        (P.SUBMITTED, P.FAILED, ["po_1:payout:void"]),
        (P.PENDING, P.CANCELED, ["po_1:payout:void"]),
        (P.SUBMITTED, P.CANCELED, ["po_1:payout:void"]),
    ],
)
def test_each_payout_transition_has_its_ledger_plan(before, after, expected):
    plans = plan_payout_transition(payout(), payout_change(before, after))
    assert [p.request_id for p in plans] == expected
    assert all(
        p.hold_request_id == "po_1:payout:hold"
        for p in plans
        if isinstance(p, PostTransactionPlan | VoidTransactionPlan)
    )


def test_request_ids_are_deterministic_and_unique_per_event():
    first = [
        *plan_conversion_transition(conversion(), change(None, C.PENDING)),
        *plan_payout_transition(payout(5), payout_change(P.SUBMITTED, P.COMPLETED)),
    ]
    again = [
        *plan_conversion_transition(conversion(), change(None, C.PENDING)),
        *plan_payout_transition(payout(5), payout_change(P.SUBMITTED, P.COMPLETED)),
    ]
    assert first == again
    ids = Counter(p.request_id for p in first)
    assert max(ids.values()) == 1


def test_a_conversion_then_a_payout_leave_the_merchants_balances_as_expected():
    """Every created transaction posted, on a tiny model: credits minus debits per account."""
    conv, pay = conversion("GBP", "EUR", 10_000, 11_500), payout(150, "EUR")
    plans = [
        plan_conversion_hold(conv),
        *plan_payout_transition(pay, payout_change(None, P.PENDING)),
        *plan_payout_transition(pay, payout_change(P.SUBMITTED, P.COMPLETED)),
    ]
    balance: defaultdict[tuple[str, str], int] = defaultdict(int)
    for plan in plans:
        if isinstance(plan, MultiCurrencyTransactionPlan | CreateTransactionPlan):
            for leg in legs_of(plan):
                sign = 1 if leg.side is Side.CREDIT else -1
                balance[leg.currency, leg.account_code] += sign * leg.amount_minor
    assert balance["GBP", "gw/mer_1/GBP/payable"] == -10_000  # the ledger's flag needs GBP first
    assert balance["EUR", "gw/mer_1/EUR/payable"] == 11_500 - 50_000 - 150
    assert balance["EUR", "gw/mer_1/EUR/payout_fees"] == 150
    assert balance["EUR", "gw/mer_1/EUR/payout_clearing"] == 50_000
    for currency in ("GBP", "EUR"):
        assert sum(v for (cur, _), v in balance.items() if cur == currency) == 0
