"""Any sequence of payment events keeps the books balanced and matches expected_balances.

Hypothesis drives payments through authorization (manual or automatic capture), partial
capture, cancel, refunds that succeed, fail or stay pending, provider fees, and replays of
plans already sent. ``StubLedger`` applies the plans with the ledger's rules (four totals per
account, holds posted partially or voided once, request-id idempotency, the
debits_must_not_exceed_credits flag). After every step the stub's totals must equal what
``expected_balances`` computes from the payment and refund facts alone, every currency must
sum to zero, and no merchant's payable may be negative.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway_svc.domain.ledger_accounts import AccountRole, AccountSpec, Books, chart_of_accounts
from gateway_svc.domain.ledger_expected import (
    AccountTotals,
    HoldStage,
    PaymentFacts,
    RefundFacts,
    expected_balances,
)
from gateway_svc.domain.postings import (
    CreateTransactionPlan,
    FeeSchedule,
    LedgerPlan,
    PostTransactionPlan,
    Side,
    plan_authorization_hold,
    plan_cancel,
    plan_capture_with_fee,
    plan_provider_fee,
    plan_refund_failed,
    plan_refund_hold,
    plan_refund_succeeded,
)
from gateway_svc.domain.providers import RefundStatus

FEE_SCHEDULES = {"m_a": FeeSchedule(bps=290, fixed_minor=30), "m_b": FeeSchedule()}


class Refused(Exception):
    """The stub ledger refused a plan, as the real one would (LIMIT_EXCEEDED ...)."""


@dataclass
class StubLedger:
    """The ledger's posting rules in the fewest words; shares no code with the plans."""

    accounts: dict[str, AccountSpec] = field(default_factory=dict)
    totals: dict[str, AccountTotals] = field(default_factory=dict)
    holds: dict[str, CreateTransactionPlan] = field(default_factory=dict)
    seen: dict[str, LedgerPlan] = field(default_factory=dict)

    def open(self, spec: AccountSpec) -> None:
        self.accounts.setdefault(spec.code, spec)
        self.totals.setdefault(spec.code, AccountTotals())

    def apply(self, plan: LedgerPlan) -> None:
        if plan.request_id in self.seen:
            assert self.seen[plan.request_id] == plan, "same request id, different content"
            return
        if isinstance(plan, CreateTransactionPlan):
            self._create(plan)
        elif isinstance(plan, PostTransactionPlan):
            self._resolve(plan.hold_request_id, plan.amount_minor)
        else:
            self._resolve(plan.hold_request_id, 0)
        self.seen[plan.request_id] = plan

    def _add(self, plan: CreateTransactionPlan, amount: int | None, *, pending: bool) -> None:
        for leg in plan.legs:
            n = leg.amount_minor if amount is None else amount
            debit = leg.side is Side.DEBIT
            delta = AccountTotals(
                debits_posted=n if debit and not pending else 0,
                credits_posted=n if not debit and not pending else 0,
                debits_pending=n if debit and pending else 0,
                credits_pending=n if not debit and pending else 0,
            )
            self.totals[leg.account_code] = self.totals[leg.account_code].plus(delta)

    def _create(self, plan: CreateTransactionPlan) -> None:
        for leg in plan.legs:
            spec = self.accounts[leg.account_code]
            assert spec.currency == plan.currency
            t = self.totals[leg.account_code]
            over = t.debits_pending + t.debits_posted + leg.amount_minor > t.credits_posted
            if spec.debits_must_not_exceed_credits and leg.side is Side.DEBIT and over:
                raise Refused(f"LIMIT_EXCEEDED on {leg.account_code}")
        self._add(plan, None, pending=plan.pending)
        if plan.pending:
            self.holds[plan.request_id] = plan

    def _resolve(self, hold_id: str, post_amount: int | None) -> None:
        hold = self.holds.pop(hold_id)  # KeyError: not pending (resolved at most once)
        held = hold.legs[0].amount_minor
        self._add(hold, -held, pending=True)
        posted = held if post_amount is None else post_amount
        assert 0 <= posted <= held
        if posted:
            self._add(hold, posted, pending=False)


