"""The service layer's pure helpers: fingerprints, request ids, method kinds, settling a
payment after phase c, the reconciler's schedule. No I/O."""

from __future__ import annotations

import dataclasses

import pytest

from gateway_svc.adapters.audit_client import AuditClient
from gateway_svc.adapters.ledger_client import LedgerClient
from gateway_svc.domain.attempts import Attempt, Operation, RequestSummary
from gateway_svc.domain.capabilities import MethodKind
from gateway_svc.domain.errors import NoProviderAvailable, ValidationFailed
from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.domain.providers import (
    Card,
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    PaymentMethod,
    Provider,
    ProviderError,
)
from gateway_svc.service_layer.authorize_step import AuthResult
from gateway_svc.service_layer.choosing import method_kind
from gateway_svc.service_layer.commands import CreatePayment
from gateway_svc.service_layer.create_flow import (
    create_error,
    create_fingerprint,
    settle_authorization,
)
from gateway_svc.service_layer.executor import Step
from gateway_svc.service_layer.keys import check_request_id
from gateway_svc.service_layer.ports import AuditPort, LedgerPort
from gateway_svc.service_layer.views import charge_view
from tests.unit.gateway.domain_support import T0, T1, S, payment, view

CMD = CreatePayment(
    merchant_id="m_1",
    actor_key_id="key_1",
    amount_minor=1000,
    currency="USD",
    method=PaymentMethod(card=Card("4242424242424242", 12, 2040, "123")),
    request_id="req-1",
    metadata={"a": "1", "b": "2"},
)


def attempt() -> Attempt:
    p = payment()
    return Attempt("att_1", p.id, Operation.AUTHORIZE, Provider.STRIPE, "att_1",
                   RequestSummary(p.amount_minor, p.currency, p.method), None, T0)  # fmt: skip


def test_the_fingerprint_follows_what_the_request_does_not_how_it_is_spelt() -> None:
    reordered = dataclasses.replace(CMD, metadata={"b": "2", "a": "1"})
    assert create_fingerprint(reordered) == create_fingerprint(CMD)
    assert create_fingerprint(dataclasses.replace(CMD, amount_minor=1001)) != create_fingerprint(
        CMD
    )
    other_cvc = dataclasses.replace(
        CMD, method=PaymentMethod(card=Card("4242424242424242", 12, 2040, "999"))
    )
    assert create_fingerprint(other_cvc) == create_fingerprint(CMD)  # the CVC is never part of it


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9"])
def test_a_bad_or_missing_required_request_id_is_a_violation(key: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_request_id(key, required=True)
    assert refused.value.violations[0].field == "request_id"


def test_an_optional_request_id_may_be_empty_but_not_malformed() -> None:
    check_request_id("", required=False)  # raises ValidationFailed if refused
    with pytest.raises(ValidationFailed):
        check_request_id("has space", required=False)


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        (PaymentMethod(card=Card("4242424242424242", 1, 2040, "123")), MethodKind.CARD),
        (PaymentMethod(token="pm_card_visa"), MethodKind.CARD),
        (PaymentMethod(token="token_abc"), MethodKind.CARD),
        (PaymentMethod(token="PAYPAL-VAULT-1"), MethodKind.WALLET),
        (PaymentMethod(token="7YH53119ML8957234"), MethodKind.WALLET),
    ],
)
def test_method_kinds(method: PaymentMethod, kind: MethodKind) -> None:
    assert method_kind(method) is kind


def test_an_answer_moves_the_payment_to_the_providers_state() -> None:
    p = payment()
    result = AuthResult(attempt(), Step.DONE, view(ChargeStatus.AUTHORIZED))
    events = settle_authorization(p, result, T1)
    assert p.status is PaymentStatus.AUTHORIZED and p.provider is Provider.STRIPE
    assert [e.kind for e in events] == ["payment.authorized"]


def test_an_unknown_outcome_marks_the_payment_unknown() -> None:
    p = payment()
    settle_authorization(p, AuthResult(attempt(), Step.UNKNOWN), T1)
    assert p.status is PaymentStatus.UNKNOWN and create_error(p) is None


def test_no_provider_left_fails_the_payment_and_stands_for_no_provider_available() -> None:
    p = payment()
    error = ProviderError(
        ErrorKind.RETRIABLE, DeclineCode.PROVIDER_UNAVAILABLE, "503", raw_code="503"
    )
    settle_authorization(p, AuthResult(attempt(), Step.FAIL_OVER, None, error), T1)
    assert p.status is PaymentStatus.FAILED and p.decline is not None
    assert (p.decline.code, p.decline.raw_code) == (DeclineCode.PROVIDER_UNAVAILABLE, "503")
    assert isinstance(create_error(p), NoProviderAvailable)


def test_the_charge_view_of_a_stored_payment_names_it_for_the_provider() -> None:
    p = payment(S.PARTIALLY_CAPTURED)
    p.provider_refs = {"order_id": "order_1"}
    charge = charge_view(p)
    assert (charge.provider_ref, charge.status, charge.captured_minor) == (
        "pi_1",
        ChargeStatus.CAPTURED,
        2500,
    )
    assert charge.refs == {"order_id": "order_1"}


def test_the_gateways_own_clients_satisfy_the_relays_ports() -> None:
    # Checked by mypy (this module is type-checked): the app passes the clients as they are.
    def ledger(client: LedgerClient) -> LedgerPort:
        return client

    def audit(client: AuditClient) -> AuditPort:
        return client

    del ledger, audit
    assert {"ensure_accounts", "create_transaction", "post", "void"} <= set(dir(LedgerClient))
    assert "record" in dir(AuditClient)
