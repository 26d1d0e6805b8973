"""CreatePayout's Idempotency-Key over REST: the same key twice is one payout, one payment at
the provider and one hold, and the second reply is the first one replayed; the same key with
another amount is refused (409 IDEMPOTENCY_KEY_REUSED) and changes nothing."""

from __future__ import annotations

import pytest

from sandbox.testing import SandboxHandle
from tests.integration.gateway.fx_support import (
    PAYOUTS,
    Balance,
    FxMerchant,
    fund,
    gb_beneficiary,
    ok,
)
from tests.integration.gateway.payments_support import error_info, new_key
from tests.integration.gateway.support import GatewayStack
from tests.integration.sandbox.test_currencycloud_adapter_support import state

pytestmark = pytest.mark.asyncio(loop_scope="package")

FUNDED = 30_000
PAID = 12_000


async def test_the_same_idempotency_key_twice_pays_out_once(
    stack: GatewayStack, sandbox: SandboxHandle, fx_merchant: FxMerchant
) -> None:
    m = fx_merchant
    await fund(stack.parts, m, FUNDED, "GBP")
    beneficiary = await m.beneficiary(gb_beneficiary())
    key = new_key()

    first = await m.payout(beneficiary["id"], PAID, "GBP", key=key)
    again = await m.payout(beneficiary["id"], PAID, "GBP", key=key)
    other = await m.payout(beneficiary["id"], PAID + 1, "GBP", key=key)

    payout = ok(first, "payout")
    assert again.status_code == 200 and again.content == first.content  # replayed verbatim
    assert (other.status_code, error_info(other)["reason"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    payments = (await state(sandbox))["payments"].values()
    mine = [p for p in payments if p["beneficiary_id"] == beneficiary["provider_reference"]]
    assert len(mine) == 1
    listed = (await m.get(PAYOUTS)).json()["payouts"]
    assert [p["id"] for p in listed] == [payout["id"]]
    held = Balance(available=FUNDED - PAID, posted=FUNDED, pending=FUNDED - PAID)
    assert (await m.balances())["GBP"] == held
