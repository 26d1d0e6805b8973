"""Assembles the gateway: engine, migrations, ledger and audit clients, provider adapters,
the payment and FX use cases and their workers, the webhook use cases, and the host that
serves PaymentService, FxService, BeneficiaryService, PayoutService, WebhookService and the
providers' callbacks (ProviderWebhookService).

``build_parts`` makes everything (nothing is called yet); ``create_app`` puts it behind a
ServiceHost (health, reflection, the shared interceptors, the gateway's error table). The
host starts the outbox relay, the reconciler, the FX status poller and the webhook delivery
worker once it serves, and on stop, after the in-flight RPCs have drained, stops them and
closes the adapters (the Currencycloud client closes its session), the clients and the
engine.

The FX use cases exist only with a configured FX provider (``GATEWAY_CURRENCYCLOUD__BASE_URL``);
their three services are served either way, answering FX_PROVIDER_NOT_CONFIGURED without one
(``entrypoints.fx_common``), so a client can tell a deployment without the provider from a
gateway without the API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.audit_client import AuditClient
from gateway_svc.adapters.internal_rpc import ClientTls
from gateway_svc.adapters.ledger_client import LedgerClient
from gateway_svc.adapters.migrate import migrate
from gateway_svc.adapters.providers.authorizenet import AuthorizeNetConfig, AuthorizeNetProvider
from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient, CurrencycloudConfig
from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.paypal import PayPalConfig, PayPalProvider
from gateway_svc.adapters.providers.paypal_webhooks import PayPalWebhookVerifier
from gateway_svc.adapters.providers.razorpay import RazorpayConfig, RazorpayProvider
from gateway_svc.adapters.providers.stripe import StripeConfig, StripeProvider
from gateway_svc.adapters.providers.stripe_amounts import from_stripe
from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.adapters.webhook_resolver import SystemResolver
from gateway_svc.domain.fx import QuotePolicy
from gateway_svc.entrypoints.beneficiary_servicer import BeneficiaryServicer
from gateway_svc.entrypoints.errors import MAPPER
from gateway_svc.entrypoints.fx_servicer import FxServicer
from gateway_svc.entrypoints.payout_servicer import PayoutServicer
from gateway_svc.entrypoints.provider_webhook_servicer import ProviderWebhookServicer
from gateway_svc.entrypoints.servicer import PaymentServicer
from gateway_svc.entrypoints.webhook_servicer import WebhookServicer
from gateway_svc.service_layer.balances import Balances
from gateway_svc.service_layer.ports import PaymentProvider
from gateway_svc.service_layer.provider_callbacks import ProviderCallbacks
from gateway_svc.service_layer.webhook_delivery_wiring import WebhookDelivery, build_delivery
from gateway_svc.service_layer.wiring import (
    FxWorkers,
    PaymentWorkers,
    WebhookApi,
    build_fx,
    build_payments,
    build_provider_callbacks,
    build_webhooks,
)
from gateway_svc.settings import GatewaySettings, ProviderSettings
from paymesh.gateway.v1 import (
    beneficiaries_pb2_grpc,
    fx_pb2_grpc,
    payments_pb2_grpc,
    payouts_pb2_grpc,
    webhooks_pb2_grpc,
)
from svc_kit import db
from svc_kit.metrics import register_pool
from svc_kit.server import ServiceBinding, ServiceHost

SERVICE_NAME = "paymesh.gateway.v1.PaymentService"
FX_SERVICE_NAME = "paymesh.gateway.v1.FxService"
BENEFICIARY_SERVICE_NAME = "paymesh.gateway.v1.BeneficiaryService"
PAYOUT_SERVICE_NAME = "paymesh.gateway.v1.PayoutService"
WEBHOOK_SERVICE_NAME = "paymesh.gateway.v1.WebhookService"
PROVIDER_WEBHOOK_SERVICE_NAME = "paymesh.gateway.v1.ProviderWebhookService"


@dataclass(frozen=True)
class GatewayParts:
    """What the payment use cases run on, built from settings at start-up."""

    settings: GatewaySettings
    engine: AsyncEngine
    ledger: LedgerClient
    audit: AuditClient
    provider_configs: Mapping[str, HttpConfig]
    """The configured providers' HTTP settings, by name ("stripe", ...)."""
    providers: Mapping[str, PaymentProvider]
    """The provider adapters, by name; see ``build_providers``."""
    payments: PaymentWorkers
    """The payment use cases, the outbox relay and the reconciler."""
    balances: Balances
    """GetBalances, which needs only the ledger (served with or without an FX provider)."""
    fx: FxWorkers | None = None
    """The FX, beneficiary and payout use cases and the status poller; None without an FX
    provider."""
    fx_client: CurrencycloudClient | None = None
    """The FX provider's adapter, closed (its session too) with the parts."""
    webhooks: WebhookApi | None = None
    """WebhookService's use cases (endpoints, events); ``build_parts`` always builds them."""
    delivery: WebhookDelivery | None = None
    """The webhook delivery worker and its sender; ``build_parts`` always builds them."""
    callbacks: ProviderCallbacks | None = None
    """The providers' callbacks (ProviderWebhookService); ``build_parts`` always builds it."""

    async def start(self) -> None:
        """Start the relay, the reconciler, the webhook delivery worker and the FX status
        poller on the serving loop (the host's on_start)."""
        self.payments.start()
        if self.delivery is not None:
            self.delivery.start()
        if self.fx is not None:
            self.fx.start()

    async def close(self) -> None:
        """Stop the workers, close the adapters and the clients, then the engine; the host
        calls it after draining (a worker's half-done item is claimed again on restart)."""
        # The poller first: its pass may still enqueue postings for the relay to deliver.
        if self.fx is not None:
            await self.fx.stop()
        await self.payments.stop()
        # After the writers of events: what they committed last is still sent (or handed
        # back for the next process); before the engine it records with.
        if self.delivery is not None:
            await self.delivery.stop()
        for adapter in self.providers.values():
            await adapter.aclose()
        if self.fx_client is not None:
            await self.fx_client.aclose()
        if self.callbacks is not None:
            await self.callbacks.aclose()
        await self.ledger.close()
        await self.audit.close()
        await self.engine.dispose()


