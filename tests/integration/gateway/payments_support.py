"""REST helpers of the payment tests: a merchant with an API key, its calls through Envoy,
the error shape, and the ledger's view of the merchant's books.

Everything goes over HTTPS to the real Envoy with ``Authorization: Bearer <key>``: identity's
ext_authz checks the key and attaches the merchant principal, the transcoder turns JSON into
PaymentService's gRPC, exactly as a merchant's backend calls it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from identity_svc.domain.permissions import Role
from identity_svc.service_layer.context import CallContext
from tests.e2e.stack_fixture import Edge, Services

PAYMENTS = "/v1/payments"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
TEST_EXPIRY = {"exp_month": 12, "exp_year": 2035}


def card(number: str, cvc: str = "") -> dict[str, Any]:
    """A payment_method with a raw test card (American Express has a four-digit CVC)."""
    cvc = cvc or ("7373" if number.startswith(("34", "37")) else "123")
    return {"card": {"number": number, "cvc": cvc, **TEST_EXPIRY}}


def token(value: str) -> dict[str, Any]:
    """A payment_method with a provider token."""
    return {"token": value}


def payment_body(
    minor_units: int,
    currency: str,
    method: dict[str, Any],
    *,
    provider: str = "",
    manual: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """A CreatePayment JSON body (int64 as a string, as protobuf's JSON mapping writes it)."""
    body: dict[str, Any] = {
        "amount": {"currency_code": currency, "minor_units": str(minor_units)},
        "payment_method": method,
        "capture_method": "CAPTURE_METHOD_MANUAL" if manual else "CAPTURE_METHOD_AUTOMATIC",
        **fields,
    }
    if provider:
        body["provider"] = provider
    return body


def money(minor_units: int, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "minor_units": str(minor_units)}


def minor(amount: dict[str, Any]) -> int:
    """A Money's minor units (a JSON string; absent when zero is printed as "0")."""
    return int(amount.get("minor_units", "0"))


def error_info(reply: httpx.Response) -> dict[str, Any]:
    """The ErrorInfo of an error reply (its reason, domain and metadata)."""
    body = reply.json()
    infos = [d for d in body.get("details", []) if d.get("@type") == ERROR_INFO]
    assert infos, body
    info: dict[str, Any] = infos[0]
    return info


def violated_fields(reply: httpx.Response) -> list[str]:
    """The fields a BadRequest detail names."""
    body = reply.json()
    found = [d for d in body.get("details", []) if d.get("@type") == BAD_REQUEST]
    return [v["field"] for d in found for v in d["field_violations"]]


def new_key() -> str:
    return f"idem-{uuid.uuid4().hex}"


@dataclass
class Merchant:
    """One merchant with one API key, calling PaymentService over REST."""

    merchant_id: str
    key_id: str
    token: str
    rest: httpx.AsyncClient

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"authorization": f"Bearer {self.token}"}
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        return headers

    async def create(self, body: dict[str, Any], key: str | None = "") -> httpx.Response:
        """POST /v1/payments with an Idempotency-Key (a fresh one unless given; None: none)."""
        return await self.rest.post(
            PAYMENTS, json=body, headers=self.headers(new_key() if key == "" else key)
        )

    async def pay(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a payment that must succeed; its JSON."""
        reply = await self.create(body)
        assert reply.status_code == 200, reply.text
        payment: dict[str, Any] = reply.json()["payment"]
        return payment

    async def capture(
        self, payment_id: str, amount: dict[str, str] | None = None
    ) -> httpx.Response:
        body = {"amount": amount} if amount else {}
        return await self.rest.post(
            f"{PAYMENTS}/{payment_id}:capture", json=body, headers=self.headers(new_key())
        )

    async def cancel(self, payment_id: str) -> httpx.Response:
        return await self.rest.post(
            f"{PAYMENTS}/{payment_id}:cancel", json={}, headers=self.headers(new_key())
        )

    async def refund(
        self, payment_id: str, amount: dict[str, str] | None = None, key: str | None = ""
    ) -> httpx.Response:
        body = {"amount": amount} if amount else {}
        return await self.rest.post(
            f"{PAYMENTS}/{payment_id}/refunds",
            json=body,
            headers=self.headers(new_key() if key == "" else key),
        )

    async def get(self, payment_id: str) -> httpx.Response:
        return await self.rest.get(f"{PAYMENTS}/{payment_id}", headers=self.headers())

    async def list(self, **params: str) -> httpx.Response:
        return await self.rest.get(PAYMENTS, params=params, headers=self.headers())

    async def refunds(self, payment_id: str) -> httpx.Response:
        return await self.rest.get(f"{PAYMENTS}/{payment_id}/refunds", headers=self.headers())


async def new_merchant(services: Services, rest: httpx.AsyncClient) -> Merchant:
    """A new merchant and an OWNER key (payments:write, payments:read, payments:refund)."""
    ctx = CallContext(services.admin)
    created = await services.identity.create_merchant(
        ctx,
        display_name=f"shop-{uuid.uuid4().hex[:8]}",
        default_currency="USD",
        metadata={},
        status=None,
        request_id="",
    )
    key, secret = await services.identity.create_api_key(
        ctx,
        created.merchant_id,
        display_name="checkout",
        description="",
        role=Role.OWNER,
        expire_time=None,
        rate_limit=None,
        request_id="",
    )
    return Merchant(created.merchant_id, key.key_id, secret, rest)


@dataclass(frozen=True)
class Totals:
    """An account's four running totals, as the ledger reports them."""

    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


async def books(edge: Edge, rest: httpx.AsyncClient, merchant_id: str) -> dict[str, Totals]:
    """Every ledger account of the merchant's books (``gw/<merchant>/...``) by code, read
    through the ledger's REST API with the platform admin's key."""
    listed = await rest.get(
        "/v1/ledger/accounts",
        params={"code_prefix": f"gw/{merchant_id}/", "page_size": "100"},
        headers=edge.auth(),
    )
    assert listed.status_code == 200, listed.text
    out: dict[str, Totals] = {}
    for account in listed.json()["accounts"]:
        reply = await rest.get(f"/v1/ledger/accounts/{account['id']}/balance", headers=edge.auth())
        assert reply.status_code == 200, reply.text
        b = reply.json()["balance"]
        out[account["code"]] = Totals(
            minor(b["posted_debits"]),
            minor(b["posted_credits"]),
            minor(b["pending_debits"]),
            minor(b["pending_credits"]),
        )
    return out
