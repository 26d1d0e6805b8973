"""A quote's rate lock ends: converting on it afterwards is refused with 400 QUOTE_EXPIRED,
holds nothing and books nothing, and a new quote converts. The package's gateway locks quotes
for the default 30 s, so this test runs a gateway of its own (same ledger, identity and
sandbox, its own Envoy) with ``GATEWAY_FX_QUOTE_TTL_S`` at its minimum, one second."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.gateway.faults_support import own_gateway
from tests.integration.gateway.fx_support import (
    CONVERSIONS,
    Balance,
    FxMerchant,
    fund,
    ok,
)
from tests.integration.gateway.payments_support import error_info
from tests.integration.gateway.support import GatewayStack, currencycloud_at

pytestmark = pytest.mark.asyncio(loop_scope="package")

FUNDED = 20_000


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow  # a gateway and an Envoy of its own (~1.4 s), then the one-second lock
async def test_a_conversion_on_an_expired_quote_is_refused_and_holds_nothing(
    stack: GatewayStack, fx_merchant: FxMerchant, tmp_path: Path
) -> None:
    cc = currencycloud_at(stack.services.sandbox, stack.services.pki / "ca.pem")
    async with own_gateway(stack, tmp_path, currencycloud=cc, fx_quote_ttl_s=1) as own:
        m = FxMerchant(own.merchant(fx_merchant.m))
        await fund(own.parts, m, FUNDED, "GBP")
        quote = ok(await m.quote("EUR", "GBP", "SELL", 10_000), "quote")
        expires = _time(quote["expire_time"])
        assert (expires - _time(quote["create_time"])).total_seconds() == 1
        await asyncio.sleep((expires - datetime.now(UTC)).total_seconds() + 0.02)

        late = await m.post(CONVERSIONS, {"quote_id": quote["id"]})

        assert late.status_code == 400
        info = error_info(late)
        assert info["reason"] == "QUOTE_EXPIRED"
        assert info["metadata"]["quote_id"] == quote["id"]
        assert await m.balances() == {"GBP": Balance(FUNDED, FUNDED, FUNDED)}
        assert (await m.get(CONVERSIONS)).json()["conversions"] == []
        fresh = ok(await m.quote("EUR", "GBP", "SELL", 10_000), "quote")
        converted = ok(await m.post(CONVERSIONS, {"quote_id": fresh["id"]}), "conversion")
        assert converted["status"] == "CONVERSION_STATUS_AWAITING_FUNDS"
