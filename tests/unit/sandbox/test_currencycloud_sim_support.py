"""A thin driver over CurrencycloudSim.handle for the simulator's unit tests (no tests here)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.currencycloud import CurrencycloudSim

CONFIG = SandboxConfig(public_url="https://sandbox.test")
LOGIN_ID = CONFIG.currencycloud_login_id
API_KEY = CONFIG.currencycloud_api_key
WRONG_KEY = "0" * 64
FORM = "application/x-www-form-urlencoded"

GB_BENEFICIARY = {
    "name": "Acme Ltd",
    "bank_account_holder_name": "Acme Ltd",
    "bank_country": "GB",
    "currency": "GBP",
    "account_number": "12345678",
    "routing_code_type_1": "sort_code",
    "routing_code_value_1": "123456",
}
DE_BENEFICIARY = {
    "name": "Muster GmbH",
    "bank_account_holder_name": "Muster GmbH",
    "bank_country": "DE",
    "currency": "EUR",
    "iban": "DE89370400440532013000",
    "bic_swift": "COBADEFF370",
}


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body_of(reply: SimResponse) -> Any:
    """The reply's JSON."""
    return json.loads(reply.body)


def codes_of(reply: SimResponse) -> dict[str, list[str]]:
    """``error_messages`` as field -> reason codes."""
    messages = body_of(reply)["error_messages"]
    return {field: [reason["code"] for reason in reasons] for field, reasons in messages.items()}


class Driver:
    """Requests to one simulator, with a live token unless told otherwise."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.sim = CurrencycloudSim(CONFIG, clock=self.clock)
        self.token = ""

    async def raw(
        self,
        method: str,
        path: str,
        fields: dict[str, str] | None = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> SimResponse:
        encoded = body if body is not None else urlencode(fields or {}).encode()
        all_headers = {"content-type": FORM, **(headers or {})}
        return await self.sim.handle(SimRequest(method, path, query or {}, all_headers, encoded))

    async def login(self, api_key: str = API_KEY, login_id: str = LOGIN_ID) -> SimResponse:
        return await self.raw(
            "POST", "/v2/authenticate/api", {"login_id": login_id, "api_key": api_key}
        )

    async def ensure_token(self) -> str:
        if not self.token:
            reply = await self.login()
            assert reply.status == 200, reply.body
            self.token = body_of(reply)["auth_token"]
        return self.token

    async def post(self, path: str, fields: dict[str, str] | None = None) -> SimResponse:
        token = await self.ensure_token()
        return await self.raw("POST", path, fields, headers={"x-auth-token": token})

    async def get(self, path: str, query: dict[str, str] | None = None) -> SimResponse:
        token = await self.ensure_token()
        return await self.raw("GET", path, query=query, headers={"x-auth-token": token})

    async def control(self, path: str, query: dict[str, str] | None = None) -> SimResponse:
        return await self.raw("POST", f"/_sandbox/{path}", query=query)

    async def beneficiary(self, **overrides: str) -> str:
        reply = await self.post("/v2/beneficiaries/create", {**GB_BENEFICIARY, **overrides})
        assert reply.status == 200, reply.body
        beneficiary_id: str = body_of(reply)["id"]
        return beneficiary_id

    async def payment(self, beneficiary_id: str, /, **overrides: str) -> SimResponse:
        fields = {
            "currency": "GBP",
            "beneficiary_id": beneficiary_id,
            "amount": "1000.00",
            "reason": "Invoice 42",
            "reference": "INV-42",
            "unique_request_id": "pay-1",
            **overrides,
        }
        return await self.post("/v2/payments/create", fields)

    async def conversion(self, **overrides: str) -> SimResponse:
        fields = {
            "buy_currency": "EUR",
            "sell_currency": "GBP",
            "fixed_side": "buy",
            "amount": "1000",
            "term_agreement": "true",
            "unique_request_id": "conv-1",
            **overrides,
        }
        return await self.post("/v2/conversions/create", fields)
