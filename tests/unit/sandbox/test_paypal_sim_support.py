"""A thin driver over PayPalSim.handle for the simulator's unit tests (no tests here)."""

from __future__ import annotations

import base64
import json
from typing import Any, cast

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.paypal import PayPalSim

PUBLIC = "https://sandbox.test"
VISA = "4242424242424242"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def order(
    *,
    intent: str = "AUTHORIZE",
    value: str = "10.00",
    currency: str = "USD",
    number: str = VISA,
    name: str = "",
    custom_id: str = "att_1",
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A create-order body with a card payment source (or ``source`` instead)."""
    card: dict[str, Any] = {"number": number, "expiry": "2030-12", "security_code": "123"}
    if name:
        card["name"] = name
    return {
        "intent": intent,
        "purchase_units": [
            {"custom_id": custom_id, "amount": {"currency_code": currency, "value": value}}
        ],
        "payment_source": source if source is not None else {"card": card},
    }


class Driver:
    """Requests to one simulator, with a valid token unless told otherwise."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig(public_url=PUBLIC)
        self.clock = Clock()
        self.sim = PayPalSim(self.config, clock=self.clock)
        self._token = ""

    async def raw(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> SimResponse:
        request = SimRequest(method, path, query or {}, headers or {}, body)
        return await self.sim.handle(request)

    async def token(self) -> str:
        if not self._token:
            reply = await self.raw(
                "POST",
                "/v1/oauth2/token",
                b"grant_type=client_credentials",
                {
                    "authorization": basic(
                        self.config.paypal_client_id, self.config.paypal_client_secret
                    )
                },
            )
            self._token = json.loads(reply.body)["access_token"]
        return self._token

    def payments(self) -> dict[str, Any]:
        """The snapshot's payments, by order id."""
        return cast(dict[str, Any], self.sim.snapshot()["payments"])

    def renew(self) -> None:
        """Fetch a new token on the next request (after the clock moved past the old one)."""
        self._token = ""

    async def headers(
        self, rid: str | None, full: bool, extra: dict[str, str] | None
    ) -> dict[str, str]:
        headers = {"authorization": f"Bearer {await self.token()}"}
        if full:
            headers["prefer"] = "return=representation"
        if rid is not None:
            headers["paypal-request-id"] = rid
        return {**headers, **(extra or {})}

    async def post(
        self,
        path: str,
        body: object = None,
        *,
        rid: str | None = None,
        full: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        raw = (
            b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        )
        reply = await self.raw("POST", path, raw, await self.headers(rid, full, headers))
        return reply.status, json.loads(reply.body) if reply.body else None

    async def get(self, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        reply = await self.raw(
            "GET", path, headers=await self.headers(None, True, None), query=query
        )
        return reply.status, json.loads(reply.body) if reply.body else None

    async def create(self, **kwargs: Any) -> dict[str, Any]:
        status, body = await self.post("/v2/checkout/orders", order(**kwargs))
        assert status == 201, body
        created: dict[str, Any] = body
        return created


def payments_of(created: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = created["purchase_units"][0]["payments"]
    return found


def issue_of(body: dict[str, Any]) -> str:
    issue: str = body["details"][0]["issue"]
    return issue
