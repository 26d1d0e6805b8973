"""Shared set-up for the Currencycloud adapter tests (no tests here): an adapter on the TLS
sandbox, the sandbox-only controls, and sample details."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient, CurrencycloudConfig
from gateway_svc.adapters.providers.currencycloud_transport import RetryPolicy
from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.domain.fx_provider import (
    BeneficiaryDetails,
    ConversionTerms,
    FixedSide,
    PayoutRequest,
)
from sandbox.testing import SandboxHandle

NAME = "currencycloud"
GB_DETAILS = BeneficiaryDetails(
    name="Acme Ltd",
    bank_account_holder_name="Acme Ltd",
    bank_country="GB",
    currency="GBP",
    account_number="12345678",
    routing_code_type_1="sort_code",
    routing_code_value_1="123456",
)
EUR_FOR_GBP = ConversionTerms("EUR", "GBP", FixedSide.BUY, 100_000)


def client_for(
    handle: SandboxHandle,
    *,
    api_key: str | None = None,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    login_cooldown_s: float | None = None,
    base_url: str | None = None,
    **http: Any,
) -> CurrencycloudClient:
    """An adapter for the sandbox's Currencycloud (its credentials unless told otherwise)."""
    config = handle.config
    http_config = HttpConfig(
        base_url=base_url or handle.base_url(NAME), ca_file=str(handle.ca_file), **http
    )
    return CurrencycloudClient(
        CurrencycloudConfig(
            http_config,
            config.currencycloud_login_id,
            config.currencycloud_api_key if api_key is None else api_key,
            retry=retry or RetryPolicy(),
            login_cooldown_s=login_cooldown_s,
        ),
        clock=clock,
        sleep=sleep,
    )


async def control(handle: SandboxHandle, path: str, **query: str) -> Any:
    """A sandbox-only control of the simulator (``/currencycloud/_sandbox/<path>``)."""
    async with handle.client(NAME) as client:
        response = await client.post(f"/_sandbox/{path}", params=query)
    assert response.status_code == 200, response.text
    return response.json()


async def state(handle: SandboxHandle) -> dict[str, Any]:
    """The simulator's snapshot."""
    found: dict[str, Any] = await handle.control.state(NAME)
    return found


def payout(
    beneficiary_id: str, amount_minor: int = 50_000, reference: str = "INV-42"
) -> PayoutRequest:
    """A regular GBP payout to ``beneficiary_id``."""
    return PayoutRequest(beneficiary_id, "GBP", amount_minor, "Invoice 42", reference)
