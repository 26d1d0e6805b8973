"""After a mixed workload over REST, the ledger's books of the merchant (read through the
ledger's own REST API) hold exactly what the payments and the providers' own records say:
captures posted, refunds paid out, provider fees expensed, open authorizations as holds, and
nothing for voided, declined or released money. And identity's audit log names the
merchant's API key for each one."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import pytest

from tests.integration.gateway.payments_support import (
    Merchant,
    Totals,
    books,
    card,
    minor,
    money,
    payment_body,
    token,
)
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")


async def _workload(m: Merchant) -> list[str]:
    """Every kind of money movement, across the four providers and two currencies."""
    ids = []
    partial = await m.pay(payment_body(10_000, "USD", VISA, provider="stripe", manual=True))
    await m.capture(partial["id"], money(6_000, "USD"))
    await m.refund(partial["id"], money(1_000, "USD"))
    await m.refund(partial["id"], money(2_000, "USD"))
    ids.append(partial["id"])
    automatic = await m.pay(
        payment_body(2_500, "USD", card("4111111111111111"), provider="authorizenet")
    )
    ids.append(automatic["id"])
    held = await m.pay(payment_body(4_000, "USD", VISA, manual=True))
    ids.append(held["id"])
    voided = await m.pay(payment_body(3_000, "USD", token("8kk8451t"), manual=True))
    await m.cancel(voided["id"])
    ids.append(voided["id"])
    declined = await m.pay(payment_body(1_000, "USD", card("4000000000000002")))
    ids.append(declined["id"])
    inr = await m.pay(payment_body(50_000, "INR", VISA, provider="razorpay", manual=True))
    await m.capture(inr["id"])
    await m.refund(inr["id"], money(5_000, "INR"))
    ids.append(inr["id"])
    return ids


def _expected(payments: list[dict[str, Any]], merchant_id: str) -> dict[str, Totals]:
    """clearing and payable per currency, from the payments alone (platform fee zero)."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in payments:
        s = sums[p["amount"]["currency_code"]]
        s["captured"] += minor(p["amount_captured"])
        s["refunded"] += minor(p["amount_refunded"])
        s["fees"] += minor(p["fee"]) if "fee" in p else 0
        if p["status"] == "PAYMENT_STATUS_AUTHORIZED":
            s["held"] += minor(p["amount_authorized"])
    out = {}
    for currency, s in sums.items():
        base = f"gw/{merchant_id}/{currency}"
        out[f"{base}/clearing"] = Totals(
            s["captured"], s["refunded"] + s["fees"], debits_pending=s["held"], credits_pending=0
        )
        out[f"{base}/payable"] = Totals(
            s["refunded"], s["captured"], debits_pending=0, credits_pending=s["held"]
        )
        out[f"{base}/provider_fees"] = Totals(s["fees"], 0, 0, 0)
    return out


# Each simulator's own words for a payment's captured and refunded minor units.
_PROVIDER_FIELDS = {
    "stripe": ("captured", "refunded"),
    "authorizenet": ("captured_minor", "refunded_minor"),
    "razorpay": ("captured", "refunded"),
    "paypal": ("captured_minor", "refunded_minor"),
}


async def _provider_says(stack: GatewayStack, payments: list[dict[str, Any]]) -> dict[str, int]:
    """Captured and refunded per currency, from the providers' own records (the sandbox)."""
    out: dict[str, int] = defaultdict(int)
    for p in payments:
        if not p.get("provider_reference"):
            continue  # declined before the provider kept anything
        provider = p["provider"]
        state = await stack.services.sandbox_control.state(provider)
        record = state["payments"][p["provider_reference"]]
        captured, refunded = _PROVIDER_FIELDS[provider]
        currency = p["amount"]["currency_code"]
        out[f"{currency}/captured"] += int(record[captured])
        out[f"{currency}/refunded"] += int(record[refunded])
    return dict(out)


@pytest.mark.slow  # thirteen REST calls and the outbox drain: about 1.5 s
async def test_the_ledger_books_equal_what_the_payments_say(
    stack: GatewayStack, merchant: Merchant, rest: httpx.AsyncClient
) -> None:
    ids = await _workload(merchant)
    payments = [(await merchant.get(pid)).json()["payment"] for pid in ids]
    # The providers' records agree with the payments, so the ledger checked against the
    # payments below is checked against the providers too.
    ours: dict[str, int] = defaultdict(int)
    for p in payments:
        ours[f"{p['amount']['currency_code']}/captured"] += minor(p["amount_captured"])
        ours[f"{p['amount']['currency_code']}/refunded"] += minor(p["amount_refunded"])
    assert await _provider_says(stack, payments) == dict(ours)

    await stack.parts.payments.relay.drain()
    ledger = await books(stack.edge, rest, merchant.merchant_id)

    expected = _expected(payments, merchant.merchant_id)
    assert {code: ledger[code] for code in expected} == expected
    usd = expected[f"gw/{merchant.merchant_id}/USD/clearing"]
    assert (usd.debits_posted, usd.debits_pending) == (6_000 + 2_500, 4_000)
    assert expected[f"gw/{merchant.merchant_id}/INR/payable"].credits_posted == 50_000


async def test_each_mutation_is_audited_with_the_calling_api_key_as_actor(
    stack: GatewayStack, merchant: Merchant, rest: httpx.AsyncClient
) -> None:
    payment = await merchant.pay(payment_body(1_500, "USD", VISA, manual=True))
    await merchant.capture(payment["id"])

    await stack.parts.payments.relay.drain()
    reply = await rest.get(
        "/v1/audit-events",
        params={"merchant_id": merchant.merchant_id},
        headers=stack.edge.auth(),
    )

    assert reply.status_code == 200, reply.text
    # identity's own records of the merchant (created, its key issued) come first.
    events = [e for e in reply.json()["audit_events"] if e["action"].startswith("gateway.")]
    actions = sorted(e["action"] for e in events)
    assert actions == ["gateway.payment.capture", "gateway.payment.create"]
    assert {(e["actor"]["kind"], e["actor"]["id"]) for e in events} == {
        ("api_key", merchant.key_id)
    }
    assert all(payment["id"] in e["target"] for e in events)
