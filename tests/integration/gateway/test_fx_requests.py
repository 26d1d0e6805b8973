"""FxService's requests over REST beyond the happy path: amounts in each currency's own minor
unit (JPY 0 decimals, KWD 3) rounded in the platform's favour, an amount in a currency other
than the fixed side's refused together with everything else wrong, a conversion at explicit
terms, and lists that page and filter."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tests.integration.gateway.fx_support import (
    BENEFICIARIES,
    CONVERSIONS,
    QUOTE,
    FxMerchant,
    fund,
    gb_beneficiary,
    ok,
)
from tests.integration.gateway.payments_support import error_info, minor, violated_fields
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")


def _buy_per_sell(quote: dict[str, str]) -> Decimal:
    """Units bought per unit sold at the quote's rate, from its pair's quoting."""
    rate = Decimal(quote["client_rate"])
    return rate if quote["currency_pair"].startswith(quote["sell_currency"]) else 1 / rate


async def test_yen_are_whole_and_fils_are_thousandths_rounded_for_the_platform(
    fx_merchant: FxMerchant,
) -> None:
    yen = ok(await fx_merchant.quote("JPY", "GBP", "SELL", 10_000), "quote")  # sell 100.00 GBP
    fils = ok(await fx_merchant.quote("KWD", "USD", "BUY", 1_234), "quote")  # buy 1.234 KWD

    # Selling a fixed amount: what is bought is rounded down to whole yen.
    assert minor(yen["buy_amount"]) == math.floor(Decimal("100.00") * _buy_per_sell(yen))
    # Buying a fixed amount: what is sold is rounded up to the cent.
    sold = Decimal("1.234") / _buy_per_sell(fils)
    assert minor(fils["sell_amount"]) == math.ceil(sold * 100)
    assert (yen["buy_amount"]["currency_code"], fils["buy_amount"]["minor_units"]) == (
        "JPY",
        "1234",
    )


async def test_an_amount_in_another_currency_is_refused_with_every_other_bad_field(
    fx_merchant: FxMerchant,
) -> None:
    reply = await fx_merchant.get(
        QUOTE,
        buy_currency="EUR",
        sell_currency="EUR",
        fixed_side="FIXED_SIDE_SELL",
        **{"amount.minor_units": "1000", "amount.currency_code": "USD"},
    )

    assert reply.status_code == 400
    assert error_info(reply)["reason"] == "VALIDATION_FAILED"
    assert sorted(violated_fields(reply)) == ["amount.currency_code", "sell_currency"]


async def test_a_conversion_at_explicit_terms_is_priced_on_the_spot(
    stack: GatewayStack, fx_merchant: FxMerchant
) -> None:
    await fund(stack.parts, fx_merchant, 30_000, "GBP")
    terms = {
        "buy_currency": "EUR",
        "sell_currency": "GBP",
        "fixed_side": "FIXED_SIDE_BUY",
        "amount": {"minor_units": "10000"},  # the currency left out: the fixed side's, EUR
    }

    conversion = ok(await fx_merchant.post(CONVERSIONS, terms), "conversion")
    both = await fx_merchant.post(CONVERSIONS, {**terms, "quote_id": conversion["quote_id"]})

    assert conversion["quote_id"].startswith("quote_")
    assert minor(conversion["buy_amount"]) == 10_000
    price = Decimal(10_000) * Decimal(conversion["client_rate"])  # EURGBP: GBP per EUR
    assert minor(conversion["sell_amount"]) == math.ceil(price)
    assert (both.status_code, violated_fields(both)) == (400, ["quote_id"])


async def test_beneficiaries_list_in_pages_newest_first_and_by_currency(
    fx_merchant: FxMerchant,
) -> None:
    made = [(await fx_merchant.beneficiary(gb_beneficiary(name=f"Supplier {i}")))["id"]
            for i in range(3)]  # fmt: skip

    first = (await fx_merchant.get(BENEFICIARIES, page_size="2")).json()
    second = (
        await fx_merchant.get(BENEFICIARIES, page_size="2", page_token=first["next_page_token"])
    ).json()
    in_eur = (await fx_merchant.get(BENEFICIARIES, currency="EUR")).json()

    assert [b["id"] for b in first["beneficiaries"]] == made[:0:-1]
    assert [b["id"] for b in second["beneficiaries"]] == made[:1]
    assert second.get("next_page_token", "") == ""
    assert in_eur["beneficiaries"] == []
