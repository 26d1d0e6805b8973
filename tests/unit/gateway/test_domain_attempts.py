"""Attempt records: what each provider call asked, got, took, and why it went there."""

from __future__ import annotations

import json

from gateway_svc.domain import routing
from gateway_svc.domain.attempts import (
    Attempt,
    Operation,
    Outcome,
    RequestSummary,
    RoutingRecord,
    Skipped,
    SkipReason,
)
from gateway_svc.domain.cards import CardBrand, CardSummary
from gateway_svc.domain.payments import MethodSummary
from gateway_svc.domain.providers import (
    ChargeStatus,
    Decline,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderCharge,
    ProviderError,
)
from tests.unit.gateway.domain_support import T0, T1

ROUTING = RoutingRecord(
    candidates=(Provider.STRIPE, Provider.AUTHORIZENET),
    position=1,
    skipped=(Skipped(Provider.RAZORPAY, SkipReason.CURRENCY_UNSUPPORTED),),
    rule="usd-cards",
)


def attempt() -> Attempt:
    return Attempt(
        id="att_1",
        payment_id="pay_1",
        operation=Operation.AUTHORIZE,
        provider=Provider.AUTHORIZENET,
        idempotency_key="att_1",
        request=RequestSummary(
            1_000, "USD", MethodSummary(card=CardSummary(CardBrand.VISA, "1111", 12, 2030))
        ),
        routing=ROUTING,
        started_at=T0,
    )


def round_trip(a: Attempt) -> Attempt:
    return Attempt.from_dict(json.loads(json.dumps(a.to_dict())))


def test_a_new_attempt_is_pending_and_survives_json():
    a = attempt()
    assert a.outcome is Outcome.PENDING and a.finished_at is None
    assert round_trip(a) == a


def test_a_success_records_the_providers_reference_and_latency():
    a = attempt().finish_with_charge(ProviderCharge("6001", ChargeStatus.AUTHORIZED), T1, 412)
    assert (a.outcome, a.provider_ref, a.latency_ms, a.finished_at) == (
        Outcome.SUCCEEDED,
        "6001",
        412,
        T1,
    )
    assert round_trip(a) == a


def test_a_declined_charge_is_a_declined_attempt_with_both_codes():
    decline = Decline(DeclineCode.GENERIC_DECLINE, "This transaction has been declined.", "2")
    a = attempt().finish_with_charge(
        ProviderCharge("6002", ChargeStatus.DECLINED, decline=decline), T1, 300
    )
    assert (a.outcome, a.error_kind, a.decline_code, a.raw_code) == (
        Outcome.DECLINED,
        ErrorKind.DECLINED,
        DeclineCode.GENERIC_DECLINE,
        "2",
    )
    assert round_trip(a) == a


def test_each_error_kind_becomes_its_outcome():
    expected = {
        ErrorKind.RETRIABLE: Outcome.RETRIABLE_ERROR,
        ErrorKind.UNKNOWN: Outcome.UNKNOWN,
        ErrorKind.INVALID: Outcome.INVALID,
        ErrorKind.DECLINED: Outcome.DECLINED,
    }
    for kind, outcome in expected.items():
        error = ProviderError(
            kind, DeclineCode.PROVIDER_UNAVAILABLE, "busy", raw_code="E1", http_status=503
        )
        a = attempt().finish_with_error(error, T1, 30_000)
        assert (a.outcome, a.error_kind, a.http_status, a.raw_code) == (outcome, kind, 503, "E1")
        assert round_trip(a) == a


def test_the_routing_decision_is_kept_whole():
    d = attempt().to_dict()["routing"]
    assert d == {
        "candidates": ["stripe", "authorizenet"],
        "position": 1,
        "skipped": [{"provider": "razorpay", "reason": "currency_unsupported"}],
        "rule": "usd-cards",
        "all_open": False,
    }


def test_a_routing_decision_is_recorded_with_this_attempts_position():
    decision = routing.RoutingDecision(
        candidates=(Provider.STRIPE, Provider.AUTHORIZENET),
        skipped=(routing.Skip(Provider.RAZORPAY, routing.SkipReason.CURRENCY_UNSUPPORTED),),
        rule_id="usd-cards",
    )
    assert RoutingRecord.of(decision, 1) == ROUTING
    shared = {r.value for r in routing.SkipReason}
    assert shared <= {r.value for r in SkipReason}


def test_the_stored_request_has_no_card_number_field():
    request = attempt().to_dict()["request"]
    assert request["card"] == {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2030}
    assert set(request) == {"amount_minor", "currency", "token_kind", "card"}
