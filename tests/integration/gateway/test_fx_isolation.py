"""Tenant isolation (OWASP API1, broken object-level authorization): merchant B asking by id
for merchant A's quote, conversion, beneficiary or payout gets exactly what a missing id
gets, 404 NOT_FOUND, whether it reads, uses, cancels or deletes; its lists stay empty; and
A's objects are untouched."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.gateway.fx_support import (
    BENEFICIARIES,
    CONVERSIONS,
    PAYOUTS,
    FxMerchant,
    fund,
    gb_beneficiary,
    ok,
)
from tests.integration.gateway.payments_support import error_info, new_merchant
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def _a_objects(stack: GatewayStack, a: FxMerchant) -> dict[str, Any]:
    """A quote, a conversion, a beneficiary and a PENDING payout of merchant A."""
    await fund(stack.parts, a, 50_000, "GBP")
    quote = ok(await a.quote("EUR", "GBP", "SELL", 10_000), "quote")
    conversion = ok(await a.post(CONVERSIONS, {"quote_id": quote["id"]}), "conversion")
    spare = ok(await a.quote("EUR", "GBP", "SELL", 10_000), "quote")
    beneficiary = await a.beneficiary(gb_beneficiary())
    payout = ok(await a.payout(beneficiary["id"], 5_000, "GBP"), "payout")
    return {"quote": spare, "conversion": conversion, "beneficiary": beneficiary,
            "payout": payout}  # fmt: skip


def _not_found(reply: httpx.Response, reason: str) -> None:
    assert (reply.status_code, error_info(reply)["reason"]) == (404, reason), reply.text


@pytest.mark.slow  # two merchants, a funded one with four objects, twenty REST calls: ~0.7 s
async def test_another_merchant_gets_404_for_every_object_by_id(
    stack: GatewayStack, rest: httpx.AsyncClient, fx_merchant: FxMerchant
) -> None:
    a = fx_merchant
    b = FxMerchant(await new_merchant(stack.services, rest))
    objects = await _a_objects(stack, a)
    ben, po = objects["beneficiary"]["id"], objects["payout"]["id"]

    _not_found(await b.get(f"{CONVERSIONS}/{objects['conversion']['id']}"), "CONVERSION_NOT_FOUND")
    _not_found(await b.get(f"{BENEFICIARIES}/{ben}"), "BENEFICIARY_NOT_FOUND")
    _not_found(await b.get(f"{PAYOUTS}/{po}"), "PAYOUT_NOT_FOUND")
    _not_found(await b.post(CONVERSIONS, {"quote_id": objects["quote"]["id"]}), "QUOTE_NOT_FOUND")
    _not_found(await b.payout(ben, 100, "GBP"), "BENEFICIARY_NOT_FOUND")
    _not_found(await b.post(f"{PAYOUTS}/{po}:cancel", {}), "PAYOUT_NOT_FOUND")
    deleted = await b.m.rest.delete(f"{BENEFICIARIES}/{ben}", headers=b.m.headers())
    _not_found(deleted, "BENEFICIARY_NOT_FOUND")
    for path, field in ((CONVERSIONS, "conversions"), (BENEFICIARIES, "beneficiaries"),
                        (PAYOUTS, "payouts")):  # fmt: skip
        assert (await b.get(path)).json()[field] == []

    # A's own view is intact: its beneficiary still there, its payout still PENDING.
    assert ok(await a.get(f"{BENEFICIARIES}/{ben}"), "beneficiary") == objects["beneficiary"]
    assert ok(await a.get(f"{PAYOUTS}/{po}"), "payout")["status"] == "PAYOUT_STATUS_PENDING"
    assert ok(await a.post(CONVERSIONS, {"quote_id": objects["quote"]["id"]}), "conversion")
