"""A gateway without Currencycloud (no ``GATEWAY_CURRENCYCLOUD__BASE_URL``) still serves the
FX, beneficiary and payout APIs, and every RPC that needs the provider answers 503 with the
reason FX_PROVIDER_NOT_CONFIGURED, not 501: the deployment lacks a provider, the API is
there. GetBalances needs only the ledger, and reads the merchant's card money as usual."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.gateway.faults_support import own_gateway
from tests.integration.gateway.fx_support import (
    BENEFICIARIES,
    CONVERSIONS,
    PAYOUTS,
    Balance,
    FxMerchant,
    fund,
    gb_beneficiary,
)
from tests.integration.gateway.payments_support import error_info
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")


@pytest.mark.slow  # a gateway and an Envoy of its own: about 1.5 s
async def test_without_an_fx_provider_its_rpcs_answer_unavailable_and_balances_still_read(
    stack: GatewayStack, fx_merchant: FxMerchant, tmp_path: Path
) -> None:
    async with own_gateway(stack, tmp_path) as own:
        assert own.parts.fx is None and own.parts.fx_client is None
        m = FxMerchant(own.merchant(fx_merchant.m))
        replies: list[httpx.Response] = [
            await m.quote("EUR", "GBP", "SELL", 10_000),
            await m.post(CONVERSIONS, {"quote_id": "quo_1"}),
            await m.get(BENEFICIARIES),
            await m.post(BENEFICIARIES, {"beneficiary": gb_beneficiary()}),
            await m.payout("ben_1", 100, "GBP"),
            await m.get(f"{PAYOUTS}/po_1"),
        ]
        await fund(own.parts, m, 5_000, "GBP")
        balances = await m.balances()

    for reply in replies:
        assert reply.status_code == 503, reply.text
        assert error_info(reply)["reason"] == "FX_PROVIDER_NOT_CONFIGURED"
    assert balances == {"GBP": Balance(5_000, 5_000, 5_000)}