def database_url(settings: GatewaySettings) -> str:
    """The configured URL, or the default SQLite file under var/."""
    return settings.database_url or db.default_sqlite_url("gateway")


def client_tls(settings: GatewaySettings) -> ClientTls | None:
    """The gateway's own certificate as a client of Envoy's internal listener; None only in
    plaintext mode (tests on loopback), where the ledger and identity are plaintext too."""
    if settings.plaintext:
        return None
    return ClientTls(settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)


def http_config(settings: GatewaySettings, provider: ProviderSettings) -> HttpConfig:
    """How to reach one provider. A sandbox provider without its own CA file trusts the
    gateway's CA (the dev CA, which issues the sandbox's certificate); a live one the
    system trust store."""
    return HttpConfig(
        base_url=provider.base_url,
        sandbox=provider.sandbox,
        timeout_s=provider.timeout_s,
        connect_timeout_s=provider.connect_timeout_s,
        max_connections=provider.max_connections,
        max_keepalive=min(provider.max_connections, 50),
        ca_file=provider.resolved_ca_file(settings.tls_ca_file),
    )


def provider_http_configs(settings: GatewaySettings) -> dict[str, HttpConfig]:
    """``HttpConfig`` of every configured card provider (a non-empty base_url), by name."""
    return {
        name: http_config(settings, provider)
        for name, provider in settings.providers().items()
        if provider.configured
    }


def build_currencycloud(settings: GatewaySettings) -> CurrencycloudClient | None:
    """The FX provider's adapter, or None when Currencycloud is not configured. Its API key
    leaves the SecretStr only here, into a config whose ``repr`` hides it again."""
    cc = settings.currencycloud
    if not cc.configured:
        return None
    config = CurrencycloudConfig(
        http_config(settings, cc), cc.login_id, cc.api_key.get_secret_value()
    )
    return CurrencycloudClient(config)


