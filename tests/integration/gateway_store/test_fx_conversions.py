"""CreateConversion on SQLite and PostgreSQL: the synchronous two-leg hold before the
provider call, posting on booking, idempotency, the quote's lock, and the ledger's refusal
of a conversion beyond the balance."""

from __future__ import annotations

import pytest

from gateway_svc.domain.conversions import ConversionState
from gateway_svc.domain.errors import (
    IdempotencyKeyReused,
    QuoteAlreadyUsed,
    QuoteExpired,
    QuoteNotFound,
    ValidationFailed,
)
from gateway_svc.domain.fx import QuoteRequest
from gateway_svc.domain.fx_postings import fx_position_code
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.ledger_expected import conversion_facts, expected_balances
from gateway_svc.service_layer.fx_commands import CreateConversion, ListConversions
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


async def _quoted(fx: Fx, merchant: str, amount_minor: int = 100_000) -> str:
    """A quote to buy ``amount_minor`` EUR cents with GBP."""
    quote = await fx.workers.fx.get_quote(
        QuoteRequest(merchant, "EUR", "GBP", FixedSide.BUY, amount_minor)
    )
    return quote.id


async def test_a_conversion_holds_both_legs_then_posts_them_when_the_provider_books_it(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    quote = await fx.workers.fx.quotes.get(merchant, await _quoted(fx, merchant))
    cmd = CreateConversion(merchant, "key_1", "conv-1", quote_id=quote.id)

    answer = await fx.workers.fx.create_conversion(cmd, render)
    await fx.relay.drain()

    conversion = answer.result
    assert conversion is not None and conversion.status is ConversionState.AWAITING_FUNDS
    assert [t.to_status for t in conversion.history] == [
        ConversionState.PENDING,
        ConversionState.AWAITING_FUNDS,
    ]
    calls = [op for op, rid in fx.ledger.calls if rid.startswith(conversion.id)]
    assert calls == ["create", "post"]  # the hold went to the ledger before the provider
    sold, bought = quote.sell_amount_minor, quote.buy_amount_minor
    assert fx.payable(merchant, "GBP").debits_posted == sold
    assert fx.payable(merchant, "EUR").credits_posted == bought == 100_000
    assert fx.ledger.account(fx_position_code("GBP")).credits_posted == sold
    assert fx.ledger.account(fx_position_code("EUR")).debits_posted == bought
    [provider] = (await fx.provider_state())["conversions"].values()
    assert provider["unique_request_id"] == f"paymesh-conversion-{conversion.id}"


async def test_a_retry_replays_the_first_answer_and_books_nothing_twice(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    cmd = CreateConversion(merchant, "key_1", "conv-1", quote_id=await _quoted(fx, merchant))

    first = await fx.workers.fx.create_conversion(cmd, render)
    again = await fx.workers.fx.create_conversion(cmd, render)

    assert again.replayed and again.response == first.response
    assert len((await fx.provider_state())["conversions"]) == 1
    other = CreateConversion(merchant, "key_1", "conv-1", quote_id=await _quoted(fx, merchant))
    with pytest.raises(IdempotencyKeyReused):
        await fx.workers.fx.create_conversion(other, render)


async def test_a_conversion_beyond_the_balance_is_refused_by_the_ledger_before_the_provider(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 1_000)
    cmd = CreateConversion(merchant, "key_1", "conv-poor", quote_id=await _quoted(fx, merchant))

    answer = await fx.workers.fx.create_conversion(cmd, render)
    again = await fx.workers.fx.create_conversion(cmd, render)
    await fx.relay.drain()

    assert answer.error is not None and answer.error.reason == "INSUFFICIENT_FUNDS"
    assert body(answer.response)["reason"] == "INSUFFICIENT_FUNDS"
    assert again.replayed and again.response == answer.response
    assert (await fx.provider_state())["conversions"] == {}
    assert fx.payable(merchant, "GBP").debits_pending == 0  # nothing held, nothing to void
    [stored] = (await fx.workers.fx.list_conversions(ListConversions(merchant))).items
    assert stored.status is ConversionState.FAILED
    assert stored.failure_reason.startswith("INSUFFICIENT_FUNDS: ")


async def test_an_expired_quote_is_refused_and_nothing_is_kept(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    quote_id = await _quoted(fx, merchant)
    fx.clock.advance(30)  # the quote's window is 30 s: its last instant is already too late

    with pytest.raises(QuoteExpired) as caught:
        await fx.workers.fx.create_conversion(
            CreateConversion(merchant, "key_1", "conv-late", quote_id=quote_id), render
        )

    assert caught.value.metadata["quote_id"] == quote_id
    assert not [c for c in fx.ledger.calls if c[0] == "create" and "conversion" in c[1]]
    fresh = CreateConversion(merchant, "key_1", "conv-late", quote_id=await _quoted(fx, merchant))
    retried = await fx.workers.fx.create_conversion(fresh, render)  # the key was forgotten
    assert retried.result is not None


async def test_a_quote_converts_once_and_only_for_its_merchant(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    quote_id = await _quoted(fx, merchant)
    await fx.workers.fx.create_conversion(
        CreateConversion(merchant, "key_1", "conv-a", quote_id=quote_id), render
    )

    with pytest.raises(QuoteAlreadyUsed):
        await fx.workers.fx.create_conversion(
            CreateConversion(merchant, "key_1", "conv-b", quote_id=quote_id), render
        )
    with pytest.raises(QuoteNotFound):
        await fx.workers.fx.create_conversion(
            CreateConversion(new_merchant(), "key_1", "conv-c", quote_id=quote_id), render
        )


async def test_explicit_terms_are_priced_afresh_by_a_quote_the_conversion_owns(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "USD", 5_000_000)
    cmd = CreateConversion(merchant, "key_1", "conv-terms", buy_currency="JPY",
                           sell_currency="USD", fixed_side=FixedSide.BUY,
                           amount_minor=100_000)  # fmt: skip

    answer = await fx.workers.fx.create_conversion(cmd, render)

    conversion = answer.result
    assert conversion is not None and conversion.buy_amount_minor == 100_000
    quote = await fx.workers.fx.quotes.get(merchant, conversion.quote_id)
    assert quote.used_by == conversion.id
    assert (quote.buy_amount_minor, quote.sell_amount_minor) == (
        conversion.buy_amount_minor,
        conversion.sell_amount_minor,
    )


async def test_a_quote_id_with_terms_or_neither_is_a_validation_failure(fx: Fx) -> None:
    merchant = new_merchant()
    both = CreateConversion(merchant, "key_1", "c-1", quote_id="quo_1", buy_currency="EUR")
    neither = CreateConversion(merchant, "key_1", "c-2")

    with pytest.raises(ValidationFailed) as one:
        await fx.workers.fx.create_conversion(both, render)
    with pytest.raises(ValidationFailed) as other:
        await fx.workers.fx.create_conversion(neither, render)

    assert [v.field for v in one.value.violations] == ["quote_id"]
    assert {"buy_currency", "fixed_side"} <= {v.field for v in other.value.violations}


async def test_the_poller_follows_the_trade_to_settlement_and_the_books_match(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    cmd = CreateConversion(merchant, "key_1", "conv-1", quote_id=await _quoted(fx, merchant))
    booked = (await fx.workers.fx.create_conversion(cmd, render)).result
    assert booked is not None

    await fx.advance("conversions", booked.provider_ref)  # funds_arrived
    first = await fx.poll()
    await fx.advance("conversions", booked.provider_ref)  # trade_settled
    second = await fx.poll()
    third = await fx.poll()

    done = await fx.workers.fx.get_conversion(merchant, booked.id)
    assert (first.conversions, second.conversions, third.conversions) == (1, 1, 0)
    assert done.status is ConversionState.COMPLETED
    assert [t.reason for t in done.history[1:]] == ["awaiting_funds", "funds_arrived",
                                                    "trade_settled"]  # fmt: skip
    expected = expected_balances([], [], conversions=[conversion_facts(done)])
    funding = f"gw/{merchant}/GBP/"  # the test's funding credit is no conversion's
    for code, totals in expected.items():
        if not code.startswith(funding):
            assert fx.ledger.account(code) == totals, code
    gbp = fx.payable(merchant, "GBP")
    assert (gbp.credits_posted, gbp.debits_posted) == (500_000, done.sell_amount_minor)


async def test_a_trade_the_provider_closes_after_booking_is_reversed(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.fund(merchant, "GBP", 500_000)
    cmd = CreateConversion(merchant, "key_1", "conv-1", quote_id=await _quoted(fx, merchant))
    booked = (await fx.workers.fx.create_conversion(cmd, render)).result
    assert booked is not None
    await fx.relay.drain()

    await fx.advance("conversions", booked.provider_ref, "closed")
    await fx.poll()

    failed = await fx.workers.fx.get_conversion(merchant, booked.id)
    assert failed.status is ConversionState.FAILED and failed.was_booked
    eur = fx.payable(merchant, "EUR")
    assert eur.credits_posted == eur.debits_posted == 100_000  # posted, then mirrored
    assert fx.audit.actions().count("gateway.conversion.reconcile") == 1
