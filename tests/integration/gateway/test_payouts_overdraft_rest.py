"""The overdraft race over REST: twenty payouts sent at once through Envoy, together larger
than the merchant's balance. The ledger's no-overdraft flag on the merchant's balance
refuses every hold that would take it below zero, whatever the interleaving: those payouts
are refused with INSUFFICIENT_FUNDS and never reach the provider, the others are PENDING,
and the available balance ends at what is left, never below zero."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.testing import SandboxHandle
from tests.integration.gateway.fx_support import Balance, FxMerchant, fund, gb_beneficiary
from tests.integration.gateway.payments_support import error_info
from tests.integration.gateway.support import GatewayStack
from tests.integration.sandbox.test_currencycloud_adapter_support import state

pytestmark = pytest.mark.asyncio(loop_scope="package")

FUNDED = 100_000
EACH = 7_000
FITS = FUNDED // EACH  # 14 fit; 20 x 7,000 = 140,000 would overdraw it by 40,000


@pytest.mark.slow  # twenty concurrent payouts through Envoy, each a ledger hold: about 2 s
async def test_twenty_concurrent_payouts_beyond_the_balance_never_overdraw_it(
    stack: GatewayStack, sandbox: SandboxHandle, fx_merchant: FxMerchant
) -> None:
    m = fx_merchant
    await fund(stack.parts, m, FUNDED, "GBP")
    beneficiary = await m.beneficiary(gb_beneficiary())

    replies = await asyncio.gather(
        *(m.payout(beneficiary["id"], EACH, "GBP", f"INV-{i}") for i in range(20))
    )

    accepted = [r.json()["payout"] for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code != 200]
    assert len(accepted) == FITS
    assert {p["status"] for p in accepted} == {"PAYOUT_STATUS_PENDING"}
    assert {(r.status_code, error_info(r)["reason"]) for r in refused} == {
        (400, "INSUFFICIENT_FUNDS")
    }
    assert len(refused) == 20 - FITS
    left = FUNDED - FITS * EACH
    assert await m.balances() == {"GBP": Balance(available=left, posted=FUNDED, pending=left)}
    at_provider = (await state(sandbox))["payments"].items()
    mine = {
        ref for ref, p in at_provider if p["beneficiary_id"] == beneficiary["provider_reference"]
    }
    assert mine == {p["provider_reference"] for p in accepted}
