"""Payouts on SQLite and PostgreSQL: the hold placed before the provider call, completion
(post and fee), failure and cancellation (the hold released), balances, and merchant scope."""

from __future__ import annotations

import pytest

from gateway_svc.domain.errors import BeneficiaryNotFound, PayoutNotCancelable, PayoutNotFound
from gateway_svc.domain.fx_postings import payout_clearing_code, payout_fees_code
from gateway_svc.domain.ledger_accounts import Books
from gateway_svc.domain.ledger_expected import expected_balances, payout_facts
from gateway_svc.domain.payouts import PayoutState
from gateway_svc.service_layer.fx_commands import CancelPayout, CurrencyBalance, ListPayouts
from tests.integration.gateway_store.test_fx_support import (
    NAME,
    Fx,
    body,
    new_merchant,
    render,
)


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


async def _funded(fx: Fx, amount_minor: int = 100_000) -> tuple[str, str]:
    """A merchant with ``amount_minor`` GBP and a registered GBP beneficiary."""
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", amount_minor)
    return merchant, (await fx.beneficiary(merchant)).id


async def test_a_payout_is_held_then_posted_with_its_fee_when_the_provider_completes_it(
    fx: Fx,
) -> None:
    merchant, beneficiary_id = await _funded(fx)

    answer = await fx.workers.payouts.create_payout(
        fx.payout(merchant, beneficiary_id, 50_000), render
    )
    payout = answer.result
    assert payout is not None and payout.status is PayoutState.PENDING and payout.provider_ref
    assert fx.payable(merchant, "GBP").debits_pending == 50_000
    [gbp] = await fx.workers.payouts.get_balances(merchant)
    assert gbp == CurrencyBalance("GBP", 100_000, 50_000, 50_000)

    await fx.advance("payments", payout.provider_ref)  # submitted
    await fx.poll()
    await fx.advance("payments", payout.provider_ref)  # completed
    await fx.poll()

    done = await fx.workers.payouts.get_payout(merchant, payout.id)
    assert done.status is PayoutState.COMPLETED and (done.fee_minor, done.fee_currency) == (
        50,
        "GBP",
    )  # the sandbox's 10 bps on a regular payout
    assert [t.reason for t in done.history] == ["created", "submitted", "completed"]
    books = Books(merchant, "GBP")
    expected = expected_balances([], [], payouts=[payout_facts(done)])
    for code in (payout_clearing_code(books), payout_fees_code(books)):
        assert fx.ledger.account(code) == expected[code]
    assert await fx.workers.payouts.get_balances(merchant) == [
        CurrencyBalance("GBP", 49_950, 49_950, 49_950)
    ]


async def test_a_payout_the_bank_rejects_fails_and_releases_its_hold(fx: Fx) -> None:
    merchant, beneficiary_id = await _funded(fx)
    cmd = fx.payout(merchant, beneficiary_id, 60_000, reference="sandbox_fail 7")
    payout = (await fx.workers.payouts.create_payout(cmd, render)).result
    assert payout is not None

    await fx.advance("payments", payout.provider_ref)
    await fx.poll()
    await fx.advance("payments", payout.provider_ref)
    await fx.poll()

    failed = await fx.workers.payouts.get_payout(merchant, payout.id)
    assert failed.status is PayoutState.FAILED
    assert "rejected" in failed.failure_reason
    gbp = fx.payable(merchant, "GBP")
    assert (gbp.debits_pending, gbp.debits_posted) == (0, 0)
    [balance] = await fx.workers.payouts.get_balances(merchant)
    assert balance.available_minor == 100_000


