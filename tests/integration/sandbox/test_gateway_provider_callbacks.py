"""The sandbox's own signed callbacks, read by the gateway: verified with the gateway's default
secrets, parsed into the references its adapters stored.

Each test drives real state changes through the gateway's adapter for one provider, catches
the events the simulator emits at its event sink, signs them as the sandbox's sender does, and
checks them with ``provider_signatures`` and ``provider_event_parsing``. This is the
cross-check of webhook_wire.md that neither side's unit tests can give: both sides implement
it independently. (PayPal's is test_gateway_paypal_verify.py.)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from gateway_svc.adapters.providers.authorizenet import AuthorizeNetConfig, AuthorizeNetProvider
from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.razorpay import RazorpayConfig, RazorpayProvider
from gateway_svc.adapters.providers.stripe import StripeConfig, StripeProvider
from gateway_svc.adapters.providers.stripe_amounts import from_stripe
from gateway_svc.domain.provider_event_parsing import parse_event
from gateway_svc.domain.provider_signatures import VERIFIERS
from gateway_svc.domain.provider_webhooks import EventKind, ProviderEvent, WebhookProvider
from gateway_svc.domain.providers import (
    AuthorizeCall,
    Card,
    PaymentMethod,
    ProviderCharge,
    ProviderRefund,
)
from gateway_svc.service_layer.ports import PaymentProvider
from gateway_svc.settings import (
    AuthorizeNetSettings,
    CurrencycloudSettings,
    RazorpaySettings,
    StripeSettings,
)
from sandbox.testing import SandboxHandle
from sandbox.webhooks import authorizenet, currencycloud, razorpay, stripe
from sandbox.webhooks.events import Event, EventBuilder, EventSink
from sandbox.webhooks.wire import Signing
from tests.integration.sandbox.test_currencycloud_adapter_support import (
    EUR_FOR_GBP,
    GB_DETAILS,
    client_for,
    control,
    payout,
)

VISA = "4242424242424242"
VISA_ANET = "4111111111111111"
"""Authorize.net's and Razorpay's approving test Visa."""
SIGNERS = {
    WebhookProvider.STRIPE: stripe.sign,
    WebhookProvider.AUTHORIZENET: authorizenet.sign,
    WebhookProvider.RAZORPAY: razorpay.sign,
    WebhookProvider.CURRENCYCLOUD: currencycloud.sign,
}
# The gateway's defaults: the same literals as the sandbox's, or no callback would verify.
SECRETS = {
    WebhookProvider.STRIPE: StripeSettings().webhook_secret,
    WebhookProvider.AUTHORIZENET: AuthorizeNetSettings().signature_key,
    WebhookProvider.RAZORPAY: RazorpaySettings().webhook_secret,
    WebhookProvider.CURRENCYCLOUD: CurrencycloudSettings().webhook_secret,
}


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["stripe", "authorizenet", "razorpay", "currencycloud"]


class Caught:
    """The events one simulator emits, verified and parsed as the gateway's route would."""

    def __init__(self, handle: SandboxHandle, provider: WebhookProvider) -> None:
        self.handle, self.provider = handle, provider
        self.events: list[Event] = []
        sink_of(handle.sim(provider.value)).connect(self._listen)

    def _listen(self, build: EventBuilder) -> None:
        self.events.append(build())

    def read(self) -> list[ProviderEvent]:
        """Every event so far: signed as the sandbox signs, verified, parsed."""
        found = []
        for event in self.events:
            now = int(time.time())
            headers = SIGNERS[self.provider](event, Signing(self.handle.config, now, False))
            secret = SECRETS[self.provider].get_secret_value()
            VERIFIERS[self.provider](secret, headers, event.body, datetime.now(UTC))
            parsed = parse_event(self.provider, headers, event.body, from_stripe_units=from_stripe)
            assert parsed.event_id == event.event_id  # the sender's dedupe id is ours
            found.append(parsed)
        return found


def sink_of(sim: object) -> EventSink:
    """The sink a simulator announces its state changes on (``sandbox.webhooks``); the
    ProviderSim protocol ``sim()`` is typed with does not name it."""
    sink = getattr(sim, "webhooks", None)
    assert isinstance(sink, EventSink), f"{sim!r} has no event sink"
    return sink


def http(handle: SandboxHandle, name: str) -> HttpConfig:
    return HttpConfig(base_url=handle.base_url(name), ca_file=str(handle.ca_file))


def call(key: str, number: str, amount: int, currency: str) -> AuthorizeCall:
    return AuthorizeCall(
        attempt_id=f"att_{key}",
        idempotency_key=key,
        amount_minor=amount,
        currency=currency,
        method=PaymentMethod(card=Card(number, 12, 2040, "123")),
        capture=False,
        description="paymesh callbacks",
        reference="order-42",
    )


