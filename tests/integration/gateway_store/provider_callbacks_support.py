"""Test support for provider callbacks through the service layer (no tests here).

The callbacks are the sandbox's own: every simulator's event sink is caught (``Caught``) as
its state changes, which the gateway's use cases and the tests' out-of-band calls cause, and
each event is signed exactly as the sandbox's sender signs it (``sandbox.webhooks.providers``),
optionally forged (one bit of the MAC flipped) or stale (ten minutes old), then handed to
``ProviderCallbacks.receive`` as the servicer would hand it over. PayPal's are verified by the
sandbox's verify-webhook-signature, over TLS, with the PayPal adapter's own token.

Out-of-band changes (a capture, refund or void made at the provider directly, which the
gateway only learns about through its callback) go through the gateway's own adapter for the
provider, not through the gateway's use cases: for the provider they are calls like any other.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.paypal import PayPalConfig, PayPalProvider
from gateway_svc.adapters.providers.paypal_webhooks import PayPalWebhookVerifier
from gateway_svc.adapters.providers.stripe_amounts import from_stripe
from gateway_svc.adapters.webhook_records import InboundOutcome, ProviderEventRecord
from gateway_svc.domain.ledger_expected import (
    AccountTotals,
    HoldStage,
    PaymentFacts,
    RefundFacts,
    expected_balances,
)
from gateway_svc.domain.payments import CaptureMethod, Payment, PaymentStatus
from gateway_svc.domain.providers import Card, PaymentMethod, Provider
from gateway_svc.domain.providers import RefundStatus as ViewRefundStatus
from gateway_svc.service_layer.ports import FxProvider, PaymentProvider
from gateway_svc.service_layer.provider_callbacks import ProviderCallbacks, Receipt
from gateway_svc.service_layer.runtime import GatewayRuntime
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.views import charge_view
from gateway_svc.service_layer.wiring import build_provider_callbacks
from gateway_svc.settings import CurrencycloudSettings, GatewaySettings
from sandbox.testing import SandboxHandle
from sandbox.webhooks.events import Event, EventBuilder, EventSink
from sandbox.webhooks.providers import SIGNERS
from sandbox.webhooks.wire import Signing
from tests.integration.gateway_store.conftest import Gateway
from tests.integration.gateway_store.gateway_support import (
    AuditRecorder,
    LedgerRecorder,
    render_payment,
)
from tests.integration.gateway_store.test_service_create import create

STALE_S = 600
"""Ten minutes: twice the 300 s the timestamped schemes tolerate."""
ACTION = "gateway.provider_event.apply"
CARDS = {
    Provider.STRIPE: ("USD", PaymentMethod(card=Card("4242424242424242", 12, 2040, "123"))),
    Provider.AUTHORIZENET: ("USD", PaymentMethod(card=Card("4111111111111111", 12, 2040, "123"))),
    Provider.RAZORPAY: ("INR", PaymentMethod(token="token_saved1")),
    Provider.PAYPAL: ("USD", PaymentMethod(token="PAYPAL-VAULT-1")),
}
"""A method each provider authorizes, in a currency it takes (as test_service_create's)."""


class Caught:
    """Every event the sandbox's simulators emit, caught at their sinks, in order."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.sandbox = sandbox
        self.events: list[Event] = []
        for name in sandbox.running.sims:
            sink = getattr(sandbox.sim(name), "webhooks", None)
            if isinstance(sink, EventSink):
                sink.connect(self._listen)

    def _listen(self, build: EventBuilder) -> None:
        self.events.append(build())

    def take(self, provider: Provider | str = "") -> list[Event]:
        """The events caught since the last take (of ``provider`` only, when given)."""
        name = str(provider)
        taken = [e for e in self.events if not name or e.provider == name]
        self.events = [e for e in self.events if e not in taken]
        return taken


def signed(
    sandbox: SandboxHandle, event: Event, *, forged: bool = False, age_s: int = 0
) -> dict[str, str]:
    """The headers the sandbox's sender signs ``event`` with (forged: one MAC bit flipped)."""
    how = Signing(sandbox.config, int(time.time()) - age_s, forged)
    headers = SIGNERS[event.provider](event, how)
    return {**headers, "content-type": "application/json"}


async def deliver(
    callbacks: ProviderCallbacks,
    sandbox: SandboxHandle,
    event: Event,
    *,
    forged: bool = False,
    age_s: int = 0,
) -> Receipt:
    """Hand ``event`` to ``callbacks`` as the servicer would, signed as the sandbox signs it."""
    headers = signed(sandbox, event, forged=forged, age_s=age_s)
    return await callbacks.receive(event.provider, headers, event.body)


async def inbound_record(engine: AsyncEngine, event: Event) -> ProviderEventRecord | None:
    """The inbound record of ``event``, if any."""
    async with GatewayUnitOfWork(engine, read_only=True) as uow:
        return await uow.provider_events.get(event.provider, event.event_id)


async def inbound_outcome(engine: AsyncEngine, event: Event) -> InboundOutcome | None:
    """How the inbound record of ``event`` stands; None when there is none."""
    found = await inbound_record(engine, event)
    return None if found is None else found.outcome


@dataclass
class Hooks:
    """The callbacks use case on a test gateway, and what it is fed."""

    callbacks: ProviderCallbacks
    caught: Caught
    gateway: Gateway

    async def deliver(self, event: Event, *, forged: bool = False, age_s: int = 0) -> Receipt:
        """Hand one event over, signed as the sandbox signs it."""
        sandbox = self.gateway.sandbox
        return await deliver(self.callbacks, sandbox, event, forged=forged, age_s=age_s)

    async def deliver_all(self, events: list[Event]) -> list[Receipt]:
        return [await self.deliver(event) for event in events]

    async def record(self, event: Event) -> ProviderEventRecord | None:
        """The inbound record of ``event``, if any."""
        return await inbound_record(self.gateway.runtime.engine, event)

    async def payment(self, payment_id: str) -> Payment:
        return (await self.gateway.service.get_payment("m_1", payment_id)).payment

    async def authorized(self, provider: Provider, amount: int = 10_000) -> Payment:
        """A manual-capture payment at ``provider``, authorized through the gateway (its
        authorization's callbacks stay caught)."""
        currency, method = CARDS[provider]
        cmd = create(f"auth-{uuid.uuid4().hex}", amount=amount, currency=currency,
                     method=method, capture=CaptureMethod.MANUAL,
                     preferred_provider=provider)  # fmt: skip
        answer = await self.gateway.service.create_payment(cmd, render_payment)
        assert answer.result is not None
        payment = answer.result.payment
        assert (payment.provider, payment.status) == (provider, PaymentStatus.AUTHORIZED)
        return payment

    async def captured_elsewhere(
        self, provider: Provider, amount: int | None = None
    ) -> tuple[Payment, list[Event]]:
        """A payment authorized through the gateway, then captured at the provider directly:
        the payment as the gateway holds it (authorized), and the capture's callbacks."""
        payment = await self.authorized(provider)
        self.caught.take()
        await self.capture_at_provider(payment, amount)
        return payment, self.caught.take(provider)

    async def refunded_elsewhere(
        self, provider: Provider, amount: int
    ) -> tuple[Payment, list[Event]]:
        """As ``captured_elsewhere``, then refunded at the provider too: the payment (still
        authorized here) and the capture's and the refund's callbacks, in that order."""
        payment = await self.authorized(provider)
        self.caught.take()
        await self.capture_at_provider(payment)
        await self.refund_at_provider(await self.captured_at_provider(payment), amount)
        return payment, self.caught.take(provider)

    async def capture_at_provider(self, payment: Payment, amount: int | None = None) -> None:
        """Capture at the provider directly (the gateway is not told)."""
        adapter = self._adapter(payment)
        captured = amount or payment.authorized_minor
        await adapter.capture(charge_view(payment), captured, payment.currency, _key())

    async def refund_at_provider(self, payment: Payment, amount: int) -> None:
        """Refund at the provider directly; ``payment`` as the provider sees it after its
        capture (``captured_at_provider``)."""
        await self._adapter(payment).refund(charge_view(payment), amount, payment.currency, _key())

    async def cancel_at_provider(self, payment: Payment) -> None:
        await self._adapter(payment).cancel(charge_view(payment), _key())

    async def captured_at_provider(self, payment: Payment) -> Payment:
        """``payment`` with the provider's view after an out-of-band capture folded in (the
        ids a refund needs, such as PayPal's capture id), the stored payment untouched."""
        assert payment.provider is not None
        adapter = self._adapter(payment)
        view = await adapter.fetch(charge_view(payment))
        return replace(
            payment,
            status=PaymentStatus.CAPTURED,
            captured_minor=view.captured_minor,
            provider_refs={**payment.provider_refs, **view.refs},
        )

    def _adapter(self, payment: Payment) -> PaymentProvider:
        assert payment.provider is not None
        return self.gateway.runtime.providers[payment.provider]


def _key() -> str:
    return f"oob-{uuid.uuid4().hex}"


def callback_settings(sandbox: SandboxHandle) -> GatewaySettings:
    """The gateway's settings as far as callbacks go: the default webhook secrets (the
    sandbox's too), Currencycloud configured at the sandbox."""
    cc = CurrencycloudSettings(base_url=sandbox.base_url("currencycloud"))
    return GatewaySettings(plaintext=True, currencycloud=cc)


@asynccontextmanager
async def provider_callbacks(
    runtime: GatewayRuntime, sandbox: SandboxHandle, fx: FxProvider | None = None
) -> AsyncIterator[ProviderCallbacks]:
    """``ProviderCallbacks`` as the app wires it on ``runtime``: PayPal verified by the
    sandbox with the PayPal adapter's token (when ``runtime`` has that adapter)."""
    adapter = runtime.providers.get(Provider.PAYPAL)
    verifier = None
    if isinstance(adapter, PayPalProvider):
        cfg = sandbox.config
        http = HttpConfig(base_url=sandbox.base_url("paypal"), ca_file=str(sandbox.ca_file))
        config = PayPalConfig(http, cfg.paypal_client_id, cfg.paypal_client_secret)
        verifier = PayPalWebhookVerifier(config, cfg.paypal_webhook_id, tokens=adapter.tokens)
    callbacks = build_provider_callbacks(
        callback_settings(sandbox), runtime, stripe_units=from_stripe, paypal=verifier, fx=fx
    )
    try:
        yield callbacks
    finally:
        await callbacks.aclose()


def payment_facts(payment: Payment) -> PaymentFacts:
    """What the ledger must hold for ``payment``."""
    stage = {
        PaymentStatus.AUTHORIZED: HoldStage.HELD,
        PaymentStatus.CAPTURED: HoldStage.CAPTURED,
        PaymentStatus.PARTIALLY_CAPTURED: HoldStage.CAPTURED,
    }.get(payment.status, HoldStage.RELEASED)
    return PaymentFacts(
        payment.id, payment.merchant_id, payment.currency, stage,
        payment.authorized_minor, payment.captured_minor, payment.fee_minor or 0,
    )  # fmt: skip


async def books_match(gateway: Gateway, payment: Payment) -> dict[str, AccountTotals]:
    """After the relay drained: the recorder's totals of the payment's books, asserted equal
    to what the payment and its refunds say; the totals."""
    await gateway.relay.drain()
    refunds = (await gateway.service.list_refunds(payment.merchant_id, payment.id)).items
    facts = [
        RefundFacts(
            r.id, r.merchant_id, r.currency, r.amount_minor, ViewRefundStatus(r.status.value)
        )
        for r in refunds
    ]
    expected = expected_balances([payment_facts(payment)], facts)
    actual = {code: gateway.ledger.totals.get(code, AccountTotals()) for code in expected}
    assert actual == expected
    return actual


def audited(audit: AuditRecorder, target_prefix: str) -> list[str]:
    """The callback audit records about targets under ``target_prefix``, by event id."""
    return [
        e.event_id
        for e in audit.events.values()
        if e.action == ACTION and e.target.startswith(target_prefix)
    ]


def ledger_calls(ledger: LedgerRecorder, payment_id: str) -> list[tuple[str, str]]:
    """The ledger calls made for one payment's postings (their request ids start with it)."""
    return [(op, rid) for op, rid in ledger.calls if rid.startswith(payment_id)]