async def test_a_canceled_payout_is_dropped_by_the_provider_and_releases_its_hold(
    fx: Fx,
) -> None:
    merchant, beneficiary_id = await _funded(fx)
    payout = (
        await fx.workers.payouts.create_payout(fx.payout(merchant, beneficiary_id, 70_000), render)
    ).result
    assert payout is not None
    cancel = CancelPayout(merchant, "key_1", payout.id, request_id="cancel-1")

    canceled = await fx.workers.payouts.cancel_payout(cancel, render)
    again = await fx.workers.payouts.cancel_payout(cancel, render)
    await fx.relay.drain()

    assert canceled.result is not None and canceled.result.status is PayoutState.CANCELED
    assert canceled.result.history[-1].reason == "canceled by the merchant"
    assert again.replayed and body(again.response)["status"] == "canceled"
    provider = (await fx.provider_state())["payments"][payout.provider_ref]
    assert provider["status"] == "deleted"
    assert fx.payable(merchant, "GBP").debits_pending == 0
    with pytest.raises(PayoutNotCancelable):
        await fx.workers.payouts.cancel_payout(CancelPayout(merchant, "key_1", payout.id), render)


async def test_a_payout_already_sent_cannot_be_canceled_and_catches_up(fx: Fx) -> None:
    merchant, beneficiary_id = await _funded(fx)
    payout = (
        await fx.workers.payouts.create_payout(fx.payout(merchant, beneficiary_id, 10_000), render)
    ).result
    assert payout is not None
    await fx.advance("payments", payout.provider_ref)  # submitted, not yet polled

    with pytest.raises(PayoutNotCancelable):
        await fx.workers.payouts.cancel_payout(CancelPayout(merchant, "key_1", payout.id), render)

    caught_up = await fx.workers.payouts.get_payout(merchant, payout.id)
    assert caught_up.status is PayoutState.SUBMITTED
    assert fx.payable(merchant, "GBP").debits_pending == 10_000  # still held


async def test_a_payout_beyond_the_balance_is_refused_and_nothing_reaches_the_provider(
    fx: Fx,
) -> None:
    merchant, beneficiary_id = await _funded(fx, 5_000)
    cmd = fx.payout(merchant, beneficiary_id, 5_001, request_id="po-big")

    answer = await fx.workers.payouts.create_payout(cmd, render)
    again = await fx.workers.payouts.create_payout(cmd, render)

    assert answer.error is not None and answer.error.reason == "INSUFFICIENT_FUNDS"
    assert again.replayed and again.response == answer.response
    assert (await fx.provider_state())["payments"] == {}
    assert fx.payable(merchant, "GBP").debits_pending == 0


async def test_a_payout_names_only_the_merchants_own_live_beneficiary(fx: Fx) -> None:
    merchant, beneficiary_id = await _funded(fx)
    stranger = new_merchant()
    await fx.fund(stranger, "GBP", 100_000)

    with pytest.raises(BeneficiaryNotFound):
        await fx.workers.payouts.create_payout(fx.payout(stranger, beneficiary_id, 1_000), render)

    payout = (
        await fx.workers.payouts.create_payout(fx.payout(merchant, beneficiary_id, 1_000), render)
    ).result
    assert payout is not None
    with pytest.raises(PayoutNotFound):
        await fx.workers.payouts.get_payout(stranger, payout.id)
    with pytest.raises(PayoutNotFound):
        await fx.workers.payouts.cancel_payout(CancelPayout(stranger, "k", payout.id), render)
    page = await fx.workers.payouts.list_payouts(ListPayouts(stranger))
    assert page.items == []
    mine = await fx.workers.payouts.list_payouts(
        ListPayouts(merchant, beneficiary_id=beneficiary_id)
    )
    assert [p.id for p in mine.items] == [payout.id]


async def test_balances_list_every_currency_with_books_zero_ones_included(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "USD", 0)
    await fx.fund(merchant, "EUR", 2_500)

    balances = await fx.workers.payouts.get_balances(merchant)

    assert balances == [
        CurrencyBalance("EUR", 2_500, 2_500, 2_500),
        CurrencyBalance("USD", 0, 0, 0),
    ]
    assert await fx.workers.payouts.get_balances(new_merchant()) == []
