"""CreateConversion when things fail: a provider that cannot answer, one whose answer is lost,
a ledger that does not answer the hold, and a request that dies mid-way (the completer)."""

from __future__ import annotations

import pytest

from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient
from gateway_svc.domain.conversions import ConversionState
from gateway_svc.domain.errors import LedgerUnavailable, ProviderUnavailable
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.service_layer import keys
from gateway_svc.service_layer.fx_commands import CreateConversion, ListConversions
from gateway_svc.service_layer.fx_conversions import CONVERT, conversion_fingerprint
from gateway_svc.service_layer.keys import KeyHold
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.wiring import build_fx
from tests.integration.gateway_store.test_fx_support import (
    NAME,
    Fx,
    client_for,
    new_merchant,
    render,
)


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


CREATE_PATH = "/v2/conversions/create"


def terms(merchant: str, request_id: str) -> CreateConversion:
    """Explicit terms: buy 1,000.00 EUR with GBP."""
    return CreateConversion(merchant, "key_1", request_id, buy_currency="EUR",
                            sell_currency="GBP", fixed_side=FixedSide.BUY,
                            amount_minor=100_000)  # fmt: skip


async def _key_point(fx: Fx, merchant: str, key: str) -> RecoveryPoint | None:
    async with GatewayUnitOfWork(fx.runtime.engine) as uow:
        row = await uow.keys.get(merchant, key)
    return None if row is None else row.record.recovery_point


async def test_a_provider_that_cannot_answer_releases_the_hold_and_forgets_the_key(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    await fx.sandbox.control.add_fault(provider=NAME, kind="error", status=503, count=3,
                                       path=CREATE_PATH)  # fmt: skip

    with pytest.raises(ProviderUnavailable):
        await fx.workers.fx.create_conversion(terms(merchant, "conv-1"), render)
    await fx.relay.drain()

    [failed] = (await fx.workers.fx.list_conversions(ListConversions(merchant))).items
    assert failed.status is ConversionState.FAILED
    assert failed.failure_reason.startswith("PROVIDER_UNAVAILABLE: ")
    gbp = fx.payable(merchant, "GBP")
    assert (gbp.debits_pending, gbp.debits_posted) == (0, 0)  # held, then voided
    assert await _key_point(fx, merchant, "conv-1") is None
    retried = await fx.workers.fx.create_conversion(terms(merchant, "conv-1"), render)
    assert retried.result is not None and retried.result.id != failed.id
    assert retried.result.status is ConversionState.AWAITING_FUNDS


async def test_a_ledger_that_does_not_answer_the_hold_leaves_the_request_to_resume(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    fx.ledger.fail_next = 1

    with pytest.raises(LedgerUnavailable):
        await fx.workers.fx.create_conversion(terms(merchant, "conv-1"), render)

    assert await fx.provider_calls(CREATE_PATH) == 0
    assert await _key_point(fx, merchant, "conv-1") is RecoveryPoint.PAYMENT_CREATED
    resumed = await fx.workers.fx.create_conversion(terms(merchant, "conv-1"), render)
    assert resumed.result is not None and not resumed.replayed
    assert resumed.result.status is ConversionState.AWAITING_FUNDS
    holds = [tx for tx in fx.ledger.holds() if tx.request_id.endswith(":conversion:hold")]
    assert len(holds) == 1


@pytest.mark.slow
async def test_a_lost_answer_leaves_it_pending_until_the_poller_finds_it_booked(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    impatient: CurrencycloudClient = client_for(fx.sandbox, timeout_s=0.2)
    workers = build_fx(fx.runtime, fx.reconciler, impatient, fx.ledger)
    await impatient.tokens.get()
    await fx.sandbox.control.add_fault(provider=NAME, kind="commit_then_timeout", count=-1,
                                       path=CREATE_PATH)  # fmt: skip
    try:
        answer = await workers.fx.create_conversion(terms(merchant, "conv-1"), render)
        await fx.sandbox.control.clear_faults()
        report = await fx.poll()
    finally:
        await impatient.aclose()

    assert answer.result is not None and answer.result.status is ConversionState.PENDING
    found = await fx.workers.fx.get_conversion(merchant, answer.result.id)
    assert report.conversions == 1 and found.status is ConversionState.AWAITING_FUNDS
    assert len((await fx.provider_state())["conversions"]) == 1  # tried 3 times, booked once
    assert fx.payable(merchant, "GBP").debits_posted == found.sell_amount_minor


async def _abandoned(fx: Fx, merchant: str, key: str) -> KeyHold:
    """A request killed right after phase b: the conversion stored, nothing else."""
    cmd = terms(merchant, key)
    hold = await keys.open_key(fx.runtime, merchant, key, CONVERT, conversion_fingerprint(cmd))
    assert isinstance(hold, KeyHold)
    return await fx.workers.fx.converting.start(hold, cmd)


async def test_the_completer_never_books_for_an_absent_client_it_releases_the_hold(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    await _abandoned(fx, merchant, "conv-dead")
    fx.clock.advance(91)  # past the lock timeout: the request is dead

    report = await fx.reconciler.run_once()
    await fx.relay.drain()

    assert report.keys == 1
    assert await fx.provider_calls(CREATE_PATH) == 0
    [failed] = (await fx.workers.fx.list_conversions(ListConversions(merchant))).items
    assert failed.status is ConversionState.FAILED
    assert fx.payable(merchant, "GBP").debits_pending == 0
    assert await _key_point(fx, merchant, "conv-dead") is None


async def test_the_completer_settles_a_trade_the_provider_booked_before_the_crash(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    hold = await _abandoned(fx, merchant, "conv-mid")
    assert hold.record.payment_id is not None
    conversion = await fx.workers.fx.get_conversion(merchant, hold.record.payment_id)
    await fx.cc.create_conversion(conversion.terms(), conversion.id)  # sent, answer lost
    fx.clock.advance(91)

    await fx.reconciler.run_once()
    retried = await fx.workers.fx.create_conversion(terms(merchant, "conv-mid"), render)
    await fx.relay.drain()

    assert retried.result is not None and retried.result.id == conversion.id
    assert retried.result.status is ConversionState.AWAITING_FUNDS
    assert len((await fx.provider_state())["conversions"]) == 1
    assert fx.payable(merchant, "GBP").debits_posted == conversion.sell_amount_minor
