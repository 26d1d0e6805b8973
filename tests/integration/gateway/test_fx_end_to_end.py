"""Issue 6 end to end through Envoy's REST edge, as a merchant's backend calls it: a quote, a
conversion at it, the balances in both currencies, a beneficiary, a payout, its completion
at the provider, and a ledger that is balanced and says the same as the gateway.

The merchant is funded as merchants are: a card payment, captured. The provider is the
stack's Currencycloud simulator; the bank network's progress is its sandbox-only control, and
the gateway's status poller is made to look at once (``fx_support.settle``).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxHandle
from tests.integration.gateway.fx_support import (
    BENEFICIARIES,
    CONVERSIONS,
    PAYOUTS,
    Balance,
    FxMerchant,
    advance,
    de_beneficiary,
    fund,
    ok,
    settle,
    trial_balance,
)
from tests.integration.gateway.payments_support import Totals, books, minor
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

FUNDED = 100_000
SOLD = 60_000
PAID = 25_000


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _statuses(history: list[dict[str, Any]]) -> list[str]:
    return [h["to_status"].removeprefix("PAYOUT_STATUS_") for h in history]


async def _quote_and_convert(m: FxMerchant) -> tuple[dict[str, Any], dict[str, Any]]:
    """Steps 1 and 2: a quote selling GBP for EUR, then a conversion at it."""
    quote = ok(await m.quote("EUR", "GBP", "SELL", SOLD), "quote")
    assert quote["currency_pair"] == "EURGBP"  # GBP per EUR: selling GBP divides by the rate
    bought = minor(quote["buy_amount"])
    # In the platform's favour: the amount bought is rounded down, from the exact digits shown.
    assert bought == math.floor(Decimal(SOLD) / Decimal(quote["client_rate"]))
    assert minor(quote["sell_amount"]) == SOLD
    window = _time(quote["expire_time"]) - _time(quote["create_time"])
    assert window.total_seconds() == 30

    conversion = ok(await m.post(CONVERSIONS, {"quote_id": quote["id"]}), "conversion")
    assert conversion["quote_id"] == quote["id"]
    assert (conversion["buy_amount"], conversion["sell_amount"]) == (
        quote["buy_amount"],
        quote["sell_amount"],
    )
    assert conversion["client_rate"] == quote["client_rate"]
    assert conversion["status"] == "CONVERSION_STATUS_AWAITING_FUNDS"
    assert conversion["provider_reference"]
    assert [h["reason"] for h in conversion["history"]] == ["created", "awaiting_funds"]
    fetched = ok(await m.get(f"{CONVERSIONS}/{conversion['id']}"), "conversion")
    assert fetched == conversion
    return quote, conversion


async def _complete(stack: GatewayStack, sandbox: SandboxHandle, m: FxMerchant,
                    payout: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Step 6: the bank network sends the payout, then completes it; the poller follows."""
    ref, path = payout["provider_reference"], f"{PAYOUTS}/{payout['id']}"
    assert await advance(sandbox, ref) == "submitted"
    await settle(stack)
    assert ok(await m.get(path), "payout")["status"] == "PAYOUT_STATUS_SUBMITTED"
    assert await advance(sandbox, ref) == "completed"
    await settle(stack)
    done = ok(await m.get(path), "payout")
    assert done["status"] == "PAYOUT_STATUS_COMPLETED"
    assert _statuses(done["history"]) == ["PENDING", "SUBMITTED", "COMPLETED"]
    times = [_time(h["transition_time"]) for h in done["history"]]
    assert times == sorted(times)
    return done


@pytest.mark.slow  # about 25 REST calls, two poller passes and four outbox drains: ~1.3 s
async def test_quote_convert_pay_out_and_complete_with_balances_and_ledger_in_step(
    stack: GatewayStack, sandbox: SandboxHandle, fx_merchant: FxMerchant, rest: httpx.AsyncClient
) -> None:
    m = fx_merchant
    await fund(stack.parts, m, FUNDED, "GBP")
    assert await m.balances() == {"GBP": Balance(FUNDED, FUNDED, FUNDED)}

    quote, conversion = await _quote_and_convert(m)
    await stack.parts.payments.relay.drain()
    bought = minor(quote["buy_amount"])
    # Step 3: both currencies moved by exactly the quote's amounts.
    left = FUNDED - SOLD
    assert await m.balances() == {"GBP": Balance(left, left, left), "EUR": Balance(*[bought] * 3)}

    beneficiary = await m.beneficiary(de_beneficiary())  # step 4
    assert beneficiary["masked_account"] == "...3000"
    assert (beneficiary["iban"], beneficiary["account_number"]) == ("", "")

    created = await m.payout(beneficiary["id"], PAID, "EUR")  # step 5
    payout = ok(created, "payout")
    assert payout["status"] == "PAYOUT_STATUS_PENDING"
    assert "0532013000" not in created.text  # the account never comes back
    held = await m.balances()
    assert held["EUR"] == Balance(available=bought - PAID, posted=bought, pending=bought - PAID)

    done = await _complete(stack, sandbox, m, payout)  # step 6
    fee = minor(done["fee"])
    assert done["fee"]["currency_code"] == "EUR" and fee == 25  # the sandbox's 10 bps
    final = bought - PAID - fee
    assert await m.balances() == {
        "GBP": Balance(left, left, left),
        "EUR": Balance(final, final, final),
    }

    # Step 7: the ledger is balanced, and the merchant's books say what the gateway says.
    trial = await trial_balance(stack.edge, rest)
    assert trial["GBP"]["balanced"] and trial["EUR"]["balanced"]
    ledger = await books(stack.edge, rest, m.merchant_id)
    base = f"gw/{m.merchant_id}"
    assert ledger[f"{base}/GBP/payable"] == Totals(SOLD, FUNDED, 0, 0)
    assert ledger[f"{base}/EUR/payable"] == Totals(PAID + fee, bought, 0, 0)
    assert ledger[f"{base}/EUR/payout_clearing"] == Totals(0, PAID, 0, 0)
    assert ledger[f"{base}/EUR/payout_fees"] == Totals(0, fee, 0, 0)
    listed = (await m.get(CONVERSIONS)).json()["conversions"]
    assert [c["id"] for c in listed] == [conversion["id"]]
    assert ok(await m.get(f"{BENEFICIARIES}/{beneficiary['id']}"), "beneficiary") == beneficiary
