"""CreatePayment through the real adapters and the sandbox, on SQLite and PostgreSQL.

Covers automatic and manual capture on each provider, declines with their normalized codes,
3DS, what validation and routing refuse (and that a refusal stores nothing), and the ledger
postings and audit records each payment leaves once the outbox has drained.
"""

from __future__ import annotations

import dataclasses

import pytest

from gateway_svc.domain.attempts import Operation, Outcome
from gateway_svc.domain.errors import (
    PaymentNotFound,
    TestCardNotAllowed,
    ValidationFailed,
)
from gateway_svc.domain.payments import CaptureMethod, PaymentStatus
from gateway_svc.domain.providers import Card, DeclineCode, PaymentMethod, Provider
from gateway_svc.domain.routing import ProviderNotEligible
from gateway_svc.service_layer.commands import CreatePayment
from tests.integration.gateway_store.conftest import Gateway, GatewayFactory
from tests.integration.gateway_store.gateway_support import body, render_payment

VISA = "4242424242424242"


def card(number: str = VISA) -> PaymentMethod:
    return PaymentMethod(card=Card(number, 12, 2040, "123"))


def create(
    key: str = "req-1",
    *,
    amount: int = 1000,
    currency: str = "USD",
    method: PaymentMethod | None = None,
    capture: CaptureMethod = CaptureMethod.AUTOMATIC,
    merchant: str = "m_1",
    **extra: object,
) -> CreatePayment:
    return CreatePayment(
        merchant_id=merchant,
        actor_key_id="key_1",
        amount_minor=amount,
        currency=currency,
        method=method or card(),
        request_id=key,
        capture_method=capture,
        merchant_reference="order-42",
        description="two books",
        **({"metadata": {"order": "42", "razorpay_customer_id": "cust_1"}} | extra),  # type: ignore[arg-type]
    )


async def test_an_automatic_capture_is_captured_with_one_posting_and_one_audit_record(
    gateway: Gateway,
) -> None:
    answer = await gateway.service.create_payment(create(), render_payment)
    assert answer.response.status_code == 0 and not answer.replayed
    view = answer.result
    assert view is not None
    p = view.payment
    assert (p.status, p.provider, p.captured_minor) == (
        PaymentStatus.CAPTURED,
        Provider.STRIPE,
        1000,
    )
    assert [a.outcome for a in view.attempts] == [Outcome.SUCCEEDED]
    assert view.attempts[0].idempotency_key == view.attempts[0].id
    assert view.attempts[0].routing is not None and view.attempts[0].routing.rule == "cards"
    await gateway.relay.drain()
    # Stripe reports its fee with the charge: the provider fee is posted after the capture.
    assert [rid for _, rid in gateway.ledger.calls if rid.startswith(p.id)] == [
        f"{p.id}:capture:auto",
        f"{p.id}:provider_fee",
    ]
    assert gateway.ledger.totals["gw/m_1/USD/payable"].credits_posted == 1000
    assert p.fee_minor is not None
    assert gateway.ledger.totals["gw/m_1/USD/provider_fees"].debits_posted == p.fee_minor
    assert gateway.audit.actions() == ["gateway.payment.create"]
    event = next(iter(gateway.audit.events.values()))
    assert (event.actor.kind, event.actor.id, event.target) == (
        "api_key",
        "key_1",
        f"payments/{p.id}",
    )
    assert body(answer.response)["status"] == "captured"
    # The create renders the attempt it made without reading it back: what it answered is
    # what the store holds.
    assert await gateway.service.get_payment("m_1", p.id) == view


async def test_a_manual_capture_is_authorized_and_held_in_the_ledger(gateway: Gateway) -> None:
    answer = await gateway.service.create_payment(
        create(capture=CaptureMethod.MANUAL), render_payment
    )
    assert answer.result is not None
    p = answer.result.payment
    assert (p.status, p.authorized_minor, p.captured_minor) == (PaymentStatus.AUTHORIZED, 1000, 0)
    await gateway.relay.drain()
    [hold] = gateway.ledger.holds()
    assert (hold.request_id, hold.status) == (f"{p.id}:authorize:hold", "PENDING")
    assert gateway.ledger.totals["gw/m_1/USD/clearing"].debits_pending == 1000


