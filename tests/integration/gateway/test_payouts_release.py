"""A payout's hold is released when it fails at the bank or is canceled: the merchant's
available balance comes back whole, nothing stays pending in the ledger, and the provider's
record agrees. Once the bank network has it, a payout can no longer be canceled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxHandle
from tests.integration.gateway.fx_support import (
    PAYOUTS,
    Balance,
    FxMerchant,
    advance,
    fund,
    gb_beneficiary,
    ok,
    settle,
)
from tests.integration.gateway.payments_support import Totals, books, error_info
from tests.integration.gateway.support import GatewayStack
from tests.integration.sandbox.test_currencycloud_adapter_support import state

pytestmark = pytest.mark.asyncio(loop_scope="package")

FUNDED = 50_000
PAID = 20_000
WHOLE = Balance(FUNDED, FUNDED, FUNDED)
HELD = Balance(available=FUNDED - PAID, posted=FUNDED, pending=FUNDED - PAID)


async def _pending_payout(stack: GatewayStack, m: FxMerchant, reference: str) -> dict[str, Any]:
    """A funded merchant's PENDING GBP payout, its amount held."""
    await fund(stack.parts, m, FUNDED, "GBP")
    beneficiary = await m.beneficiary(gb_beneficiary())
    payout = ok(await m.payout(beneficiary["id"], PAID, "GBP", reference), "payout")
    assert payout["status"] == "PAYOUT_STATUS_PENDING"
    assert (await m.balances())["GBP"] == HELD
    return payout


async def _nothing_held(stack: GatewayStack, rest: httpx.AsyncClient, m: FxMerchant) -> None:
    ledger = await books(stack.edge, rest, m.merchant_id)
    assert ledger[f"gw/{m.merchant_id}/GBP/payable"] == Totals(0, FUNDED, 0, 0)
    assert (await m.balances())["GBP"] == WHOLE


# A poller pass reads every open payout of the package's gateway, those other tests left
# PENDING included: about 1 s once the overdraft test's have joined them.
@pytest.mark.slow
async def test_a_payout_the_bank_rejects_fails_and_releases_its_hold(
    stack: GatewayStack, sandbox: SandboxHandle, fx_merchant: FxMerchant, rest: httpx.AsyncClient
) -> None:
    payout = await _pending_payout(stack, fx_merchant, "INV-7 sandbox_fail")
    ref = payout["provider_reference"]

    assert await advance(sandbox, ref) == "submitted"
    assert await advance(sandbox, ref) == "failed"
    await settle(stack)

    failed = ok(await fx_merchant.get(f"{PAYOUTS}/{payout['id']}"), "payout")
    assert failed["status"] == "PAYOUT_STATUS_FAILED"
    assert "rejected" in failed["failure_reason"]
    assert "fee" not in failed
    await _nothing_held(stack, rest, fx_merchant)


async def test_a_canceled_payout_releases_its_hold_and_is_deleted_at_the_provider(
    stack: GatewayStack, sandbox: SandboxHandle, fx_merchant: FxMerchant, rest: httpx.AsyncClient
) -> None:
    payout = await _pending_payout(stack, fx_merchant, "INV-8")

    reply = await fx_merchant.post(f"{PAYOUTS}/{payout['id']}:cancel", {})
    await stack.parts.payments.relay.drain()

    canceled = ok(reply, "payout")
    assert canceled["status"] == "PAYOUT_STATUS_CANCELED"
    assert canceled["history"][-1]["reason"] == "canceled by the merchant"
    at_provider = (await state(sandbox))["payments"][payout["provider_reference"]]
    assert at_provider["status"] == "deleted"
    await _nothing_held(stack, rest, fx_merchant)


@pytest.mark.slow  # a poller pass, as above
async def test_a_payout_the_bank_network_has_can_no_longer_be_canceled(
    stack: GatewayStack, sandbox: SandboxHandle, fx_merchant: FxMerchant
) -> None:
    payout = await _pending_payout(stack, fx_merchant, "INV-9")
    await advance(sandbox, payout["provider_reference"])
    await settle(stack)

    reply = await fx_merchant.post(f"{PAYOUTS}/{payout['id']}:cancel", {})

    assert reply.status_code == 400
    assert error_info(reply)["reason"] == "PAYOUT_NOT_CANCELABLE"
    assert (await fx_merchant.balances())["GBP"] == HELD  # still on its way: still held