def quote_policy(settings: GatewaySettings) -> QuotePolicy:
    """The quote window and markup from settings (their bounds are the policy's own)."""
    return QuotePolicy(
        ttl=timedelta(seconds=settings.fx_quote_ttl_s), markup_bps=settings.fx_markup_bps
    )


def build_providers(
    settings: GatewaySettings, configs: Mapping[str, HttpConfig]
) -> dict[str, PaymentProvider]:
    """The provider adapters for ``configs`` (the configured providers), by name.

    Credentials leave their ``SecretStr`` only here, straight into each adapter's config,
    whose ``repr`` hides them again.
    """
    adapters: dict[str, PaymentProvider] = {}
    for name, http in configs.items():
        adapters[name] = _ADAPTERS[name](settings, http)
    return adapters


def _stripe(settings: GatewaySettings, http: HttpConfig) -> PaymentProvider:
    return StripeProvider(StripeConfig(http, settings.stripe.secret_key.get_secret_value()))


def _authorizenet(settings: GatewaySettings, http: HttpConfig) -> PaymentProvider:
    anet = settings.authorizenet
    return AuthorizeNetProvider(
        AuthorizeNetConfig(http, anet.login_id, anet.transaction_key.get_secret_value())
    )


def _razorpay(settings: GatewaySettings, http: HttpConfig) -> PaymentProvider:
    rzp = settings.razorpay
    return RazorpayProvider(RazorpayConfig(http, rzp.key_id, rzp.key_secret.get_secret_value()))


def _paypal(settings: GatewaySettings, http: HttpConfig) -> PaymentProvider:
    pp = settings.paypal
    config = PayPalConfig(
        http,
        pp.client_id,
        pp.client_secret.get_secret_value(),
        # Only the paymesh sandbox answers the read-only order search lookup() needs; real
        # PayPal has none (gateway_svc.adapters.providers.paypal, "lookup()").
        order_search=pp.searches_orders,
    )
    return PayPalProvider(config)


_ADAPTERS: dict[str, Callable[[GatewaySettings, HttpConfig], PaymentProvider]] = {
    "stripe": _stripe,
    "authorizenet": _authorizenet,
    "razorpay": _razorpay,
    "paypal": _paypal,
}


async def build_parts(settings: GatewaySettings) -> GatewayParts:
    """Engine (migrated), clients and provider configs; nothing is called yet."""
    engine = db.make_engine(database_url(settings), pool_size=settings.db_pool_size)
    register_pool("gateway", engine)
    await migrate(engine)
    tls = client_tls(settings)
    timeout_s = settings.internal_timeout_s
    configs = provider_http_configs(settings)
    providers = build_providers(settings, configs)
    ledger = LedgerClient.connect(settings.ledger_addr, tls, timeout_s=timeout_s)
    audit = AuditClient.connect(settings.identity_addr, tls, timeout_s=timeout_s)
    payments = build_payments(settings, engine, providers, ledger, audit)
    runtime = payments.service.runtime
    fx_client = build_currencycloud(settings)
    fx = None
    if fx_client is not None:
        fx = build_fx(
            runtime,
            payments.reconciler,
            fx_client,
            ledger,
            quotes=quote_policy(settings),
            poll_interval_s=settings.fx_poll_interval_s,
        )
    webhooks = build_webhooks(
        settings,
        runtime,
        payments.reconciler,
        SecretBox.from_setting(settings.webhook_secret_key.get_secret_value()),
        SystemResolver(),
    )
    return GatewayParts(
        settings=settings,
        engine=engine,
        ledger=ledger,
        audit=audit,
        provider_configs=configs,
        providers=providers,
        payments=payments,
        balances=fx.payouts.balances if fx is not None else Balances(runtime, ledger),
        fx=fx,
        fx_client=fx_client,
        webhooks=webhooks,
        delivery=build_delivery(settings, engine, runtime),
        callbacks=build_provider_callbacks(
            settings,
            runtime,
            stripe_units=from_stripe,
            paypal=paypal_verifier(settings, providers),
            fx=fx_client,
        ),
    )