@pytest.fixture
async def stripe_provider(sandbox_server: SandboxHandle) -> AsyncIterator[StripeProvider]:
    config = sandbox_server.config
    provider = StripeProvider(
        StripeConfig(http(sandbox_server, "stripe"), config.stripe_secret_key)
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def anet_provider(sandbox_server: SandboxHandle) -> AsyncIterator[AuthorizeNetProvider]:
    config = sandbox_server.config
    anet_config = AuthorizeNetConfig(
        http(sandbox_server, "authorizenet"),
        config.authorizenet_login_id,
        config.authorizenet_transaction_key,
    )
    provider = AuthorizeNetProvider(anet_config)
    yield provider
    await provider.aclose()


@pytest.fixture
async def razorpay_provider(sandbox_server: SandboxHandle) -> AsyncIterator[RazorpayProvider]:
    config = sandbox_server.config
    rzp_config = RazorpayConfig(
        http(sandbox_server, "razorpay"), config.razorpay_key_id, config.razorpay_key_secret
    )
    provider = RazorpayProvider(rzp_config)
    yield provider
    await provider.aclose()


MONEY_PATH = [EventKind.AUTHORIZED, EventKind.CAPTURED, EventKind.REFUND_SUCCEEDED]


def kinds(events: list[ProviderEvent]) -> list[EventKind]:
    return [event.kind for event in events]


async def money_path(
    provider: PaymentProvider, key: str, number: str, amounts: tuple[int, int, int], currency: str
) -> tuple[ProviderCharge, ProviderRefund]:
    """Authorize, capture and refund ``amounts`` through the gateway's adapter: the authorized
    charge (whose references the gateway stores) and the refund."""
    authorized, captured, refunded = amounts
    charge = await provider.authorize(call(key, number, authorized, currency))
    after_capture = await provider.capture(charge, captured, currency, f"{key}-capture")
    refund = await provider.refund(after_capture, refunded, currency, f"{key}-refund")
    return charge, refund


async def test_stripe_callbacks_name_the_intent_and_refund_the_adapter_stored(
    sandbox_server: SandboxHandle, stripe_provider: StripeProvider
) -> None:
    caught = Caught(sandbox_server, WebhookProvider.STRIPE)
    path = (1_000, 600, 200)
    charge, refund = await money_path(stripe_provider, "cb-stripe", VISA, path, "USD")

    events = caught.read()

    assert kinds(events)[:3] == MONEY_PATH
    assert {event.object_reference for event in events} == {charge.provider_ref}
    authorized, capture, refunded = events[:3]
    assert (authorized.amount_minor, authorized.request_reference) == (1_000, "att_cb-stripe")
    assert (capture.amount_minor, capture.captured_minor) == (600, 600)
    assert (refunded.refund_reference, refunded.refunded_minor) == (refund.provider_ref, 200)


async def test_authorizenet_callbacks_name_the_transactions_the_adapter_stored(
    sandbox_server: SandboxHandle, anet_provider: AuthorizeNetProvider
) -> None:
    caught = Caught(sandbox_server, WebhookProvider.AUTHORIZENET)
    path = (10_000, 6_000, 1_000)
    charge, refund = await money_path(anet_provider, "cb-anet", VISA_ANET, path, "USD")

    authorized, capture, refunded = caught.read()

    assert kinds([authorized, capture, refunded]) == MONEY_PATH
    assert authorized.object_reference == capture.object_reference == charge.provider_ref
    assert authorized.request_reference == charge.refs["invoice"]
    assert refunded.refund_reference == refund.provider_ref
    amounts = [e.amount_in("USD") for e in (authorized, capture, refunded)]
    assert amounts == [10_000, 6_000, 1_000]


async def test_razorpay_callbacks_name_the_payment_and_refund_the_adapter_stored(
    sandbox_server: SandboxHandle, razorpay_provider: RazorpayProvider
) -> None:
    caught = Caught(sandbox_server, WebhookProvider.RAZORPAY)
    path = (50_000, 50_000, 20_000)
    charge, refund = await money_path(razorpay_provider, "cb-rzp", VISA_ANET, path, "INR")

    authorized, capture, refunded = caught.read()

    assert kinds([authorized, capture, refunded]) == MONEY_PATH
    assert {authorized.object_reference, capture.object_reference} == {charge.provider_ref}
    assert refunded.object_reference == charge.provider_ref
    assert authorized.refs["order_id"] == charge.refs["order_id"]
    assert (refunded.refund_reference, refunded.amount_minor) == (refund.provider_ref, 20_000)
    assert refunded.refunded_minor == 20_000


async def test_currencycloud_callbacks_name_the_conversion_and_payouts_the_adapter_stored(
    sandbox_server: SandboxHandle,
) -> None:
    caught = Caught(sandbox_server, WebhookProvider.CURRENCYCLOUD)
    cc = client_for(sandbox_server)
    try:
        booked = await cc.create_conversion(EUR_FOR_GBP, "cb-conv")
        beneficiary = await cc.create_beneficiary(GB_DETAILS, "cb-ben")
        paid = await cc.create_payment(payout(beneficiary.provider_ref), "cb-pay")
        failing = payout(beneficiary.provider_ref, reference="SANDBOX_FAIL")
        failed = await cc.create_payment(failing, "cb-fail")
    finally:
        await cc.aclose()
    for path in (f"conversions/{booked.provider_ref}", f"payments/{paid.provider_ref}"):
        for _ in range(2):
            await control(sandbox_server, f"{path}/advance")
    for _ in range(2):
        await control(sandbox_server, f"payments/{failed.provider_ref}/advance")

    conversion, completed, failure = caught.read()

    assert (conversion.kind, conversion.object_reference) == (
        EventKind.CONVERSION_COMPLETED,
        booked.provider_ref,
    )
    assert (conversion.amount_minor, conversion.currency) == (booked.buy_amount_minor, "EUR")
    assert (conversion.sell_amount_minor, conversion.sell_currency) == (
        booked.sell_amount_minor,
        "GBP",
    )
    assert conversion.request_reference == booked.unique_request_id
    assert (completed.kind, completed.object_reference) == (
        EventKind.PAYOUT_COMPLETED,
        paid.provider_ref,
    )
    assert (completed.amount_minor, completed.currency) == (50_000, "GBP")
    assert (failure.kind, failure.object_reference) == (
        EventKind.PAYOUT_FAILED,
        failed.provider_ref,
    )
    assert failure.failure_reason


def test_every_signer_has_a_gateway_verifier() -> None:
    assert set(SIGNERS) == set(VERIFIERS)
