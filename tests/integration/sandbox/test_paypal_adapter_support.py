"""Shared set-up for the PayPal adapter tests (no tests here): an adapter on the sandbox, calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.paypal import PayPalConfig, PayPalProvider
from gateway_svc.domain.providers import AuthorizeCall, Card, PaymentMethod
from sandbox.testing import SandboxHandle

VISA = "4242424242424242"
THREE_DS = "4000002500003155"


def provider_for(
    handle: SandboxHandle,
    *,
    secret: str | None = None,
    order_search: bool = True,
    clock: Callable[[], float] = time.monotonic,
    **http: Any,
) -> PayPalProvider:
    """An adapter for the sandbox's PayPal (its order search on, as the gateway sets it)."""
    config = handle.config
    http_config = HttpConfig(
        base_url=handle.base_url("paypal"), ca_file=str(handle.ca_file), **http
    )
    return PayPalProvider(
        PayPalConfig(
            http_config,
            config.paypal_client_id,
            config.paypal_client_secret if secret is None else secret,
            order_search=order_search,
        ),
        clock=clock,
    )


def call(
    key: str = "idem-0001",
    *,
    number: str = VISA,
    amount: int = 10_000,
    currency: str = "USD",
    capture: bool = False,
    token: str | None = None,
) -> AuthorizeCall:
    """One authorization attempt; the attempt id derives from the key."""
    method = (
        PaymentMethod(token=token)
        if token is not None
        else PaymentMethod(card=Card(number, 12, 2030, "737" if number[:2] != "37" else "7373"))
    )
    return AuthorizeCall(
        attempt_id=f"att_{key}",
        idempotency_key=key,
        amount_minor=amount,
        currency=currency,
        method=method,
        capture=capture,
        description="Order 42",
        reference="ref-42",
    )
