"""Readers of a rendered Envoy bootstrap, for the edge config tests."""

from __future__ import annotations

from typing import Any

LEDGER = "paymesh.ledger.v1.LedgerService"
IDENTITY = "paymesh.identity.v1.IdentityService"
AUDIT = "paymesh.identity.v1.AuditService"
PAYMENTS = "paymesh.gateway.v1.PaymentService"
FX = "paymesh.gateway.v1.FxService"
BENEFICIARIES = "paymesh.gateway.v1.BeneficiaryService"
PAYOUTS = "paymesh.gateway.v1.PayoutService"
WEBHOOKS = "paymesh.gateway.v1.WebhookService"
PROVIDER_WEBHOOKS = "paymesh.gateway.v1.ProviderWebhookService"
"""The providers' callbacks (issue 7): public at the REST edge, signed by the provider."""
CURRENCYCLOUD_SERVICES = (BENEFICIARIES, FX, PAYOUTS)
"""The gateway's issue-6 services: their quotes and mutations call Currencycloud."""
MERCHANT_SERVICES = (BENEFICIARIES, FX, PAYMENTS, PAYOUTS, WEBHOOKS)
"""The gateway's services for merchants' API keys at the REST edge: no workload calls them."""


def listener(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        x for x in config["static_resources"]["listeners"] if x["name"] == name
    )
    return found


def hcm(config: dict[str, Any], name: str) -> dict[str, Any]:
    chain = listener(config, name)["filter_chains"][0]
    typed_config: dict[str, Any] = chain["filters"][0]["typed_config"]
    return typed_config


def downstream_tls(config: dict[str, Any], name: str) -> dict[str, Any]:
    socket = listener(config, name)["filter_chains"][0]["transport_socket"]
    typed_config: dict[str, Any] = socket["typed_config"]
    return typed_config


def cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c for c in config["static_resources"]["clusters"] if c["name"] == name
    )
    return found


def http_filter(config: dict[str, Any], listener_name: str, name: str) -> dict[str, Any]:
    filters = hcm(config, listener_name)["http_filters"]
    typed_config: dict[str, Any] = next(f for f in filters if f["name"] == name)["typed_config"]
    return typed_config
