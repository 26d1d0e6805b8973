"""API key use cases: issue, read, list, rotate, revoke.

A token exists only in memory between ``keys.new_token`` and the caller's
response: only ``keys.hash_token(pepper, token)`` is stored, and no log line,
error or audit detail carries it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from identity_svc.domain import keys
from identity_svc.domain.errors import (
    KeyExpired,
    KeyRevoked,
    MerchantNotActive,
    RequestIdReused,
    RoleNotGrantable,
)
from identity_svc.domain.model import ApiKey, KeyState, Merchant, MerchantStatus
from identity_svc.domain.permissions import RateLimit, Role
from svc_kit.pagination import Page

from . import validation as v
from .access import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PAGES,
    decode_cursor,
    encode_cursor,
    visible_key,
    visible_merchant,
)
from .auditing import AuditScope, IdentityCore
from .context import CallContext
from .unit_of_work import UnitOfWork


def _reused(key_id: str) -> RequestIdReused:
    return RequestIdReused(
        "request_id was used before; the secret it issued cannot be shown again",
        metadata={"key_id": key_id},
    )


def _refuse_suspended(merchant: Merchant) -> None:
    if merchant.status is not MerchantStatus.ACTIVE:
        raise MerchantNotActive(
            "keys cannot be issued for a suspended merchant",
            metadata={"merchant_id": merchant.merchant_id},
        )


def _refuse_inactive(key: ApiKey, now: datetime) -> None:
    state = key.state(now)
    if state is KeyState.REVOKED:
        raise KeyRevoked("a revoked API key cannot be rotated", metadata={"state": state.value})
    if state is KeyState.EXPIRED:
        raise KeyExpired("an expired API key cannot be rotated", metadata={"state": state.value})


class ApiKeyCases(IdentityCore):
    """API keys of merchants."""

    async def create_api_key(
        self,
        ctx: CallContext,
        merchant_id: str,
        *,
        display_name: str,
        description: str,
        role: Role | None,
        expire_time: datetime | None,
        rate_limit: RateLimit | None,
        request_id: str,
    ) -> tuple[ApiKey, str]:
        """Issue a key; returns it and its token, which is never shown again.

        Raises ValidationFailed, MerchantNotFound, MerchantNotActive,
        RoleNotGrantable (ADMIN from a non-admin), RequestIdReused.
        """
        scope = AuditScope(
            target=f"merchants/{merchant_id}/api-keys",
            merchant_id=merchant_id if ctx.can_see(merchant_id) else ctx.own_merchant_id,
        )

        def check() -> None:
            checks = v.Checks()
            checks.identifier("merchant_id", merchant_id)
            v.check_new_key(
                checks,
                display_name=display_name,
                description=description,
                role=role,
                expire_time=expire_time,
                rate_limit=rate_limit,
                now=self._clock(),
            )
            checks.request_id(request_id)
            checks.done()
            if role is Role.ADMIN and not ctx.is_platform:
                raise RoleNotGrantable("only a platform operator may issue an admin key")

        async def work(uow: UnitOfWork, now: datetime) -> tuple[ApiKey, str]:
            assert role is not None  # check() refused a missing role
            if request_id:
                earlier = await uow.tenants.key_by_request(ctx.request_scope, request_id)
                if earlier is not None:
                    raise _reused(earlier)
            _refuse_suspended(await visible_merchant(uow, ctx, merchant_id))
            key = ApiKey(
                key_id=keys.new_key_id(),
                merchant_id=merchant_id,
                display_name=display_name,
                description=description,
                role=role,
                environment=self._environment,
                create_time=now,
                expire_time=expire_time,
                rate_limit=rate_limit,
            )
            token = keys.new_token(self._environment, key.key_id)
            await uow.tenants.insert_key(key, created_by=ctx.request_scope, request_id=request_id)
            await uow.tenants.insert_secret(key.key_id, keys.hash_token(self._pepper, token), now)
            await uow.tenants.record_change(merchant_id, key.key_id, now)
            scope.target = f"api-keys/{key.key_id}"
            scope.details = _key_details(key)
            return key, token

        return await self.mutate(ctx, "identity.api_key.create", scope, work, check=check)

    async def list_api_keys(
        self, ctx: CallContext, merchant_id: str, *, page_size: int, page_token: str
    ) -> Page[ApiKey]:
        """A merchant's keys in creation order. Raises ValidationFailed,
        InvalidPageToken, MerchantNotFound."""
        checks = v.Checks()
        checks.identifier("merchant_id", merchant_id)
        checks.done()
        limit = PAGES.page_size(page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        filters = {"merchant": merchant_id}
        after = decode_cursor(PAGES.decode(page_token, filters))
        now = self._clock()
        async with UnitOfWork(self._engine, read_only=True) as uow:
            await visible_merchant(uow, ctx, merchant_id)
            items = await uow.tenants.list_keys(merchant_id, after, limit + 1, now)
        return PAGES.page(items, limit, lambda k: encode_cursor(k.create_time, k.key_id), filters)

    async def get_api_key(self, ctx: CallContext, key_id: str) -> ApiKey:
        """One key. Raises ValidationFailed, ApiKeyNotFound (also for another tenant's)."""
        checks = v.Checks()
        checks.identifier("key_id", key_id)
        checks.done()
        async with UnitOfWork(self._engine, read_only=True) as uow:
            return await visible_key(uow, ctx, key_id, self._clock())

    async def rotate_api_key(
        self, ctx: CallContext, key_id: str, *, overlap: timedelta | None, request_id: str
    ) -> tuple[ApiKey, str]:
        """Issue a new secret; every older one still accepted stops at now + overlap.

        Raises ValidationFailed, ApiKeyNotFound, KeyRevoked / KeyExpired
        (KeyNotActive), RequestIdReused.
        """
        scope = AuditScope(target=f"api-keys/{key_id}", merchant_id=ctx.own_merchant_id)
        window = v.DEFAULT_OVERLAP if overlap is None else overlap

        def check() -> None:
            checks = v.Checks()
            v.check_overlap(checks, overlap)
            checks.identifier("key_id", key_id)
            checks.request_id(request_id)
            checks.done()

        async def work(uow: UnitOfWork, now: datetime) -> tuple[ApiKey, str]:
            if request_id:
                earlier = await uow.tenants.rotation_by_request(ctx.request_scope, request_id)
                if earlier is not None:
                    raise _reused(earlier)
            key = await visible_key(uow, ctx, key_id, now)
            scope.merchant_id = key.merchant_id
            _refuse_inactive(key, now)
            await uow.tenants.retire_secrets(key_id, now + window)
            token = keys.new_token(key.environment, key_id)
            await uow.tenants.insert_secret(
                key_id,
                keys.hash_token(self._pepper, token),
                now,
                created_by=ctx.request_scope,
                request_id=request_id,
            )
            await uow.tenants.record_change(key.merchant_id, key_id, now)
            rotated = await visible_key(uow, ctx, key_id, now)
            scope.details = {"overlap_s": str(int(window.total_seconds()))}
            return rotated, token

        return await self.mutate(ctx, "identity.api_key.rotate", scope, work, check=check)

    async def revoke_api_key(self, ctx: CallContext, key_id: str) -> ApiKey:
        """Revoke a key; revoking it again changes nothing and returns it.

        Raises ValidationFailed, ApiKeyNotFound.
        """
        scope = AuditScope(target=f"api-keys/{key_id}", merchant_id=ctx.own_merchant_id)

        def check() -> None:
            checks = v.Checks()
            checks.identifier("key_id", key_id)
            checks.done()

        async def work(uow: UnitOfWork, now: datetime) -> ApiKey:
            key = await visible_key(uow, ctx, key_id, now)
            scope.merchant_id = key.merchant_id
            changed = key.revoke_time is None
            if changed:
                await uow.tenants.revoke_key(key_id, now)
                await uow.tenants.record_change(key.merchant_id, key_id, now)
                key = await visible_key(uow, ctx, key_id, now)
            scope.details = {"changed": str(changed).lower()}
            return key

        return await self.mutate(ctx, "identity.api_key.revoke", scope, work, check=check)


def _key_details(key: ApiKey) -> dict[str, str]:
    details = {"role": key.role.value, "environment": key.environment}
    if key.expire_time is not None:
        details["expire_time"] = key.expire_time.isoformat()
    if key.rate_limit is not None:
        limit = key.rate_limit
        details["rate_limit"] = f"{limit.requests_per_second:g}/s, burst {limit.burst}"
    return details
