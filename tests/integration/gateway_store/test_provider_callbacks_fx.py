"""Currencycloud's callbacks through the service layer, on SQLite and PostgreSQL: a settled
conversion, a completed and a failed payout reach the gateway by their notifications (read
back from the provider, followed with the status poller's transitions, the ledger checked);
a replay, a notification the provider cannot be asked about and its retry, and one about a
conversion made elsewhere. The events are the sandbox's own (provider_callbacks_support)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from gateway_svc.adapters.webhook_records import InboundOutcome
from gateway_svc.domain.conversions import Conversion, ConversionState
from gateway_svc.domain.errors import ProviderUnavailable, WebhookTimestampOutOfTolerance
from gateway_svc.domain.fx import QuoteRequest
from gateway_svc.domain.fx_provider import ConversionTerms, FixedSide
from gateway_svc.domain.ledger_expected import (
    conversion_facts,
    expected_balances,
    payout_facts,
)
from gateway_svc.domain.payouts import Payout, PayoutState
from gateway_svc.service_layer.fx_commands import CreateConversion
from gateway_svc.service_layer.provider_callbacks import ProviderCallbacks, Receipt
from gateway_svc.service_layer.provider_callbacks_fx import NOT_OURS
from sandbox.testing import SandboxHandle
from sandbox.webhooks.events import Event
from tests.integration.gateway_store.provider_callbacks_support import (
    ACTION,
    STALE_S,
    Caught,
    deliver,
    inbound_outcome,
    inbound_record,
    provider_callbacks,
)
from tests.integration.gateway_store.test_fx_support import (
    NAME,
    Fx,
    new_merchant,
    render,
)

PROCESSED, IGNORED, FAILED = InboundOutcome.PROCESSED, InboundOutcome.IGNORED, InboundOutcome.FAILED


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


@pytest.fixture
def caught(sandbox_server: SandboxHandle) -> Caught:
    return Caught(sandbox_server)


@pytest.fixture
async def callbacks(fx: Fx) -> AsyncIterator[ProviderCallbacks]:
    async with provider_callbacks(fx.runtime, fx.sandbox, fx=fx.cc) as built:
        yield built


async def booked(fx: Fx, merchant: str) -> Conversion:
    """A conversion buying 1,000.00 EUR with GBP, booked (AWAITING_FUNDS)."""
    await fx.fund(merchant, "GBP", 500_000)
    quote = await fx.workers.fx.get_quote(
        QuoteRequest(merchant, "EUR", "GBP", FixedSide.BUY, 100_000)
    )
    cmd = CreateConversion(merchant, "key_1", f"conv-{quote.id}", quote_id=quote.id)
    conversion = (await fx.workers.fx.create_conversion(cmd, render)).result
    assert conversion is not None and conversion.status is ConversionState.AWAITING_FUNDS
    return conversion


async def settled_at_provider(fx: Fx, caught: Caught, conversion: Conversion) -> Event:
    """Move the provider's trade to settlement; the notification it sent."""
    caught.take()
    await fx.advance("conversions", conversion.provider_ref)  # funds_arrived
    await fx.advance("conversions", conversion.provider_ref)  # trade_settled
    [event] = caught.take()
    return event


async def paid_at_provider(fx: Fx, caught: Caught, reference: str = "INV-42") -> Payout:
    """A 500.00 GBP payout through the gateway, moved by the provider to its outcome."""
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 100_000)
    beneficiary = await fx.beneficiary(merchant)
    cmd = fx.payout(merchant, beneficiary.id, 50_000, reference=reference)
    payout = (await fx.workers.payouts.create_payout(cmd, render)).result
    assert payout is not None and payout.status is PayoutState.PENDING
    caught.take()
    await fx.advance("payments", payout.provider_ref)
    await fx.advance("payments", payout.provider_ref)
    return payout


def books_match(fx: Fx, conversions: list[Conversion], payouts: list[Payout]) -> None:
    """Every account the conversions and payouts touch holds what they say, but for the side
    the test's funding (Dr GBP clearing, Cr GBP payable) moved too."""
    expected = expected_balances(
        [], [], conversions=[conversion_facts(c) for c in conversions],
        payouts=[payout_facts(p) for p in payouts],
    )  # fmt: skip
    merchants = _merchants(conversions, payouts)
    funded = {f"gw/{m}/GBP/clearing": "debits" for m in merchants}
    funded |= {f"gw/{m}/GBP/payable": "credits" for m in merchants}
    for code, totals in expected.items():
        actual = fx.ledger.account(code)
        if code in funded:  # the funding's side left out of both
            totals = replace(totals, **{f"{funded[code]}_posted": 0})
            actual = replace(actual, **{f"{funded[code]}_posted": 0})
        assert actual == totals, code


def _merchants(conversions: list[Conversion], payouts: list[Payout]) -> set[str]:
    return {c.merchant_id for c in conversions} | {p.merchant_id for p in payouts}


