"""What the payments bench calls with and reads back, through the stack's REST API.

Setup, with the stack's admin key: a merchant of the bench's own (so its books hold nothing
but the bench's payments), and an owner key of that merchant with the highest rate limit
identity accepts (the role's default, 200 req/s, would answer 429 for most of a step). The
owner role may create and read payments and call /v1/me; the ledger reads of the correctness
check use the admin key, whose role alone may read the platform's books.

Every payment is Stripe's documented always-succeeding test method (``pm_card_visa``) with
automatic capture. Each h2load process posts its own amount (``amount_minor``), so the sums
the correctness check compares depend on which payments exist, not only how many.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.edge_data import BENCH_RATE
from bench.payments_stack import PaymentStack

PAYMENTS_PATH = "/v1/payments"
CURRENCY = "USD"
BASE_AMOUNT_MINOR = 1000
_PAGE_SIZE = 100  # ListPayments' maximum


@dataclass(frozen=True)
class BenchMerchant:
    """The merchant the bench pays into, and the key it pays with."""

    merchant_id: str
    token: str
    key_id: str

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def client(stack: PaymentStack, token: str, timeout_s: float = 30.0) -> httpx.Client:
    """A REST client of the stack's edge, trusting only the dev CA."""
    trust = ssl.create_default_context(cafile=str(stack.stack.pki / "ca.pem"))
    return httpx.Client(base_url=stack.rest_url, verify=trust, timeout=timeout_s,
                        headers={"authorization": f"Bearer {token}"})  # fmt: skip


def ok_json(reply: httpx.Response) -> dict[str, Any]:
    if reply.status_code != 200:
        raise RuntimeError(f"{reply.request.method} {reply.request.url}: {reply.status_code} "
                           f"{reply.text[:500]}")  # fmt: skip
    body: dict[str, Any] = reply.json()
    return body


def create_merchant(stack: PaymentStack, name: str) -> BenchMerchant:
    """A new merchant and an owner key of it, made with the stack's admin key."""
    with client(stack, stack.stack.admin_key) as admin:
        merchant = ok_json(
            admin.post("/v1/merchants", json={"display_name": name, "default_currency": CURRENCY})
        )
        merchant_id = str(merchant["merchant"]["merchant_id"])
        body = {"display_name": f"{name} key", "role": "ROLE_OWNER", "rate_limit": BENCH_RATE}
        created = ok_json(admin.post(f"/v1/merchants/{merchant_id}/api-keys", json=body))
    return BenchMerchant(merchant_id, str(created["secret"]), str(created["api_key"]["key_id"]))


def payment_body(amount_minor: int) -> dict[str, Any]:
    """CreatePayment's JSON: a card token, automatic capture, no provider preference."""
    return {
        "amount": {"currency_code": CURRENCY, "minor_units": str(amount_minor)},
        "payment_method": {"token": "pm_card_visa"},
        "capture_method": "CAPTURE_METHOD_AUTOMATIC",
        "description": "paymesh payments bench",
    }


def write_body(path: Path, amount_minor: int) -> Path:
    path.write_text(json.dumps(payment_body(amount_minor), separators=(",", ":")))
    return path


def warm_up(
    stack: PaymentStack, merchant: BenchMerchant, count: int, first: int = 0
) -> list[dict[str, Any]]:
    """Payments ``first`` to ``count - 1`` (numbering their keys), one by one (the very first
    opens the merchant's books in the ledger); the payments as returned. Raises RuntimeError
    unless each one was captured."""
    made = []
    with client(stack, merchant.token) as api:
        for n in range(first, count):
            reply = api.post(PAYMENTS_PATH, json=payment_body(BASE_AMOUNT_MINOR),
                             headers={"idempotency-key": f"bench-warm-up-{n}"})  # fmt: skip
            payment = ok_json(reply)["payment"]
            if payment.get("status") != "PAYMENT_STATUS_CAPTURED":
                raise RuntimeError(f"warm-up payment not captured: {json.dumps(payment)[:500]}")
            made.append(payment)
    return made


def all_payments(stack: PaymentStack, merchant: BenchMerchant) -> Iterator[dict[str, Any]]:
    """Every payment of the merchant, page by page (ListPayments, newest first)."""
    token = ""
    with client(stack, merchant.token) as api:
        while True:
            params = {"page_size": str(_PAGE_SIZE)} | ({"page_token": token} if token else {})
            page = ok_json(api.get(PAYMENTS_PATH, params=params))
            yield from page.get("payments", [])
            token = str(page.get("next_page_token") or "")
            if not token:
                return


def balances(stack: PaymentStack, codes: dict[str, str]) -> dict[str, dict[str, int]]:
    """The ledger's balances of accounts by code: role -> the four totals in minor units
    (an account the ledger does not know reads as missing: no key)."""
    found: dict[str, dict[str, int]] = {}
    with client(stack, stack.stack.admin_key) as admin:
        for role, code in codes.items():
            reply = admin.get("/v1/ledger/accounts:lookup", params={"code": code})
            if reply.status_code == 404:
                continue
            account_id = ok_json(reply)["account"]["id"]
            balance = ok_json(admin.get(f"/v1/ledger/accounts/{account_id}/balance"))["balance"]
            found[role] = {
                part: int(balance.get(part, {}).get("minor_units", 0))
                for part in ("posted_debits", "posted_credits", "pending_debits", "pending_credits")
            }
    return found
