"""What ``create_app`` wires from settings, without I/O: one adapter per configured provider,
and PayPal's order search only where the paymesh sandbox answers it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError

from gateway_svc.adapters.providers.paypal import PayPalProvider
from gateway_svc.app import build_providers, provider_http_configs
from gateway_svc.domain.providers import Provider
from gateway_svc.settings import GatewaySettings, gateway_settings_help

SANDBOX = "https://127.0.0.1:8600"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own GATEWAY_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def _settings(**providers: dict[str, Any]) -> GatewaySettings:
    return GatewaySettings(plaintext=True, **providers)  # type: ignore[arg-type]


async def test_each_configured_provider_gets_its_adapter_and_the_others_none() -> None:
    settings = _settings(
        stripe={"base_url": f"{SANDBOX}/stripe"}, paypal={"base_url": f"{SANDBOX}/paypal"}
    )

    adapters = build_providers(settings, provider_http_configs(settings))
    try:
        names = {name: adapter.name for name, adapter in adapters.items()}
        sandboxed = {adapter.sandbox for adapter in adapters.values()}
    finally:
        for adapter in adapters.values():
            await adapter.aclose()

    assert names == {"stripe": Provider.STRIPE, "paypal": Provider.PAYPAL}
    assert sandboxed == {True}


@pytest.mark.parametrize(
    ("paypal", "searches"),
    [
        ({"base_url": f"{SANDBOX}/paypal"}, True),  # the paymesh sandbox
        ({"base_url": "https://api-m.sandbox.paypal.com"}, False),  # PayPal's own sandbox
        ({"base_url": "https://api-m.paypal.com", "sandbox": False}, False),
        ({"base_url": f"{SANDBOX}/paypal", "order_search": False}, False),
        ({"base_url": "https://paypal.internal.example", "order_search": True}, True),
        ({}, False),  # not configured
    ],
)
def test_paypal_order_search_is_on_only_against_the_paymesh_sandbox(
    paypal: dict[str, Any], searches: bool
) -> None:
    assert _settings(paypal=paypal).paypal.searches_orders is searches


@pytest.mark.parametrize("host", ["api-m.paypal.com", "API-M.SANDBOX.PAYPAL.COM:443"])
def test_order_search_against_paypal_itself_is_refused_at_start_up(host: str) -> None:
    with pytest.raises(ValidationError, match="order_search"):
        _settings(paypal={"base_url": f"https://{host}", "order_search": True})


async def test_the_paypal_adapter_is_built_with_the_derived_order_search() -> None:
    settings = _settings(paypal={"base_url": f"{SANDBOX}/paypal"})

    [adapter] = build_providers(settings, provider_http_configs(settings)).values()
    try:
        assert isinstance(adapter, PayPalProvider)
        # The adapter has no public view of its config; its lookup() is tested against the
        # sandbox in tests/integration/sandbox.
        assert adapter._config.order_search is True
    finally:
        await adapter.aclose()


def test_help_shows_the_unset_order_search_as_derived() -> None:
    [row] = [r for r in gateway_settings_help().splitlines() if "PAYPAL__ORDER_SEARCH" in r]

    assert "(unset)" in row
