"""Assembles the gateway: engine, migrations, ledger and audit clients, provider configs, host.

``build_parts`` makes everything the payment use cases will run on; ``create_app`` puts it
behind a ServiceHost (health, reflection, the shared interceptors). PaymentService's servicer
is not registered yet: ``_bindings`` is where it goes, and ``build_providers`` is where the
provider adapters are constructed from their ``HttpConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.audit_client import AuditClient
from gateway_svc.adapters.internal_rpc import ClientTls
from gateway_svc.adapters.ledger_client import LedgerClient
from gateway_svc.adapters.migrate import migrate
from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.service_layer.ports import PaymentProvider
from gateway_svc.settings import GatewaySettings
from svc_kit import db
from svc_kit.grpc_errors import ErrorMapper
from svc_kit.metrics import register_pool
from svc_kit.server import ServiceBinding, ServiceHost

SERVICE_NAME = "paymesh.gateway.v1.PaymentService"
ERROR_DOMAIN = "gateway.paymesh.local"


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

    async def close(self) -> None:
        """Close the clients, then the engine; the host calls it after draining."""
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


def provider_http_configs(settings: GatewaySettings) -> dict[str, HttpConfig]:
    """``HttpConfig`` of every configured provider (a non-empty base_url), by name.

    A sandbox provider without its own CA file trusts the gateway's CA (the dev CA, which
    issues the sandbox's certificate); a live one the system trust store.
    """
    return {
        name: HttpConfig(
            base_url=provider.base_url,
            sandbox=provider.sandbox,
            timeout_s=provider.timeout_s,
            connect_timeout_s=provider.connect_timeout_s,
            max_connections=provider.max_connections,
            max_keepalive=min(provider.max_connections, 50),
            ca_file=provider.resolved_ca_file(settings.tls_ca_file),
        )
        for name, provider in settings.providers().items()
        if provider.configured
    }


def build_providers(
    settings: GatewaySettings, configs: Mapping[str, HttpConfig]
) -> dict[str, PaymentProvider]:
    """The provider adapters for ``configs``, by name.

    Empty for now: the lead constructs ``<Name>Provider(<Name>Config(http=configs[name],
    <credentials from settings.<name>, .get_secret_value()>))`` here for each configured
    provider, once gateway_svc/adapters/providers/<name>.py lands.
    """
    del settings, configs
    return {}


async def build_parts(settings: GatewaySettings) -> GatewayParts:
    """Engine (migrated), clients and provider configs; nothing is called yet."""
    engine = db.make_engine(database_url(settings), pool_size=settings.db_pool_size)
    register_pool("gateway", engine)
    await migrate(engine)
    tls = client_tls(settings)
    timeout_s = settings.internal_timeout_s
    configs = provider_http_configs(settings)
    return GatewayParts(
        settings=settings,
        engine=engine,
        ledger=LedgerClient.connect(settings.ledger_addr, tls, timeout_s=timeout_s),
        audit=AuditClient.connect(settings.identity_addr, tls, timeout_s=timeout_s),
        provider_configs=configs,
        providers=build_providers(settings, configs),
    )


def _bindings(parts: GatewayParts) -> list[ServiceBinding]:
    """The gRPC services to serve; PaymentService's servicer is added here, built on parts."""
    del parts
    return []


async def create_app(settings: GatewaySettings) -> ServiceHost:
    """Build the gateway's ServiceHost; migrations are applied before it is returned.

    Nothing listens until ``host.start()``; the clients and the engine close after the
    server has drained.
    """
    parts = await build_parts(settings)

    async def probe() -> bool:
        return await db.ping(parts.engine)

    return ServiceHost(
        name="gateway",
        settings=settings,
        bindings=_bindings(parts),
        # The gateway's error table (gateway_svc.entrypoints.errors) replaces this empty one
        # with the servicer; until then every unexpected error is INTERNAL.
        error_mapper=ErrorMapper({}, ERROR_DOMAIN),
        health_probe=probe,
        on_stop=[parts.close],
    )
