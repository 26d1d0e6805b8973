"""Provider callbacks through the service layer, on SQLite and PostgreSQL, with the sandbox's
own signed events (provider_callbacks_support): what each kind applies, replays, events out
of order with the ledger checked, forged and stale signatures, an apply that fails and its
retry, and callbacks about nothing of ours.

Every out-of-band change (a capture, refund or void made at the provider, which the gateway
is not told about) reaches the payment only through its callback here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway_svc.adapters.webhook_records import InboundOutcome
from gateway_svc.domain.errors import (
    ProviderUnavailable,
    WebhookObjectNotYetKnown,
    WebhookProviderNotFound,
    WebhookSignatureInvalid,
    WebhookTimestampOutOfTolerance,
)
from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.domain.providers import AuthorizeCall, Provider
from gateway_svc.domain.refunds import RefundStatus
from gateway_svc.service_layer.provider_callbacks import Receipt
from gateway_svc.service_layer.provider_callbacks_payments import NOT_OURS
from sandbox.webhooks.events import Event
from sandbox.webhooks.stripe import stripe_event
from tests.integration.gateway_store.conftest import Gateway, GatewayFactory
from tests.integration.gateway_store.gateway_support import render_payment, render_refund
from tests.integration.gateway_store.provider_callbacks_support import (
    CARDS,
    STALE_S,
    Caught,
    Hooks,
    audited,
    books_match,
    ledger_calls,
    provider_callbacks,
)
from tests.integration.gateway_store.test_service_create import card, create
from tests.integration.gateway_store.test_service_mutations import capture, refund

CARD_PROVIDERS = [Provider.STRIPE, Provider.AUTHORIZENET, Provider.RAZORPAY, Provider.PAYPAL]
PROCESSED, IGNORED, FAILED = InboundOutcome.PROCESSED, InboundOutcome.IGNORED, InboundOutcome.FAILED


@pytest.fixture
async def hooks(gateway: Gateway) -> AsyncIterator[Hooks]:
    caught = Caught(gateway.sandbox)
    async with provider_callbacks(gateway.runtime, gateway.sandbox) as callbacks:
        yield Hooks(callbacks, caught, gateway)


async def outcomes(hooks: Hooks, events: list[Event]) -> list[InboundOutcome | None]:
    records = [await hooks.record(event) for event in events]
    return [r.outcome if r is not None else None for r in records]


@pytest.mark.parametrize("provider", CARD_PROVIDERS)
async def test_a_capture_made_at_the_provider_reaches_the_payment_by_its_callback(
    hooks: Hooks, provider: Provider
) -> None:
    payment, events = await hooks.captured_elsewhere(provider)

    receipts = await hooks.deliver_all(events)

    settled = await hooks.payment(payment.id)
    assert (settled.status, settled.captured_minor) == (PaymentStatus.CAPTURED, 10_000)
    assert [r.duplicate for r in receipts] == [False] * len(events)
    assert PROCESSED in await outcomes(hooks, events)
    gateway = hooks.gateway
    await books_match(gateway, settled)
    assert f"{payment.id}:capture" in gateway.ledger.by_request
    assert len(audited(gateway.audit, f"payments/{payment.id}")) == 1


@pytest.mark.parametrize("provider", CARD_PROVIDERS)
async def test_callbacks_of_the_gateways_own_changes_are_recorded_and_change_nothing(
    hooks: Hooks, provider: Provider
) -> None:
    gateway = hooks.gateway
    payment = await hooks.authorized(provider)
    await gateway.service.capture_payment(capture(payment.id, None, "c-1"), render_payment)
    await gateway.service.create_refund(refund(payment.id, 2_000, "r-1"), render_refund)
    before = await hooks.payment(payment.id)
    books = await books_match(gateway, before)
    events = hooks.caught.take(provider)
    assert len(events) >= 3  # authorized, captured, refunded at least

    await hooks.deliver_all(events)

    after = await hooks.payment(payment.id)
    assert (after.version, after.refunded_minor) == (before.version, 2_000)
    assert set(await outcomes(hooks, events)) == {IGNORED}
    assert await books_match(gateway, after) == books
    assert audited(gateway.audit, "payments/") == []


async def test_a_replayed_callback_is_answered_as_a_duplicate_and_applied_once(
    hooks: Hooks,
) -> None:
    payment, [event] = await hooks.captured_elsewhere(Provider.STRIPE, 6_000)
    first = await hooks.deliver(event)
    await hooks.gateway.relay.drain()
    applied = await hooks.payment(payment.id)
    calls = ledger_calls(hooks.gateway.ledger, payment.id)

    again = await hooks.deliver(event)

    assert (first, again) == (Receipt(event.event_id, False), Receipt(event.event_id, True))
    await hooks.gateway.relay.drain()
    assert ledger_calls(hooks.gateway.ledger, payment.id) == calls
    replayed = await hooks.payment(payment.id)
    assert (replayed.version, replayed.status) == (
        applied.version,
        PaymentStatus.PARTIALLY_CAPTURED,
    )
    assert len(audited(hooks.gateway.audit, f"payments/{payment.id}")) == 1


@pytest.mark.parametrize("provider", [Provider.STRIPE, Provider.RAZORPAY])
async def test_a_refund_callback_before_its_capture_callback_ends_captured_and_refunded(
    hooks: Hooks, provider: Provider
) -> None:
    # Stripe's Charge carries its captured total; Razorpay's refund event does not, so the
    # gateway asks Razorpay what was captured.
    payment, events = await hooks.refunded_elsewhere(provider, 3_000)
    assert len(events) == 2

    await hooks.deliver_all(list(reversed(events)))

    settled = await hooks.payment(payment.id)
    assert (settled.status, settled.captured_minor, settled.refunded_minor) == (
        PaymentStatus.CAPTURED,
        10_000,
        3_000,
    )
    [made] = (await hooks.gateway.service.list_refunds("m_1", payment.id)).items
    assert (made.status, made.amount_minor) == (RefundStatus.SUCCEEDED, 3_000)
    assert made.provider_ref
    assert await outcomes(hooks, events) == [IGNORED, PROCESSED]  # capture late: nothing new
    await books_match(hooks.gateway, settled)


async def test_a_void_made_at_the_provider_cancels_the_payment_and_releases_its_hold(
    hooks: Hooks,
) -> None:
    payment = await hooks.authorized(Provider.PAYPAL)
    hooks.caught.take()
    await hooks.cancel_at_provider(payment)
    [event] = hooks.caught.take(Provider.PAYPAL)

    await hooks.deliver(event)

    canceled = await hooks.payment(payment.id)
    assert canceled.status is PaymentStatus.CANCELED
    totals = await books_match(hooks.gateway, canceled)
    assert totals["gw/m_1/USD/clearing"].debits_pending == 0


@pytest.mark.parametrize(
    ("provider", "forged", "age_s", "error"),
    [
        (Provider.STRIPE, True, 0, WebhookSignatureInvalid),
        (Provider.STRIPE, False, STALE_S, WebhookTimestampOutOfTolerance),
        (Provider.AUTHORIZENET, True, 0, WebhookSignatureInvalid),
        (Provider.RAZORPAY, True, 0, WebhookSignatureInvalid),
        (Provider.PAYPAL, True, 0, WebhookSignatureInvalid),
        (Provider.PAYPAL, False, STALE_S, WebhookSignatureInvalid),
    ],
)
async def test_a_forged_or_stale_callback_is_refused_and_changes_nothing(
    hooks: Hooks,
    provider: Provider,
    forged: bool,
    age_s: int,
    error: type[WebhookSignatureInvalid],
) -> None:
    payment, [event, *_] = await hooks.captured_elsewhere(provider)

    with pytest.raises(error):
        await hooks.deliver(event, forged=forged, age_s=age_s)

    assert await hooks.record(event) is None
    unchanged = await hooks.payment(payment.id)
    assert (unchanged.status, unchanged.version) == (PaymentStatus.AUTHORIZED, payment.version)


async def test_a_callback_that_cannot_be_applied_is_kept_failed_and_its_retry_applies_it(
    hooks: Hooks,
) -> None:
    sandbox = hooks.gateway.sandbox
    payment, [_, refunded] = await hooks.refunded_elsewhere(Provider.RAZORPAY, 1_000)
    # The refund arrives first and needs Razorpay's payment, which Razorpay cannot serve now.
    reads = {"provider": "razorpay", "path": "/v1/payments/", "method": "GET"}
    await sandbox.control.add_fault(**reads, kind="error", status=503, count=-1)
    with pytest.raises(ProviderUnavailable):
        await hooks.deliver(refunded)
    assert await outcomes(hooks, [refunded]) == [FAILED]
    assert (await hooks.payment(payment.id)).status is PaymentStatus.AUTHORIZED
    await sandbox.control.clear_faults()

    retried = await hooks.deliver(refunded)

    assert retried == Receipt(refunded.event_id, False)
    assert await outcomes(hooks, [refunded]) == [PROCESSED]
    settled = await hooks.payment(payment.id)
    assert (settled.status, settled.refunded_minor) == (PaymentStatus.CAPTURED, 1_000)
    await books_match(hooks.gateway, settled)


async def test_a_paypal_refund_ahead_of_its_unknown_capture_is_retried_after_the_capture(
    hooks: Hooks,
) -> None:
    # PayPal's refund names only its capture, which the gateway learns from the capture's
    # own callback: until then the refund is answered 503 and kept for PayPal's retry.
    payment, [captured, refunded] = await hooks.refunded_elsewhere(Provider.PAYPAL, 2_500)
    with pytest.raises(WebhookObjectNotYetKnown):
        await hooks.deliver(refunded)
    assert await outcomes(hooks, [refunded]) == [FAILED]

    await hooks.deliver(captured)
    retried = await hooks.deliver(refunded)

    assert not retried.duplicate
    assert await outcomes(hooks, [captured, refunded]) == [PROCESSED, PROCESSED]
    settled = await hooks.payment(payment.id)
    assert (settled.status, settled.refunded_minor) == (PaymentStatus.CAPTURED, 2_500)
    await books_match(hooks.gateway, settled)


async def test_an_unknown_payment_is_settled_by_its_callback_found_by_our_attempt_id(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(timeout_s=0.15)
    caught = Caught(gateway.sandbox)
    await gateway.sandbox.control.add_fault(provider="stripe", kind="commit_then_timeout",
                                            path="/v1/payment_intents", method="POST",
                                            count=-1)  # fmt: skip
    answer = await gateway.service.create_payment(create("unknown-1"), render_payment)
    assert answer.result is not None
    unknown = answer.result.payment
    assert (unknown.status, unknown.provider_ref) == (PaymentStatus.UNKNOWN, "")
    await gateway.sandbox.control.clear_faults()
    [event] = caught.take(Provider.STRIPE)

    async with provider_callbacks(gateway.runtime, gateway.sandbox) as callbacks:
        await Hooks(callbacks, caught, gateway).deliver(event)

    settled = (await gateway.service.get_payment("m_1", unknown.id)).payment
    assert (settled.status, settled.captured_minor) == (PaymentStatus.CAPTURED, 1_000)
    assert settled.provider_ref.startswith("pi_")
    await books_match(gateway, settled)


async def test_a_callback_about_a_payment_made_elsewhere_is_recorded_as_not_ours(
    hooks: Hooks,
) -> None:
    currency, method = CARDS[Provider.STRIPE]
    elsewhere = AuthorizeCall("att_elsewhere", "elsewhere-1", 500, currency, method, True)
    await hooks.gateway.runtime.providers[Provider.STRIPE].authorize(elsewhere)
    [event] = hooks.caught.take(Provider.STRIPE)

    receipt = await hooks.deliver(event)

    record = await hooks.record(event)
    assert receipt == Receipt(event.event_id, False)
    assert record is not None and (record.outcome, record.error) == (IGNORED, NOT_OURS)
    assert record.raw_body == event.body
    assert set(record.headers) == {"stripe-signature", "content-type"}


async def test_an_event_type_the_gateway_does_not_act_on_is_recorded_as_ignored(
    hooks: Hooks,
) -> None:
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

    receipt = await hooks.deliver(event)
    again = await hooks.deliver(event)

    assert (receipt.duplicate, again.duplicate) == (False, True)
    assert await outcomes(hooks, [event]) == [IGNORED]


async def test_a_provider_that_is_unknown_or_not_configured_is_not_found(hooks: Hooks) -> None:
    with pytest.raises(WebhookProviderNotFound):
        await hooks.callbacks.receive("adyen", {}, b"{}")
    # No FX provider given to this gateway's callbacks: Currencycloud's are not taken.
    with pytest.raises(WebhookProviderNotFound):
        await hooks.callbacks.receive("currencycloud", {}, b"{}")


async def test_a_decline_at_the_provider_fails_an_unknown_payment(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(timeout_s=0.15)
    caught = Caught(gateway.sandbox)
    await gateway.sandbox.control.add_fault(provider="stripe", kind="commit_then_timeout",
                                            path="/v1/payment_intents", method="POST",
                                            count=-1)  # fmt: skip
    cmd = create("declined-1", method=card("4000000000000002"))
    answer = await gateway.service.create_payment(cmd, render_payment)
    assert answer.result is not None and answer.result.payment.status is PaymentStatus.UNKNOWN
    await gateway.sandbox.control.clear_faults()
    [event] = caught.take(Provider.STRIPE)

    async with provider_callbacks(gateway.runtime, gateway.sandbox) as callbacks:
        await Hooks(callbacks, caught, gateway).deliver(event)

    failed = (await gateway.service.get_payment("m_1", answer.result.payment.id)).payment
    assert failed.status is PaymentStatus.FAILED
    assert failed.decline is not None and failed.decline.raw_code == "generic_decline"
    await books_match(gateway, failed)