@dataclass
class Pay:
    books: Books
    manual: bool
    stage: HoldStage
    authorized: int
    captured: int = 0
    provider_fee: int = 0
    refunded: int = 0  # pending plus succeeded


class PostingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = StubLedger()
        self.payments: dict[str, Pay] = {}
        self.refunds: dict[str, tuple[str, int, RefundStatus]] = {}
        self.sent: list[LedgerPlan] = []

    def send(self, *plans: LedgerPlan | None) -> None:
        for plan in plans:
            if plan is not None:
                self.ledger.apply(plan)
                self.sent.append(plan)

    def pick(self, data: st.DataObject, ids: list[str]) -> str:
        return data.draw(st.sampled_from(sorted(ids)))

    @rule(
        merchant=st.sampled_from(["m_a", "m_b"]),
        currency=st.sampled_from(["USD", "JPY"]),
        amount=st.integers(1, 100_000),
        manual=st.booleans(),
    )
    def authorize(self, merchant: str, currency: str, amount: int, manual: bool) -> None:
        pid = f"pay_{len(self.payments)}"
        books = Books(merchant, currency)
        for spec in chart_of_accounts(books):
            self.ledger.open(spec)
        if manual:
            self.send(plan_authorization_hold(books, pid, amount))
            self.payments[pid] = Pay(books, True, HoldStage.HELD, amount)
        else:
            self.send(
                *plan_capture_with_fee(books, pid, amount, FEE_SCHEDULES[merchant], held=False)
            )
            self.payments[pid] = Pay(books, False, HoldStage.CAPTURED, amount, amount)

    def held(self) -> list[str]:
        return [k for k, p in self.payments.items() if p.stage is HoldStage.HELD]

    def captured(self) -> list[str]:
        return [k for k, p in self.payments.items() if p.captured > p.refunded]

    @precondition(lambda self: self.held())
    @rule(data=st.data(), share=st.floats(0.01, 1.0))
    def capture(self, data: st.DataObject, share: float) -> None:
        pay = self.payments[pid := self.pick(data, self.held())]
        amount = max(1, int(pay.authorized * share))
        schedule = FEE_SCHEDULES[pay.books.merchant_id]
        self.send(*plan_capture_with_fee(pay.books, pid, amount, schedule, held=True))
        pay.stage, pay.captured = HoldStage.CAPTURED, amount

    @precondition(lambda self: self.held())
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        pid = self.pick(data, self.held())
        self.send(plan_cancel(pid))
        self.payments[pid].stage = HoldStage.RELEASED

    @precondition(lambda self: self.captured())
    @rule(data=st.data(), share=st.floats(0.01, 1.0))
    def refund(self, data: st.DataObject, share: float) -> None:
        pay = self.payments[pid := self.pick(data, self.captured())]
        amount = max(1, int((pay.captured - pay.refunded) * share))
        rid = f"re_{len(self.refunds)}"
        payable = self.ledger.totals[pay.books.code(AccountRole.PAYABLE)]
        room = payable.credits_posted - payable.debits_posted - payable.debits_pending
        try:
            self.send(plan_refund_hold(pay.books, rid, amount))
        except Refused:
            # The flag refused it: only ever because the merchant's balance cannot cover it
            # (platform fees already taken out of this payment's capture).
            assert amount > room
            return
        assert amount <= room
        pay.refunded += amount
        self.refunds[rid] = (pid, amount, RefundStatus.PENDING)

    @precondition(lambda self: any(r[2] is RefundStatus.PENDING for r in self.refunds.values()))
    @rule(data=st.data(), succeed=st.booleans())
    def settle_refund(self, data: st.DataObject, succeed: bool) -> None:
        pending = [k for k, r in self.refunds.items() if r[2] is RefundStatus.PENDING]
        rid = self.pick(data, pending)
        pid, amount, _ = self.refunds[rid]
        books = self.payments[pid].books
        if succeed:
            self.send(*plan_refund_succeeded(books, rid, amount))
            self.refunds[rid] = (pid, amount, RefundStatus.SUCCEEDED)
        else:
            self.send(plan_refund_failed(rid))
            self.payments[pid].refunded -= amount
            self.refunds[rid] = (pid, amount, RefundStatus.FAILED)

    @precondition(lambda self: any(p.provider_fee == 0 for p in self.payments.values()))
    @rule(data=st.data(), fee=st.integers(1, 500))
    def provider_fee(self, data: st.DataObject, fee: int) -> None:
        unfeed = [k for k, p in self.payments.items() if p.provider_fee == 0]
        pay = self.payments[pid := self.pick(data, unfeed)]
        self.send(plan_provider_fee(pay.books, pid, fee))
        pay.provider_fee = fee

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        before = dict(self.ledger.totals)
        self.ledger.apply(data.draw(st.sampled_from(self.sent)))
        assert self.ledger.totals == before

    @invariant()
    def matches_expected_balances(self) -> None:
        facts = [
            PaymentFacts(pid, p.books.merchant_id, p.books.currency, p.stage, p.authorized,
                         p.captured, p.provider_fee)
            for pid, p in self.payments.items()
        ]  # fmt: skip
        refunds = [
            RefundFacts(rid, b.merchant_id, b.currency, amount, status)
            for rid, (pid, amount, status) in self.refunds.items()
            for b in [self.payments[pid].books]
        ]
        assert expected_balances(facts, refunds, FEE_SCHEDULES) == self.ledger.totals

    @invariant()
    def every_currency_sums_to_zero_and_payables_stay_positive(self) -> None:
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for code, t in self.ledger.totals.items():
            s = sums[self.ledger.accounts[code].currency]
            s[0] += t.debits_posted - t.credits_posted
            s[1] += t.debits_pending - t.credits_pending
            if self.ledger.accounts[code].debits_must_not_exceed_credits:
                assert t.credits_posted >= t.debits_posted + t.debits_pending
        assert all(s[0] == 0 and s[1] == 0 for s in sums.values())


PostingMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# About a second: 60 random histories of up to 30 events each.
TestPostingMachine = pytest.mark.slow(PostingMachine.TestCase)


def test_a_refund_beyond_the_merchants_balance_is_refused_by_the_payable_flag() -> None:
    ledger = StubLedger()
    books = Books("m_a", "USD")
    for spec in chart_of_accounts(books):
        ledger.open(spec)
    for plan in plan_capture_with_fee(books, "pay_1", 1000, FEE_SCHEDULES["m_a"], held=False):
        ledger.apply(plan)
    # 1000 captured, 59 platform fee: 941 left; a full refund cannot be covered.
    payable = ledger.totals[books.code(AccountRole.PAYABLE)]
    assert payable.posted(AccountRole.PAYABLE) == 941
    ledger.apply(plan_refund_hold(books, "re_1", 941))
    with pytest.raises(Refused, match="LIMIT_EXCEEDED on gw/m_a/USD/payable"):
        ledger.apply(plan_refund_hold(books, "re_2", 1))


def test_expected_balances_lists_zero_accounts_of_released_payments() -> None:
    facts = [PaymentFacts("pay_1", "m_b", "EUR", HoldStage.RELEASED, 500)]
    balances = expected_balances(facts, [])
    assert set(balances) == {Books("m_b", "EUR").code(r) for r in AccountRole}
    assert all(t == AccountTotals() for t in balances.values())


def test_a_replayed_create_with_changed_content_would_be_caught() -> None:
    ledger = StubLedger()
    books = Books("m_b", "USD")
    for spec in chart_of_accounts(books):
        ledger.open(spec)
    hold = plan_authorization_hold(books, "pay_1", 100)
    ledger.apply(hold)
    with pytest.raises(AssertionError, match="different content"):
        ledger.apply(replace(hold, description="other"))
