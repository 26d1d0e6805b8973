"""Which ledger postings a payment's events make, and their outbox payloads. No I/O."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway_svc.domain.capabilities import DAY_S
from gateway_svc.domain.ledger_accounts import Books
from gateway_svc.domain.postings import (
    CreateTransactionPlan,
    FeeSchedule,
    LedgerPlan,
    PostTransactionPlan,
    VoidTransactionPlan,
)
from gateway_svc.domain.providers import ChargeStatus, Provider, ProviderRefund, RefundStatus
from gateway_svc.domain.refunds import apply_refund_view, open_refund
from gateway_svc.domain.routing import default_table
from gateway_svc.service_layer.effects import hold_timeout_s, ledger_plans
from gateway_svc.service_layer.ledger_payloads import payload_books, payload_plan, plan_payload
from gateway_svc.service_layer.relay_apply import audit_event
from tests.unit.gateway.domain_support import AMOUNT, T0, T1, S, payment, view

NO_FEE = FeeSchedule()
HOLD_S = 8 * DAY_S


def ids(plans: Sequence[LedgerPlan]) -> list[str]:
    return [p.request_id for p in plans]


def test_a_manual_authorization_places_a_hold_that_outlives_the_providers_window() -> None:
    p = payment()
    events = p.apply_provider_view(view(ChargeStatus.AUTHORIZED), T1, Provider.STRIPE)
    [hold] = ledger_plans(p, events, NO_FEE, hold_timeout_s(p, default_table()))
    assert isinstance(hold, CreateTransactionPlan)
    assert (hold.request_id, hold.pending) == ("pay_1:authorize:hold", True)
    assert hold.pending_timeout_s == 7 * DAY_S + DAY_S  # Stripe's 7 days plus a day's margin


def test_a_capture_after_a_hold_posts_the_hold_and_charges_the_platform_fee() -> None:
    p = payment(S.AUTHORIZED)
    events = p.apply_provider_view(view(ChargeStatus.CAPTURED, captured_minor=4000), T1)
    plans = ledger_plans(p, events, FeeSchedule(bps=100), HOLD_S)
    assert ids(plans) == ["pay_1:capture", "pay_1:capture:fee"]
    post = plans[0]
    assert isinstance(post, PostTransactionPlan) and post.amount_minor == 4000


def test_authorization_and_capture_together_post_once_without_a_hold() -> None:
    p = payment()
    captured = view(ChargeStatus.CAPTURED, authorized_minor=AMOUNT, captured_minor=AMOUNT,
                    fee_minor=320)  # fmt: skip
    events = p.apply_provider_view(captured, T1, Provider.STRIPE)
    assert ids(ledger_plans(p, events, NO_FEE, HOLD_S)) == [
        "pay_1:capture:auto",
        "pay_1:provider_fee",
    ]


@pytest.mark.parametrize(
    ("status", "expected"), [(S.AUTHORIZED, ["pay_1:cancel:void"]), (S.CREATED, [])]
)
def test_a_cancel_voids_a_hold_only_when_there_is_one(status: S, expected: list[str]) -> None:
    p = payment(status)
    events = p.cancel(T1)
    plans = ledger_plans(p, events, NO_FEE, HOLD_S)
    assert ids(plans) == expected
    assert all(isinstance(plan, VoidTransactionPlan) for plan in plans)


def test_a_refund_posts_its_hold_and_settles_clearing_or_voids_the_hold() -> None:
    p = payment(S.CAPTURED)
    ok = open_refund(p, [], "re_1", 1000, T0)
    events = apply_refund_view(p, ok, ProviderRefund("re_x", RefundStatus.SUCCEEDED, 1000), T1)
    assert ids(ledger_plans(p, events, NO_FEE, HOLD_S)) == [
        "re_1:refund:post",
        "re_1:refund:settle",
    ]
    bad = open_refund(p, [ok], "re_2", 1000, T0)
    events = apply_refund_view(p, bad, ProviderRefund("re_y", RefundStatus.FAILED, 1000), T1)
    assert ids(ledger_plans(p, events, NO_FEE, HOLD_S)) == ["re_2:refund:void"]


def test_a_decline_or_an_unknown_outcome_posts_nothing() -> None:
    p = payment()
    assert ledger_plans(p, p.mark_unknown(T1), NO_FEE, HOLD_S) == []


def test_every_plan_survives_its_outbox_payload() -> None:
    books = Books("m_1", "USD")
    p = payment()
    events = p.apply_provider_view(view(ChargeStatus.AUTHORIZED), T1, Provider.STRIPE)
    plans = ledger_plans(p, events, NO_FEE, HOLD_S)
    p2 = payment(S.AUTHORIZED)
    plans += ledger_plans(p2, p2.apply_provider_view(view(ChargeStatus.CAPTURED), T1),
                          FeeSchedule(fixed_minor=5), HOLD_S)  # fmt: skip
    plans += ledger_plans(p2, payment(S.AUTHORIZED).cancel(T1), NO_FEE, HOLD_S)
    assert len({type(plan) for plan in plans}) == 3
    for plan in plans:
        payload = plan_payload(plan, books)
        assert payload_plan(payload) == plan
        assert payload_books(payload) == books


def test_an_audit_payload_becomes_the_audit_clients_event() -> None:
    payload = {
        "event_id": "gwe_1",
        "event_time": T0.isoformat(),
        "actor": {"kind": "api_key", "id": "key_1", "merchant_id": "m_1"},
        "action": "gateway.payment.create",
        "target": "payments/pay_1",
        "merchant_id": "m_1",
        "outcome": "failure",
        "reason": "INSUFFICIENT_FUNDS",
        "request_id": "req-1",
        "details": {"status": "failed"},
    }
    event = audit_event(payload)
    assert (event.event_id, event.event_time, event.actor.id) == ("gwe_1", T0, "key_1")
    assert (event.outcome.value, event.reason, event.details) == (
        "failure",
        "INSUFFICIENT_FUNDS",
        {"status": "failed"},
    )
