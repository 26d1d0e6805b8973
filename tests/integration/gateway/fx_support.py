"""REST helpers of the FX, beneficiary and payout tests: a merchant's calls through Envoy,
funding it as a merchant is funded, moving the sandbox's payments on, and the ledger's view.

Everything a merchant does goes over HTTPS to the real Envoy with its API key, as for
payments (``payments_support``). Money comes in the way it does in production: a card payment
through PaymentService, captured, whose posting the outbox relay delivers to the ledger's
merchant balance (``fund``). What the provider does later is scripted with the Currencycloud
simulator's sandbox-only controls (``advance``), and the gateway's status poller is made to
look at once (``settle``) instead of waiting for its schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway_svc.app import GatewayParts
from sandbox.testing import SandboxHandle
from tests.e2e.stack_fixture import Edge
from tests.integration.gateway.payments_support import (
    Merchant,
    card,
    minor,
    new_key,
    payment_body,
)
from tests.integration.gateway.support import GatewayStack
from tests.integration.sandbox.test_currencycloud_adapter_support import control

QUOTE = "/v1/fx/quote"
CONVERSIONS = "/v1/fx/conversions"
BENEFICIARIES = "/v1/beneficiaries"
PAYOUTS = "/v1/payouts"
BALANCES = "/v1/balances"
VISA = card("4242424242424242")
DE_IBAN = "DE89 3704 0044 0532 0130 00"
"""The IBAN standard's German example (valid check digits), written as people write it."""
DE_BIC = "COBADEFF370"


def gb_beneficiary(**changes: Any) -> dict[str, Any]:
    """A GBP beneficiary at a UK bank: account number and sort code, regular payouts."""
    fields: dict[str, Any] = {
        "name": "Acme Supplies",
        "bank_account_holder_name": "Acme Supplies Ltd",
        "bank_country": "GB",
        "currency": "GBP",
        "entity_type": "BENEFICIARY_ENTITY_TYPE_COMPANY",
        "account_number": "31926819",
        "routing_code_type": "sort_code",
        "routing_code_value": "40-47-84",
    }
    return fields | changes


def de_beneficiary(**changes: Any) -> dict[str, Any]:
    """A EUR beneficiary at a German bank: IBAN and BIC, regular (SEPA) and priority."""
    fields: dict[str, Any] = {
        "name": "Bäckerei Schmidt",
        "bank_account_holder_name": "Bäckerei Schmidt GmbH",
        "bank_country": "DE",
        "currency": "EUR",
        "entity_type": "BENEFICIARY_ENTITY_TYPE_COMPANY",
        "payment_types": ["PAYOUT_TYPE_REGULAR", "PAYOUT_TYPE_PRIORITY"],
        "iban": DE_IBAN,
        "bic_swift": DE_BIC,
    }
    return fields | changes


def ok(reply: httpx.Response, field: str) -> dict[str, Any]:
    """The ``field`` of a reply that must have succeeded."""
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()[field]
    return found


@dataclass(frozen=True)
class Balance:
    """A currency balance as GetBalances shows it, in minor units."""

    available: int
    posted: int
    pending: int


@dataclass
class FxMerchant:
    """A merchant (``payments_support.Merchant``) calling the FX, beneficiary and payout
    services over REST."""

    m: Merchant

    @property
    def merchant_id(self) -> str:
        return self.m.merchant_id

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.m.rest.get(path, params=params, headers=self.m.headers())

    async def post(self, path: str, body: dict[str, Any], key: str | None = "") -> httpx.Response:
        """POST with an Idempotency-Key (a fresh one unless given; None: none)."""
        headers = self.m.headers(new_key() if key == "" else key)
        return await self.m.rest.post(path, json=body, headers=headers)

    async def quote(self, buy: str, sell: str, side: str, amount_minor: int) -> httpx.Response:
        """GetQuote; ``side`` is "BUY" or "SELL"."""
        return await self.get(
            QUOTE,
            buy_currency=buy,
            sell_currency=sell,
            fixed_side=f"FIXED_SIDE_{side}",
            **{"amount.minor_units": str(amount_minor)},
        )

    async def beneficiary(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a beneficiary that must be accepted; its JSON."""
        return ok(await self.post(BENEFICIARIES, {"beneficiary": body}), "beneficiary")

    async def payout(self, beneficiary_id: str, amount_minor: int, currency: str,
                     reference: str = "INV-1", key: str | None = "") -> httpx.Response:  # fmt: skip
        body = {
            "beneficiary_id": beneficiary_id,
            "amount": {"currency_code": currency, "minor_units": str(amount_minor)},
            "reason": "Invoice payment",
            "reference": reference,
        }
        return await self.post(PAYOUTS, body, key)

    async def balances(self) -> dict[str, Balance]:
        """GetBalances, by currency code."""
        reply = await self.get(BALANCES)
        assert reply.status_code == 200, reply.text
        return {
            b["currency_code"]: Balance(
                minor(b["available"]), minor(b["posted"]), minor(b["pending"])
            )
            for b in reply.json().get("balances", [])
        }


async def fund(parts: GatewayParts, merchant: FxMerchant, amount_minor: int, currency: str) -> None:
    """Money on the merchant's balance as a merchant gets it: a card payment, captured, whose
    posting the outbox relay of the gateway (``parts``) has delivered to the ledger."""
    payment = await merchant.m.pay(payment_body(amount_minor, currency, VISA))
    assert payment["status"] == "PAYMENT_STATUS_CAPTURED", payment
    await parts.payments.relay.drain()


async def advance(sandbox: SandboxHandle, payment_id: str, status: str = "") -> str:
    """Move the provider's payment to its next status (or ``status``), as the bank network
    would; its new Currencycloud status."""
    query = {"status": status} if status else {}
    moved = await control(sandbox, f"payments/{payment_id}/advance", **query)
    return str(moved["status"])


async def settle(stack: GatewayStack) -> None:
    """One status poller pass over every open conversion and payout as if their checks were
    due (the schedule waits 5 s and more), then the outbox drained into the ledger."""
    fx = stack.parts.fx
    assert fx is not None, "the package gateway has Currencycloud configured"
    await fx.poller.run_once(datetime.now(UTC) + timedelta(hours=1))
    await stack.parts.payments.relay.drain()


async def trial_balance(edge: Edge, rest: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The ledger's trial balance per currency, read with the platform admin's key."""
    reply = await rest.get("/v1/ledger/trial-balance", headers=edge.auth())
    assert reply.status_code == 200, reply.text
    return {c["currency_code"]: c for c in reply.json()["currencies"]}
