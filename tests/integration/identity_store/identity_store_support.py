"""Helpers of the identity store tests: callers, a merchant with an owner key, tampering."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.domain.model import ApiKey, Merchant, Principal
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity

PEPPER = b"identity-store-tests-pepper-0123456789"


def caller(key: ApiKey, request_id: str = "req-test") -> CallContext:
    """The context the edge would build for a request made with ``key``."""
    principal = Principal(key.merchant_id, key.key_id, key.role, key.environment)
    return CallContext(principal=principal, request_id=request_id, source_address="192.0.2.7")


@dataclass(frozen=True)
class Tenant:
    """A merchant with an owner key, and the context of that key."""

    merchant: Merchant
    owner: ApiKey
    owner_token: str
    ctx: CallContext


async def new_tenant(identity: Identity, admin: CallContext, name: str) -> Tenant:
    """A fresh ACTIVE merchant in EUR with one OWNER key."""
    merchant = await identity.create_merchant(
        admin,
        display_name=name,
        default_currency="EUR",
        metadata={"team": name},
        status=None,
        request_id="",
    )
    key, token = await identity.create_api_key(
        admin,
        merchant.merchant_id,
        display_name=f"{name} owner",
        description="",
        role=Role.OWNER,
        expire_time=None,
        rate_limit=None,
        request_id="",
    )
    return Tenant(merchant, key, token, caller(key))


async def tamper(engine: AsyncEngine, *statements: tuple[str, dict[str, object]]) -> None:
    """Run ``statements`` on audit_events behind the service's back, as an attacker
    with database access would: with the append-only triggers out of the way."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER audit_events_no_update"))
            await conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        for sql, params in statements:
            await conn.execute(text(sql), params)
