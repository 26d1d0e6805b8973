"""Helpers for the Stripe adapter's tests against the sandbox (no tests here)."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.stripe import StripeConfig, StripeProvider
from gateway_svc.domain.providers import AuthorizeCall, Card, PaymentMethod
from sandbox.testing import SandboxHandle

VISA = "4242424242424242"
THREE_DS = "4000002500003155"


def provider_for(
    handle: SandboxHandle, *, secret_key: str | None = None, **http: Any
) -> StripeProvider:
    """A StripeProvider pointed at the sandbox's Stripe over TLS with the dev CA."""
    http_config = HttpConfig(
        base_url=handle.base_url("stripe"), ca_file=str(handle.ca_file), **http
    )
    key = handle.config.stripe_secret_key if secret_key is None else secret_key
    return StripeProvider(StripeConfig(http_config, key))


def call(
    key: str = "idem-0001",
    *,
    attempt_id: str | None = None,
    number: str | None = VISA,
    token: str | None = None,
    capture: bool = False,
    amount_minor: int = 1000,
    currency: str = "USD",
) -> AuthorizeCall:
    """An authorization of 10.00 USD by card number (or ``token``), manual capture."""
    method = (
        PaymentMethod(token=token)
        if token is not None
        else PaymentMethod(card=Card(number or VISA, 12, 2040, "123"))
    )
    return AuthorizeCall(
        attempt_id=attempt_id or f"att-{key}",
        idempotency_key=key,
        amount_minor=amount_minor,
        currency=currency,
        method=method,
        capture=capture,
        description="paymesh test order",
        reference="order-42",
        metadata={"merchant": "m_1"},
    )


async def payments(handle: SandboxHandle) -> dict[str, Any]:
    """The Stripe simulator's payments, from the control API."""
    state = await handle.control.state("stripe")
    found: dict[str, Any] = state["payments"]
    return found


async def complete_3ds(handle: SandboxHandle, action_url: str, outcome: str = "complete") -> None:
    """Act as the payer on the 3DS page the action URL opens."""
    tls = ssl.create_default_context(cafile=str(handle.ca_file))
    async with httpx.AsyncClient(verify=tls) as client:
        page = await client.get(action_url)
        assert page.status_code == 200
        query = dict(httpx.URL(action_url).params)
        done = await client.post(action_url.split("?")[0], data={**query, "outcome": outcome})
        assert done.status_code in (200, 302), done.text