@pytest.mark.parametrize(
    ("provider", "currency", "method"),
    [
        (
            Provider.AUTHORIZENET,
            "USD",
            PaymentMethod(card=Card("4111111111111111", 12, 2040, "123")),
        ),
        # Routing sends raw cards to providers with the RAW_CARDS capability only; Razorpay
        # takes its own saved-card tokens.
        (Provider.RAZORPAY, "INR", PaymentMethod(token="token_saved1")),
        (Provider.PAYPAL, "USD", PaymentMethod(token="PAYPAL-VAULT-1")),
    ],
)
async def test_every_provider_authorizes_through_the_same_use_case(
    gateway: Gateway, provider: Provider, currency: str, method: PaymentMethod
) -> None:
    cmd = create(currency=currency, method=method, capture=CaptureMethod.MANUAL,
                 preferred_provider=provider)  # fmt: skip
    answer = await gateway.service.create_payment(cmd, render_payment)
    assert answer.result is not None, body(answer.response)
    p = answer.result.payment
    assert (p.provider, p.status) == (provider, PaymentStatus.AUTHORIZED)
    assert p.provider_ref


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", DeclineCode.GENERIC_DECLINE),
        ("4000000000009995", DeclineCode.INSUFFICIENT_FUNDS),
        ("4000000000000069", DeclineCode.EXPIRED_CARD),
        ("4000000000000127", DeclineCode.INCORRECT_CVC),
    ],
)
async def test_a_decline_fails_the_payment_with_its_code_and_posts_nothing(
    gateway: Gateway, number: str, code: DeclineCode
) -> None:
    answer = await gateway.service.create_payment(create(method=card(number)), render_payment)
    assert answer.response.status_code == 0
    assert answer.result is not None
    p = answer.result.payment
    assert p.status is PaymentStatus.FAILED and p.decline is not None
    assert p.decline.code is code and p.decline.raw_code
    assert [a.outcome for a in answer.result.attempts] == [Outcome.DECLINED]
    await gateway.relay.drain()
    assert gateway.ledger.txs == {}
    [event] = gateway.audit.events.values()
    assert event.outcome.value == "failure" and event.reason == code.value.upper()


async def test_3ds_leaves_the_payment_requiring_action_with_a_check_scheduled(
    gateway: Gateway,
) -> None:
    answer = await gateway.service.create_payment(
        create(method=card("4000002500003155")), render_payment
    )
    assert answer.result is not None
    p = answer.result.payment
    assert p.status is PaymentStatus.REQUIRES_ACTION and p.action_url


async def test_validation_errors_are_raised_before_the_key_is_stored(gateway: Gateway) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await gateway.service.create_payment(create(amount=0), render_payment)
    assert refused.value.violations[0].field == "amount.minor_units"
    fixed = await gateway.service.create_payment(create(amount=500), render_payment)
    assert fixed.result is not None and fixed.result.payment.amount_minor == 500


async def test_a_missing_request_id_is_refused(gateway: Gateway) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await gateway.service.create_payment(create(key=""), render_payment)
    assert refused.value.violations[0].field == "request_id"


async def test_a_test_card_is_refused_when_every_provider_is_live(
    make_gateway: GatewayFactory, sandbox_server: object
) -> None:
    from tests.integration.gateway_store.gateway_support import sandbox_providers_for

    live = {}
    for name, adapter in sandbox_providers_for(sandbox_server).items():  # type: ignore[arg-type]
        config = adapter._config  # type: ignore[attr-defined]
        http = dataclasses.replace(config.http, sandbox=False)
        live[name] = type(adapter)(dataclasses.replace(config, http=http))  # type: ignore[call-arg]
        await adapter.aclose()
    gateway = make_gateway(providers=live)
    with pytest.raises(TestCardNotAllowed):
        await gateway.service.create_payment(create(), render_payment)
    # Refused before anything was stored: the same key works for a token payment.
    answer = await gateway.service.create_payment(
        create(method=PaymentMethod(token="pm_card_visa")), render_payment
    )
    assert answer.result is not None and answer.result.payment.status is PaymentStatus.CAPTURED


async def test_an_ineligible_preferred_provider_is_refused_and_not_stored(gateway: Gateway) -> None:
    with pytest.raises(ProviderNotEligible):
        await gateway.service.create_payment(
            create(currency="JPY", amount=500, preferred_provider=Provider.AUTHORIZENET),
            render_payment,
        )
    answer = await gateway.service.create_payment(
        create(currency="JPY", amount=500), render_payment
    )
    assert answer.result is not None and answer.result.payment.provider is Provider.STRIPE


async def test_another_merchants_payment_is_not_found(gateway: Gateway) -> None:
    answer = await gateway.service.create_payment(create(), render_payment)
    assert answer.result is not None
    pid = answer.result.payment.id
    assert (await gateway.service.get_payment("m_1", pid)).payment.id == pid
    with pytest.raises(PaymentNotFound) as other:
        await gateway.service.get_payment("m_2", pid)
    with pytest.raises(PaymentNotFound) as missing:
        await gateway.service.get_payment("m_2", "pay_missing")
    assert str(other.value).replace(pid, "X") == str(missing.value).replace("pay_missing", "X")
    views = await gateway.service.get_payment("m_1", pid)
    assert [a.operation for a in views.attempts] == [Operation.AUTHORIZE]
