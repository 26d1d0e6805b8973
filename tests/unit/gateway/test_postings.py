"""Posting plans: the chart of accounts, each event's plan, and request ids."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway_svc.domain.ledger_accounts import (
    AccountRole,
    Books,
    LedgerAccountType,
    chart_of_accounts,
)
from gateway_svc.domain.postings import (
    DEFAULT_HOLD_TIMEOUT_S,
    CreateTransactionPlan,
    FeeSchedule,
    LedgerPlan,
    Leg,
    PostTransactionPlan,
    Side,
    VoidTransactionPlan,
    hold_timeout_s,
    plan_authorization_hold,
    plan_automatic_capture,
    plan_cancel,
    plan_capture,
    plan_capture_with_fee,
    plan_platform_fee,
    plan_provider_fee,
    plan_refund_failed,
    plan_refund_hold,
    plan_refund_succeeded,
)

BOOKS = Books("m_1", "USD")
FEES = FeeSchedule(bps=290, fixed_minor=30)
DAY = 86400.0


def code(role: AccountRole) -> str:
    return BOOKS.code(role)


def every_plan(pid: str = "pay_1", rid: str = "re_1") -> list[LedgerPlan]:
    """One plan of every kind, for a payment and a refund of it."""
    return [
        plan_authorization_hold(BOOKS, pid, 1000),
        *plan_capture_with_fee(BOOKS, pid, 800, FEES, held=True),
        plan_automatic_capture(BOOKS, pid, 1000),
        plan_cancel(pid),
        plan_refund_hold(BOOKS, rid, 300),
        *plan_refund_succeeded(BOOKS, rid, 300),
        plan_refund_failed(rid),
        *[p for p in [plan_provider_fee(BOOKS, pid, 59)] if p is not None],
    ]


# -- the chart of accounts -----------------------------------------------------------------


def test_each_merchant_currency_gets_five_accounts_with_documented_codes_and_types() -> None:
    chart = {spec.code: spec for spec in chart_of_accounts(BOOKS)}
    assert {code: spec.type for code, spec in chart.items()} == {
        "gw/m_1/USD/clearing": LedgerAccountType.ASSET,
        "gw/m_1/USD/payable": LedgerAccountType.LIABILITY,
        "gw/m_1/USD/fees": LedgerAccountType.REVENUE,
        "gw/m_1/USD/provider_fees": LedgerAccountType.EXPENSE,
        "gw/m_1/USD/refunds": LedgerAccountType.LIABILITY,
    }
    assert all(spec.currency == "USD" and spec.owner == "m_1" for spec in chart.values())


def test_only_the_payable_may_never_go_negative() -> None:
    flagged = [s.code for s in chart_of_accounts(BOOKS) if s.debits_must_not_exceed_credits]
    assert flagged == ["gw/m_1/USD/payable"]


def test_opening_the_chart_twice_asks_for_the_same_request_ids() -> None:
    assert chart_of_accounts(BOOKS) == chart_of_accounts(Books("m_1", "USD"))
    ids = [s.request_id for s in chart_of_accounts(BOOKS)]
    assert len(set(ids)) == 5 and ids[0] == "open:gw/m_1/USD/clearing"


def test_a_long_merchant_id_still_gets_a_short_deterministic_request_id() -> None:
    books = Books("m" * 170, "EUR")
    ids = [s.request_id for s in chart_of_accounts(books)]
    assert all(len(i) <= 128 for i in ids) and len(set(ids)) == 5
    assert ids == [s.request_id for s in chart_of_accounts(Books("m" * 170, "EUR"))]


@pytest.mark.parametrize(
    ("merchant", "currency", "message"),
    [
        ("m/1", "USD", "cannot appear"),
        ("", "USD", "cannot appear"),
        ("m_1", "usd", "ISO 4217"),
        ("m" * 190, "USD", "too long"),
    ],
)
def test_books_refuse_ids_the_ledger_code_rules_would_refuse(
    merchant: str, currency: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Books(merchant, currency)


# -- each event's plan ---------------------------------------------------------------------


def test_an_authorization_holds_clearing_against_payable_with_a_timeout() -> None:
    plan = plan_authorization_hold(BOOKS, "pay_1", 1000)
    assert plan.pending and plan.pending_timeout_s == DEFAULT_HOLD_TIMEOUT_S == 8 * DAY
    assert plan.legs == (
        Leg(code(AccountRole.CLEARING), Side.DEBIT, 1000),
        Leg(code(AccountRole.PAYABLE), Side.CREDIT, 1000),
    )
    assert plan.request_id == "pay_1:authorize:hold" and plan.external_ref == "pay_1"


def test_the_hold_outlives_the_providers_authorization_window() -> None:
    assert hold_timeout_s(7 * DAY) == 8 * DAY
    assert hold_timeout_s(400 * DAY) == 366 * DAY  # the ledger's maximum
    assert plan_authorization_hold(BOOKS, "p", 1, hold_timeout_s(30 * DAY)).pending_timeout_s == (
        31 * DAY
    )


def test_a_partial_capture_posts_the_captured_amount_of_the_hold() -> None:
    assert plan_capture("pay_1", 600) == PostTransactionPlan(
        "pay_1:capture", "pay_1:authorize:hold", 600
    )


def test_an_automatic_capture_posts_at_once_without_a_hold() -> None:
    plan = plan_automatic_capture(BOOKS, "pay_1", 1000)
    assert not plan.pending and plan.pending_timeout_s is None
    assert [leg.account_code for leg in plan.legs] == [
        code(AccountRole.CLEARING),
        code(AccountRole.PAYABLE),
    ]


def test_a_cancel_voids_the_hold() -> None:
    assert plan_cancel("pay_1") == VoidTransactionPlan("pay_1:cancel:void", "pay_1:authorize:hold")


def test_the_platform_fee_moves_from_payable_to_fees_rounded_half_up() -> None:
    plan = plan_platform_fee(BOOKS, "pay_1", 1050, FEES)
    # 1050 * 2.9 % = 30.45 -> 30, plus 30 fixed.
    assert plan is not None and plan.legs == (
        Leg(code(AccountRole.PAYABLE), Side.DEBIT, 60),
        Leg(code(AccountRole.FEES), Side.CREDIT, 60),
    )
    assert FeeSchedule(bps=50).fee_minor(100) == 1  # 0.5 rounds up


def test_no_fee_schedule_means_no_fee_posting() -> None:
    assert plan_platform_fee(BOOKS, "pay_1", 1000, FeeSchedule()) is None
    assert plan_capture_with_fee(BOOKS, "pay_1", 1000, FeeSchedule(), held=False) == (
        plan_automatic_capture(BOOKS, "pay_1", 1000),
    )


def test_a_fee_never_exceeds_the_capture() -> None:
    assert FeeSchedule(bps=100, fixed_minor=500).fee_minor(20) == 20


def test_a_refund_holds_payable_against_refunds_with_no_timeout() -> None:
    plan = plan_refund_hold(BOOKS, "re_1", 300)
    assert plan.pending and plan.pending_timeout_s is None
    assert plan.legs == (
        Leg(code(AccountRole.PAYABLE), Side.DEBIT, 300),
        Leg(code(AccountRole.REFUNDS), Side.CREDIT, 300),
    )


def test_a_succeeded_refund_posts_its_hold_then_pays_out_of_clearing() -> None:
    post, settle = plan_refund_succeeded(BOOKS, "re_1", 300)
    assert post == PostTransactionPlan("re_1:refund:post", "re_1:refund:hold")
    assert settle.legs == (
        Leg(code(AccountRole.REFUNDS), Side.DEBIT, 300),
        Leg(code(AccountRole.CLEARING), Side.CREDIT, 300),
    )


def test_a_failed_refund_voids_its_hold() -> None:
    assert plan_refund_failed("re_1") == VoidTransactionPlan("re_1:refund:void", "re_1:refund:hold")


def test_a_provider_fee_is_an_expense_paid_out_of_clearing() -> None:
    plan = plan_provider_fee(BOOKS, "pay_1", 59)
    assert plan is not None and plan.legs == (
        Leg(code(AccountRole.PROVIDER_FEES), Side.DEBIT, 59),
        Leg(code(AccountRole.CLEARING), Side.CREDIT, 59),
    )
    assert plan_provider_fee(BOOKS, "pay_1", 0) is None


# -- invariants over every plan ------------------------------------------------------------


def test_every_created_transaction_balances_in_its_one_currency() -> None:
    for plan in every_plan():
        if isinstance(plan, CreateTransactionPlan):
            debits = sum(leg.amount_minor for leg in plan.legs if leg.side is Side.DEBIT)
            credits = sum(leg.amount_minor for leg in plan.legs if leg.side is Side.CREDIT)
            assert debits == credits > 0
            assert all(leg.account_code.split("/")[2] == plan.currency for leg in plan.legs)


def test_request_ids_are_deterministic_and_unique_across_events() -> None:
    first, again = every_plan(), every_plan()
    assert first == again
    counts = Counter(plan.request_id for plan in first)
    assert all(n == 1 for n in counts.values()), counts


def test_request_ids_differ_between_payments() -> None:
    one = {p.request_id for p in every_plan("pay_1", "re_1")}
    two = {p.request_id for p in every_plan("pay_2", "re_2")}
    assert not one & two


def test_an_unbalanced_plan_cannot_be_built() -> None:
    with pytest.raises(AssertionError, match="unbalanced"):
        CreateTransactionPlan(
            "x", "USD", (Leg("a", Side.DEBIT, 5), Leg("b", Side.CREDIT, 4)), "bad"
        )


@pytest.mark.parametrize("amount", [0, -5, 10**15 + 1])
def test_amounts_outside_the_ledgers_range_are_refused(amount: int) -> None:
    with pytest.raises(ValueError, match="amount must be"):
        plan_automatic_capture(BOOKS, "pay_1", amount)


def test_a_request_id_the_ledger_would_refuse_is_refused_here() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        plan_cancel("pay 1")
    with pytest.raises(ValueError, match="printable ASCII"):
        plan_cancel("p" * 120)