async def test_a_settled_conversion_completes_by_its_notification(
    fx: Fx, caught: Caught, callbacks: ProviderCallbacks
) -> None:
    merchant = new_merchant()
    conversion = await booked(fx, merchant)
    event = await settled_at_provider(fx, caught, conversion)

    receipt = await deliver(callbacks, fx.sandbox, event)

    done = await fx.workers.fx.get_conversion(merchant, conversion.id)
    assert receipt == Receipt(event.event_id, False)
    assert done.status is ConversionState.COMPLETED
    assert await inbound_outcome(fx.runtime.engine, event) is PROCESSED
    await fx.relay.drain()
    books_match(fx, [done], [])
    actions = [e.target for e in fx.audit.events.values() if e.action == ACTION]
    assert actions == [f"conversions/{conversion.id}"]


@pytest.mark.parametrize(
    ("reference", "status"),
    [("INV-42", PayoutState.COMPLETED), ("SANDBOX_FAIL", PayoutState.FAILED)],
)
async def test_a_payout_reaches_its_outcome_by_its_notification(
    fx: Fx, caught: Caught, callbacks: ProviderCallbacks, reference: str, status: PayoutState
) -> None:
    payout = await paid_at_provider(fx, caught, reference)
    [event] = caught.take()

    await deliver(callbacks, fx.sandbox, event)

    done = await fx.workers.payouts.get_payout(payout.merchant_id, payout.id)
    assert done.status is status
    await fx.relay.drain()
    books_match(fx, [], [done])
    hold = fx.payable(payout.merchant_id, "GBP")
    assert hold.debits_pending == 0  # posted or released, never left held


async def test_a_replayed_notification_changes_nothing_the_second_time(
    fx: Fx, caught: Caught, callbacks: ProviderCallbacks
) -> None:
    payout = await paid_at_provider(fx, caught)
    [event] = caught.take()
    await deliver(callbacks, fx.sandbox, event)
    await fx.relay.drain()
    first = await fx.workers.payouts.get_payout(payout.merchant_id, payout.id)
    calls = list(fx.ledger.calls)

    again = await deliver(callbacks, fx.sandbox, event)

    await fx.relay.drain()
    assert again == Receipt(event.event_id, True)
    assert (await fx.workers.payouts.get_payout(payout.merchant_id, payout.id)) == first
    assert fx.ledger.calls == calls


async def test_a_notification_the_provider_cannot_confirm_is_kept_failed_then_applied(
    fx: Fx, caught: Caught, callbacks: ProviderCallbacks
) -> None:
    merchant = new_merchant()
    conversion = await booked(fx, merchant)
    event = await settled_at_provider(fx, caught, conversion)
    reads = {"provider": NAME, "path": "/v2/conversions/", "method": "GET"}
    await fx.sandbox.control.add_fault(**reads, kind="error", status=503, count=-1)
    with pytest.raises(ProviderUnavailable):
        await deliver(callbacks, fx.sandbox, event)
    assert await inbound_outcome(fx.runtime.engine, event) is FAILED
    still = await fx.workers.fx.get_conversion(merchant, conversion.id)
    assert still.status is ConversionState.AWAITING_FUNDS
    await fx.sandbox.control.clear_faults()

    retried = await deliver(callbacks, fx.sandbox, event)

    assert retried == Receipt(event.event_id, False)
    done = await fx.workers.fx.get_conversion(merchant, conversion.id)
    assert done.status is ConversionState.COMPLETED
    assert await inbound_outcome(fx.runtime.engine, event) is PROCESSED


async def test_a_stale_notification_is_refused_and_changes_nothing(
    fx: Fx, caught: Caught, callbacks: ProviderCallbacks
) -> None:
    merchant = new_merchant()
    conversion = await booked(fx, merchant)
    event = await settled_at_provider(fx, caught, conversion)

    with pytest.raises(WebhookTimestampOutOfTolerance):
        await deliver(callbacks, fx.sandbox, event, age_s=STALE_S)

    assert await inbound_outcome(fx.runtime.engine, event) is None
    still = await fx.workers.fx.get_conversion(merchant, conversion.id)
    assert still.status is ConversionState.AWAITING_FUNDS


async def test_a_notification_about_a_conversion_made_elsewhere_is_ignored(
    fx: Fx, caught: Caught, callbacks: ProviderCallbacks
) -> None:
    terms = ConversionTerms("EUR", "GBP", FixedSide.BUY, 10_000)
    elsewhere = await fx.cc.create_conversion(terms, "made-elsewhere")
    caught.take()
    await fx.advance("conversions", elsewhere.provider_ref)
    await fx.advance("conversions", elsewhere.provider_ref)
    [event] = caught.take()

    await deliver(callbacks, fx.sandbox, event)

    record = await inbound_record(fx.runtime.engine, event)
    assert record is not None and (record.outcome, record.error) == (IGNORED, NOT_OURS)
