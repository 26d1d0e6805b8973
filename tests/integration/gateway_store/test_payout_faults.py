"""Payouts under pressure: many at once against one balance, a provider that refuses or
cannot answer, a ledger that does not answer, and a request that dies mid-way."""

from __future__ import annotations

import asyncio

import pytest

from gateway_svc.domain.errors import LedgerUnavailable, ProviderUnavailable
from gateway_svc.domain.payouts import PayoutState
from gateway_svc.service_layer import keys
from gateway_svc.service_layer.fx_commands import ListPayouts
from gateway_svc.service_layer.keys import KeyHold
from gateway_svc.service_layer.payout_flow import CREATE, payout_fingerprint
from tests.integration.gateway_store.test_fx_support import (
    NAME,
    Fx,
    new_merchant,
    render,
)

CREATE_PATH = "/v2/payments/create"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


async def _funded(fx: Fx, amount_minor: int = 100_000) -> tuple[str, str]:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", amount_minor)
    return merchant, (await fx.beneficiary(merchant)).id


@pytest.mark.slow  # about 1 s: twenty requests through every phase
async def test_twenty_payouts_at_once_never_take_the_balance_below_zero(fx: Fx) -> None:
    merchant, beneficiary_id = await _funded(fx, 100_000)
    cmds = [fx.payout(merchant, beneficiary_id, 7_000) for _ in range(20)]

    answers = await asyncio.gather(*(fx.workers.payouts.create_payout(cmd, render) for cmd in cmds))

    accepted = [a.result for a in answers if a.result is not None]
    refused = [a.error.reason for a in answers if a.error is not None]
    assert len(accepted) == 14 and refused == ["INSUFFICIENT_FUNDS"] * 6
    assert len((await fx.provider_state())["payments"]) == 14
    gbp = fx.payable(merchant, "GBP")
    assert gbp.debits_pending == 98_000 <= gbp.credits_posted
    [balance] = await fx.workers.payouts.get_balances(merchant)
    assert balance.available_minor == 2_000


async def test_a_payout_the_provider_refuses_is_answered_failed_and_its_hold_released(
    fx: Fx,
) -> None:
    merchant, beneficiary_id = await _funded(fx)
    b = await fx.workers.beneficiaries.get_beneficiary(merchant, beneficiary_id)
    await fx.cc.delete_beneficiary(b.provider_ref)  # gone at the provider, not here

    answer = await fx.workers.payouts.create_payout(
        fx.payout(merchant, beneficiary_id, 10_000), render
    )
    await fx.relay.drain()

    payout = answer.result
    assert payout is not None and payout.status is PayoutState.FAILED
    assert payout.failure_reason.startswith("PROVIDER_REJECTED: ")
    assert fx.payable(merchant, "GBP").debits_pending == 0


async def test_a_provider_that_cannot_answer_releases_the_hold_and_the_key(fx: Fx) -> None:
    merchant, beneficiary_id = await _funded(fx)
    await fx.sandbox.control.add_fault(provider=NAME, kind="error", status=503, count=3,
                                       path=CREATE_PATH)  # fmt: skip
    cmd = fx.payout(merchant, beneficiary_id, 10_000, request_id="po-1")

    with pytest.raises(ProviderUnavailable):
        await fx.workers.payouts.create_payout(cmd, render)
    await fx.relay.drain()

    assert fx.payable(merchant, "GBP").debits_pending == 0
    retried = await fx.workers.payouts.create_payout(cmd, render)
    assert retried.result is not None and retried.result.status is PayoutState.PENDING
    statuses = [
        p.status for p in (await fx.workers.payouts.list_payouts(ListPayouts(merchant))).items
    ]
    assert statuses == [PayoutState.PENDING, PayoutState.FAILED]


async def test_a_ledger_that_does_not_answer_leaves_the_payout_to_resume_once(fx: Fx) -> None:
    merchant, beneficiary_id = await _funded(fx)
    cmd = fx.payout(merchant, beneficiary_id, 10_000, request_id="po-1")
    fx.ledger.fail_next = 1

    with pytest.raises(LedgerUnavailable):
        await fx.workers.payouts.create_payout(cmd, render)
    resumed = await fx.workers.payouts.create_payout(cmd, render)

    assert resumed.result is not None and resumed.result.status is PayoutState.PENDING
    assert len((await fx.provider_state())["payments"]) == 1
    assert fx.payable(merchant, "GBP").debits_pending == 10_000


async def test_the_completer_never_pays_for_an_absent_client_it_releases_the_hold(
    fx: Fx,
) -> None:
    merchant, beneficiary_id = await _funded(fx)
    cmd = fx.payout(merchant, beneficiary_id, 10_000, request_id="po-dead")
    hold = await keys.open_key(fx.runtime, merchant, "po-dead", CREATE, payout_fingerprint(cmd))
    assert isinstance(hold, KeyHold)
    await fx.workers.payouts.creating.start(hold, cmd)
    fx.clock.advance(91)

    report = await fx.reconciler.run_once()
    await fx.relay.drain()

    assert report.keys == 1
    assert await fx.provider_calls(CREATE_PATH) == 0
    [failed] = (await fx.workers.payouts.list_payouts(ListPayouts(merchant))).items
    assert failed.status is PayoutState.FAILED
    assert fx.payable(merchant, "GBP").debits_pending == 0
    retried = await fx.workers.payouts.create_payout(cmd, render)  # the key was forgotten
    assert retried.result is not None and retried.result.status is PayoutState.PENDING
