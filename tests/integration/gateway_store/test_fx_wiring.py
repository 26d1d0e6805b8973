"""``build_fx``: the FX use cases on the payments' runtime, their keys resumed by the
payments' reconciler, and the status poller's loop started and stopped with the host."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway_svc.domain.payouts import PayoutState
from gateway_svc.service_layer.wiring import build_fx
from tests.integration.gateway_store.test_fx_support import (
    NAME,
    Fx,
    new_merchant,
    render,
)


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


async def test_every_fx_operation_is_resumed_by_the_payments_completer(fx: Fx) -> None:
    assert fx.reconciler.registered_operations == {
        "fx.conversions.create",
        "beneficiaries.create",
        "payouts.create",
        "payouts.cancel",
    }


async def test_the_poller_runs_in_the_background_until_stopped(fx: Fx) -> None:
    workers = build_fx(fx.runtime, fx.reconciler, fx.cc, fx.ledger, poll_interval_s=0.01)
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 10_000)
    beneficiary = await fx.beneficiary(merchant)
    payout = (
        await workers.payouts.create_payout(fx.payout(merchant, beneficiary.id, 1_000), render)
    ).result
    assert payout is not None
    await fx.advance("payments", payout.provider_ref)
    fx.clock.advance(60)  # its first check is due

    workers.start()
    deadline = time.monotonic() + 5
    while (await workers.payouts.get_payout(merchant, payout.id)).status is PayoutState.PENDING:
        assert time.monotonic() < deadline, "the poller never ran"
        await asyncio.sleep(0.01)
    await workers.stop()
    await workers.stop()  # twice is harmless

    assert (await workers.payouts.get_payout(merchant, payout.id)).status is PayoutState.SUBMITTED
