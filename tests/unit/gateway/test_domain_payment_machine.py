"""A payment and its refunds under random provider views, merchant requests and refund outcomes.

Hypothesis drives the commands; a view may be anything a provider could send, including
nonsense (amounts over the payment, states that cannot follow). The invariants hold after every
step: captured <= authorized <= amount, refunded <= captured, pending + succeeded refunds <=
captured, a final status never changes, a refused command changes nothing, the same view twice
emits nothing, and each money movement is reported exactly once (the events add up to the
amounts the payment holds, as a ledger fed by them would).
"""

from __future__ import annotations

import copy
from collections import Counter

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gateway_svc.domain import errors, refunds
from gateway_svc.domain.events import (
    PaymentAuthorized,
    PaymentCanceled,
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
    RefundFailed,
    RefundSucceeded,
)
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import (
    ChargeStatus,
    Decline,
    DeclineCode,
    Provider,
    ProviderRefund,
)
from gateway_svc.domain.providers import RefundStatus as ViewStatus
from tests.unit.gateway.domain_support import AMOUNT, T1, payment, view

# 0 means "the provider left the amount out", which is the common case, so it comes often.
# A hundred random runs of 25 steps take a second or two: more than a unit test should.
pytestmark = pytest.mark.slow

amounts = st.sampled_from([0, 0, 0, 1, AMOUNT // 4, AMOUNT // 2, AMOUNT - 1, AMOUNT, AMOUNT + 1])
sane_captures = st.sampled_from([0, 1, AMOUNT // 2, AMOUNT])
views = st.builds(
    view,
    st.sampled_from(ChargeStatus),
    authorized_minor=amounts,
    captured_minor=amounts,
    fee_minor=st.none() | st.sampled_from([0, 30, 45]),
)
DECLINE = Decline(DeclineCode.PROCESSING_ERROR, "refund failed", "x")
STARTS = {
    PaymentStatus.CREATED,
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.AUTHORIZED,
    PaymentStatus.UNKNOWN,
}
ONCE = (PaymentAuthorized, PaymentCaptured, PaymentCanceled, PaymentFailed)


class PaymentMachine(RuleBasedStateMachine):
    """One payment, bound to Stripe, with every event it ever emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.p: Payment = payment(PaymentStatus.UNKNOWN)
        self.refunds: list[refunds.Refund] = []
        self.events: list[PaymentEvent] = []
        self.final_status: PaymentStatus | None = None

    def guarded(self, command, *args) -> list[PaymentEvent] | None:
        """Run a command; a refusal must leave the payment and its refunds as they were."""
        before = copy.deepcopy((self.p, self.refunds))
        try:
            out: list[PaymentEvent] = command(*args)
        except errors.GatewayError:
            assert (self.p, self.refunds) == before, "a refused command changed state"
            return None
        self.events += out
        return out

    @initialize(status=st.sampled_from(sorted(STARTS)))
    def start(self, status):
        self.p = payment(status)
        if self.p.authorized_minor:
            # The hold of a payment that starts AUTHORIZED was reported before we watched.
            self.events.append(PaymentAuthorized(self.p.id, T1, self.p.authorized_minor, "USD"))

    @rule(charge=views)
    def provider_view(self, charge):
        stripe = Provider.STRIPE
        if self.guarded(self.p.apply_provider_view, charge, T1, stripe) is None:
            return
        again = copy.deepcopy(self.p)
        assert self.p.apply_provider_view(charge, T1, stripe) == [], "a view emitted twice"
        assert self.p == again, "a view changed the payment twice"

    @rule(captured=sane_captures)
    def provider_reports_a_capture(self, captured):
        """A plausible capture view, so captured payments and their refunds are reached often."""
        self.provider_view(view(ChargeStatus.CAPTURED, captured_minor=captured))

    @rule(amount=st.none() | amounts)
    def merchant_captures(self, amount):
        def capture() -> list[PaymentEvent]:
            to_capture = self.p.ensure_capturable(amount)
            return self.p.apply_provider_view(
                view(ChargeStatus.CAPTURED, captured_minor=to_capture), T1
            )

        self.guarded(capture)

    @rule()
    def merchant_cancels(self):
        def cancel() -> list[PaymentEvent]:
            self.p.ensure_cancelable()
            if self.p.provider is None:
                # No provider was ever asked: there is nothing to void.
                return self.p.cancel(T1)
            return self.p.apply_provider_view(view(ChargeStatus.CANCELED), T1)

        self.guarded(cancel)

    @rule()
    def a_call_times_out(self):
        self.guarded(self.p.mark_unknown, T1)

    @rule(amount=st.none() | amounts)
    def merchant_refunds(self, amount):
        def open_one() -> list[PaymentEvent]:
            r = refunds.open_refund(self.p, self.refunds, f"r{len(self.refunds)}", amount, T1)
            self.refunds.append(r)
            return []

        self.guarded(open_one)

    @precondition(lambda self: self.refunds)
    @rule(data=st.data(), status=st.sampled_from(ViewStatus))
    def provider_settles_a_refund(self, data, status):
        r = data.draw(st.sampled_from(self.refunds))
        seen = ProviderRefund(f"re_{r.id}", status, r.amount_minor)
        if self.guarded(refunds.apply_refund_view, self.p, r, seen, T1) is not None:
            assert refunds.apply_refund_view(self.p, r, seen, T1) == []

    @precondition(lambda self: self.refunds)
    @rule(data=st.data())
    def refund_call_fails(self, data):
        r = data.draw(st.sampled_from(self.refunds))
        self.guarded(refunds.fail, r, DECLINE, T1)

    @invariant()
    def amounts_stay_in_order(self):
        p = self.p
        assert 0 <= p.captured_minor <= p.authorized_minor <= p.amount_minor
        assert 0 <= p.refunded_minor <= p.captured_minor
        assert refunds.refund_total(self.refunds) <= p.captured_minor

    @invariant()
    def a_final_status_never_changes(self):
        if self.final_status is not None:
            assert self.p.status is self.final_status
        elif self.p.is_final:
            self.final_status = self.p.status

    @invariant()
    def each_money_movement_is_reported_once(self):
        counts = Counter(type(e) for e in self.events)
        assert all(counts[kind] <= 1 for kind in ONCE), counts
        settled = Counter(
            e.refund_id for e in self.events if isinstance(e, RefundSucceeded | RefundFailed)
        )
        assert all(n == 1 for n in settled.values()), settled

    @invariant()
    def the_events_add_up_to_the_payment(self):
        def total(kind: type[PaymentEvent], attr: str) -> int:
            return sum(getattr(e, attr) for e in self.events if isinstance(e, kind))

        p = self.p
        assert total(PaymentAuthorized, "amount_minor") == p.authorized_minor
        assert total(PaymentCaptured, "amount_minor") == p.captured_minor
        assert total(RefundSucceeded, "amount_minor") == p.refunded_minor
        released = total(PaymentCaptured, "released_minor") + total(
            PaymentCanceled, "released_minor"
        )
        if p.status in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_CAPTURED):
            assert p.captured_minor + released == p.authorized_minor
        if p.status is PaymentStatus.CANCELED:
            assert released == p.authorized_minor


PaymentMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=25, deadline=None)
TestPaymentMachine = PaymentMachine.TestCase
