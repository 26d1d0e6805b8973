"""What every simulator accepts: credentials, token lifetimes, the sandbox's own URL, and where
its signed provider callbacks go (sandbox.webhooks).

The credential defaults are the same literal values the gateway's settings default to, so a
stack started with no configuration at all connects; they are written out here rather than
imported because sandbox/ must never import gateway_svc/ (an import contract). Each field can
be overridden by the environment variable ``SANDBOX_<FIELD>`` (``SANDBOX_STRIPE_SECRET_KEY``)
when the sandbox runs as ``python -m sandbox``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "SANDBOX_"


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Credentials and knobs, frozen: simulators are built from one and keep it.

    The secrets are published sandbox test values, not credentials of anything real (hence
    the S105 waivers).
    """

    stripe_secret_key: str = "sk_test_paymesh_sandbox_4eC39HqLyjWDarjtT1zdp7dc"  # noqa: S105
    authorizenet_login_id: str = "paymesh_sbx"
    authorizenet_transaction_key: str = "8Hk4Zr72Tq9pW3mX"
    razorpay_key_id: str = "rzp_test_paymesh"
    razorpay_key_secret: str = "rzp_secret_paymesh_sandbox"  # noqa: S105
    paypal_client_id: str = "paymesh-sandbox-client"
    paypal_client_secret: str = "paymesh-sandbox-secret"  # noqa: S105
    paypal_token_ttl_s: int = 32400
    """PayPal's documented access-token lifetime (9 hours)."""
    currencycloud_login_id: str = "sandbox@paymesh.local"
    currencycloud_api_key: str = "cb58751f6736223873756fa0659c26ec49bcea1f22b9892143cecd895797ef29"
    stripe_webhook_secret: str = "whsec_paymesh_sandbox_stripe_5d1f0c7a9b"  # noqa: S105
    authorizenet_signature_key: str = "7A3F" * 32
    """Authorize.net's Signature Key: 128 upper-case hex characters."""
    razorpay_webhook_secret: str = "rzp_whsec_paymesh_sandbox"  # noqa: S105
    paypal_webhook_id: str = "WH-PAYMESH-SANDBOX-0001"
    """The id PayPal gave the merchant's webhook; verify-webhook-signature checks it."""
    currencycloud_webhook_secret: str = "cc_whsec_paymesh_sandbox"  # noqa: S105
    webhook_target: str = ""
    """Base URL the callbacks are POSTed under (``<target>/v1/provider-webhooks/<provider>``),
    e.g. Envoy's ``https://127.0.0.1:8443``; empty: no callbacks are sent."""
    webhook_ca_file: str = ""
    """PEM bundle trusted for an https target; empty: the default trust store."""
    webhook_delay_ms: int = 100
    """How long after the state change a callback is sent at the earliest: providers call
    back shortly after answering, not while the merchant is still reading the reply."""
    webhook_lanes: int = 1
    """Callbacks of one provider in flight at once. Events about one object always go out in
    order, one at a time; with more lanes, events about different objects go out side by
    side, as real providers send them (Stripe promises no order across objects). 1: every
    event of a provider in order, what tests that count arrivals rely on; ``make run``
    sets 8 (scripts/stack/sandbox.py)."""
    public_url: str = ""
    """The sandbox's base URL as payers' browsers reach it (3DS action URLs and the like).
    Set by SANDBOX_PUBLIC_URL (compose: the published port); otherwise filled in by the
    server with its bound address once its socket is bound, before any simulator is built."""

    def __post_init__(self) -> None:
        if self.webhook_lanes < 1:
            raise ValueError(f"SANDBOX_WEBHOOK_LANES must be 1 or more, got {self.webhook_lanes}")

    def provider_url(self, provider: str) -> str:
        """Where ``provider`` is mounted (``<public_url>/<provider>``)."""
        return f"{self.public_url}/{provider}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """The defaults with every ``SANDBOX_<FIELD>`` present in ``environ`` applied.

        An int field given a non-integer raises ValueError naming the variable: a typo in a
        stack's environment must stop the sandbox, not run it with a default.
        """
        env = os.environ if environ is None else environ
        changes: dict[str, object] = {}
        for spec in dataclasses.fields(cls):
            name = f"{ENV_PREFIX}{spec.name.upper()}"
            if name not in env:
                continue
            raw = env[name]
            if spec.type in (int, "int"):
                try:
                    changes[spec.name] = int(raw)
                except ValueError:
                    raise ValueError(f"{name} must be an integer, got {raw!r}") from None
            else:
                changes[spec.name] = raw
        return dataclasses.replace(cls(), **changes)  # type: ignore[arg-type]
