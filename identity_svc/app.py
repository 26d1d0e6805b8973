"""Assembles the identity service: engine, migrations, use cases, Check, servicers, host."""

from __future__ import annotations

from identity_svc.adapters.migrate import migrate
from identity_svc.adapters.pepper import load_pepper
from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.entrypoints.audit_servicer import AuditServicer
from identity_svc.entrypoints.authz import build_authz, direct_auth
from identity_svc.entrypoints.authz_http import AuthzHttpListener
from identity_svc.entrypoints.errors import MAPPER
from identity_svc.entrypoints.servicer import IdentityServicer
from identity_svc.service_layer.auditing import utc_now
from identity_svc.service_layer.authorizer import Authorizer
from identity_svc.service_layer.identity import Identity
from identity_svc.settings import IdentitySettings
from paymesh.identity.v1 import audit_pb2_grpc, identity_pb2_grpc
from svc_kit import db
from svc_kit.metrics import register_pool
from svc_kit.peers import peer_allow_list
from svc_kit.server import ServiceBinding, ServiceHost

SERVICE_NAME = "paymesh.identity.v1.IdentityService"
AUDIT_SERVICE_NAME = "paymesh.identity.v1.AuditService"
AUTHZ_SERVICE_NAME = "envoy.service.auth.v3.Authorization"


def database_url(settings: IdentitySettings) -> str:
    """The configured URL, or the default SQLite file under var/."""
    return settings.database_url or db.default_sqlite_url("identity")


def _identity_binding(
    identity: Identity, settings: IdentitySettings, authorizer: Authorizer
) -> ServiceBinding:
    """IdentityService, whose direct gRPC callers may bring their own API key."""
    servicer = IdentityServicer(
        identity,
        edge_spiffe_id=settings.edge_spiffe_id,
        trust_plaintext=settings.plaintext,
        clock=utc_now,
        direct_auth=direct_auth(authorizer),
    )
    return ServiceBinding(
        SERVICE_NAME,
        lambda server: identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server),
    )


def _audit_binding(identity: Identity, settings: IdentitySettings) -> ServiceBinding:
    """AuditService: other workloads (the gateway) append to the audit log."""
    audit = AuditServicer(
        identity, edge_spiffe_id=settings.edge_spiffe_id, trust_plaintext=settings.plaintext
    )
    return ServiceBinding(
        AUDIT_SERVICE_NAME,
        lambda server: audit_pb2_grpc.add_AuditServiceServicer_to_server(audit, server),
    )


async def create_app(settings: IdentitySettings) -> ServiceHost:
    """Build identity's ServiceHost; migrations are applied before it is returned.

    One process serves both IdentityService and Envoy's Check: the Check's key
    cache is then invalidated in-process by the same database's change feed
    that every replica follows. With ``authz_http_listen_addr`` the same
    Authorizer also answers ext_authz over HTTP/1.1 (entrypoints.authz_http).
    """
    engine = db.make_engine(database_url(settings), pool_size=settings.db_pool_size)
    register_pool("identity", engine)
    await migrate(engine)
    pepper = load_pepper(settings.key_pepper_file, environment=settings.environment)
    identity = Identity(engine, pepper=pepper, environment=settings.environment, clock=utc_now)
    peers = peer_allow_list(settings, MAPPER.domain)
    authz = build_authz(
        SqlIdentityStore(engine),
        pepper,
        refresh_interval_s=settings.cache_refresh_interval_s,
        flush_interval_s=settings.usage_flush_interval_s,
        peers=peers,
    )
    authz_http = AuthzHttpListener(
        settings.authz_http_listen_addr, authz.authorizer, settings, peers
    )

    async def probe() -> bool:
        return await db.ping(engine)

    async def shutdown() -> None:
        await authz.stop()  # flushes the last usage counts while the engine still works
        await engine.dispose()

    return ServiceHost(
        name="identity",
        settings=settings,
        bindings=[
            _identity_binding(identity, settings, authz.authorizer),
            _audit_binding(identity, settings),
            # Check is the hot path of every outside request: it maps its own errors
            # (UNAVAILABLE when the store cannot answer) and keeps its own metrics.
            ServiceBinding(AUTHZ_SERVICE_NAME, authz.register, intercepted=False),
        ],
        error_mapper=MAPPER,
        health_probe=probe,
        on_start=[authz.start],
        on_stop=[shutdown],
        hot_listen_addr=settings.authz_listen_addr,
        side_listeners=[authz_http],
    )
