"""GetQuote on SQLite and PostgreSQL: a rate from the real Currencycloud adapter against the
sandbox, priced by the domain, stored for a conversion to redeem, and the refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_svc.domain.errors import ProviderUnavailable, QuoteNotFound, ValidationFailed
from gateway_svc.domain.fx import QuotePolicy, QuoteRequest
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.service_layer.fx_quotes import QuoteDesk
from tests.integration.gateway_store.gateway_support import FAST_RETRY
from tests.integration.gateway_store.test_fx_support import (
    NAME,
    Fx,
    new_merchant,
)


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


async def test_a_quote_is_the_providers_rate_for_the_request_stored_for_its_merchant(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    request = QuoteRequest(merchant, "GBP", "USD", FixedSide.BUY, 1_000_000)

    quote = await fx.workers.fx.get_quote(request)

    assert (quote.buy_amount_minor, quote.sell_amount_minor) == (1_000_000, 1_272_200)
    assert (quote.client_rate, quote.currency_pair, quote.used_by) == ("1.2722", "GBPUSD", "")
    assert quote.expires_at - quote.created_at == timedelta(seconds=30)
    assert await fx.workers.fx.quotes.get(merchant, quote.id) == quote
    with pytest.raises(QuoteNotFound):
        await fx.workers.fx.quotes.get(new_merchant(), quote.id)


async def test_a_markup_moves_the_rate_against_the_merchant_and_rounds_its_way(
    fx: Fx,
) -> None:
    desk = QuoteDesk(fx.runtime, fx.workers.fx.quotes._caller, QuotePolicy(markup_bps=100))
    request = QuoteRequest(new_merchant(), "GBP", "USD", FixedSide.BUY, 1_000_000)

    quote = await desk.get_quote(request)

    # Buying GBP, the merchant pays 1 % more USD per pound: 1.2722 * 1.01, exactly.
    assert (quote.client_rate, quote.provider_rate) == ("1.284922", "1.2722")
    assert quote.sell_amount_minor == 1_284_922


async def test_exponents_follow_iso_4217_and_the_bought_amount_is_rounded_down(fx: Fx) -> None:
    request = QuoteRequest(new_merchant(), "KWD", "JPY", FixedSide.SELL, 123_457)

    quote = await fx.workers.fx.get_quote(request)

    assert quote.sell_amount_minor == 123_457  # yen: no minor unit
    price = quote.buy_amount_minor / quote.sell_amount_minor
    assert quote.buy_amount_minor > 0 and price < 0.3075 / 151.2 * 1000  # fils, rounded down


async def test_an_ill_formed_request_is_refused_field_by_field_before_any_call(fx: Fx) -> None:
    request = QuoteRequest(new_merchant(), "GBP", "GBP", None, 0)

    with pytest.raises(ValidationFailed) as caught:
        await fx.workers.fx.get_quote(request)

    fields = {v.field for v in caught.value.violations}
    assert fields == {"sell_currency", "fixed_side"}
    assert await fx.provider_calls() == 0


async def test_a_pair_the_provider_does_not_trade_is_a_validation_failure(fx: Fx) -> None:
    request = QuoteRequest(new_merchant(), "GBP", "XOF", FixedSide.SELL, 10_000)

    with pytest.raises(ValidationFailed) as caught:
        await fx.workers.fx.get_quote(request)

    assert caught.value.violations
    assert caught.value.metadata["provider"] == "currencycloud"


async def test_a_provider_that_keeps_failing_is_unavailable_and_nothing_is_stored(
    fx: Fx,
) -> None:
    await fx.sandbox.control.add_fault(provider=NAME, kind="error", status=503, count=-1,
                                       path="/v2/rates")  # fmt: skip
    request = QuoteRequest(new_merchant(), "EUR", "USD", FixedSide.SELL, 10_000)

    with pytest.raises(ProviderUnavailable):
        await fx.workers.fx.get_quote(request)

    assert await fx.provider_calls("/v2/rates") == FAST_RETRY.max_attempts