def paypal_verifier(
    settings: GatewaySettings, providers: Mapping[str, PaymentProvider]
) -> PayPalWebhookVerifier | None:
    """PayPal's webhook verification, sharing the PayPal adapter's token; None without one."""
    adapter = providers.get("paypal")
    if not isinstance(adapter, PayPalProvider):
        return None
    pp = settings.paypal
    config = PayPalConfig(
        http_config(settings, pp), pp.client_id, pp.client_secret.get_secret_value()
    )
    return PayPalWebhookVerifier(config, pp.webhook_id, tokens=adapter.tokens)


def _bindings(parts: GatewayParts) -> list[ServiceBinding]:
    """PaymentService, FxService, BeneficiaryService and PayoutService, built on ``parts``
    (the last three with None use cases when there is no FX provider), and WebhookService.
    Each believes the principal header only from Envoy's SPIFFE id (their default
    ``edge_spiffe_id``)."""
    # On a plaintext loopback server (tests) there is no peer identity to check.
    trust = parts.settings.plaintext
    fx = parts.fx
    payments = PaymentServicer(parts.payments.service, trust_plaintext=trust)
    quotes = FxServicer(fx.fx if fx else None, trust_plaintext=trust)
    payees = BeneficiaryServicer(fx.beneficiaries if fx else None, trust_plaintext=trust)
    payouts = PayoutServicer(fx.payouts if fx else None, parts.balances, trust_plaintext=trust)
    bindings = [
        ServiceBinding(
            SERVICE_NAME,
            lambda server: payments_pb2_grpc.add_PaymentServiceServicer_to_server(payments, server),
        ),
        ServiceBinding(
            FX_SERVICE_NAME,
            lambda server: fx_pb2_grpc.add_FxServiceServicer_to_server(quotes, server),
        ),
        ServiceBinding(
            BENEFICIARY_SERVICE_NAME,
            lambda server: beneficiaries_pb2_grpc.add_BeneficiaryServiceServicer_to_server(
                payees, server
            ),
        ),
        ServiceBinding(
            PAYOUT_SERVICE_NAME,
            lambda server: payouts_pb2_grpc.add_PayoutServiceServicer_to_server(payouts, server),
        ),
    ]
    if parts.webhooks is not None:
        hooks = WebhookServicer(parts.webhooks, trust_plaintext=trust)
        bindings.append(
            ServiceBinding(
                WEBHOOK_SERVICE_NAME,
                lambda server: webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(
                    hooks, server
                ),
            )
        )
    if parts.callbacks is not None:
        # Public: no principal to check; the provider's signature is the credential.
        inbound = ProviderWebhookServicer(parts.callbacks)
        bindings.append(
            ServiceBinding(
                PROVIDER_WEBHOOK_SERVICE_NAME,
                lambda server: webhooks_pb2_grpc.add_ProviderWebhookServiceServicer_to_server(
                    inbound, server
                ),
            )
        )
    return bindings


async def create_app(settings: GatewaySettings, parts: GatewayParts | None = None) -> ServiceHost:
    """Build the gateway's ServiceHost; migrations are applied before it is returned.

    ``parts`` may be built by the caller (``build_parts``) to keep a handle on them, as
    tests do to drain the outbox relay. Nothing listens until ``host.start()``; the
    workers start with the server and stop, with the clients and the engine, after it
    has drained.
    """
    parts = parts or await build_parts(settings)
    engine = parts.engine

    async def probe() -> bool:
        return await db.ping(engine)

    return ServiceHost(
        name="gateway",
        settings=settings,
        bindings=_bindings(parts),
        error_mapper=MAPPER,
        health_probe=probe,
        on_start=[parts.start],
        on_stop=[parts.close],
    )
