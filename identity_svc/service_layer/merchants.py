"""Merchant use cases: create, read, list, update (suspend and reactivate included)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from identity_svc.domain.errors import PermissionMissing, RequestIdReused
from identity_svc.domain.model import Merchant, MerchantStatus
from svc_kit.ids import new_id
from svc_kit.pagination import Page

from . import validation as v
from .access import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PAGES,
    decode_cursor,
    encode_cursor,
    visible_merchant,
)
from .auditing import AuditScope, IdentityCore
from .context import CallContext
from .unit_of_work import UnitOfWork


def _platform_only(ctx: CallContext, what: str) -> None:
    # The edge already requires merchants:manage, which only admins hold; the
    # service holds the line too (style.md rule 5: rules that matter, twice).
    if not ctx.is_platform:
        raise PermissionMissing(f"{what} is for platform operators")


def _fingerprint(**fields: object) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


class MerchantCases(IdentityCore):
    """Merchants (tenants)."""

    async def create_merchant(
        self,
        ctx: CallContext,
        *,
        display_name: str,
        default_currency: str,
        metadata: Mapping[str, str],
        status: MerchantStatus | None,
        request_id: str,
    ) -> Merchant:
        """Create a merchant; a replayed request_id returns the one it created.

        Raises ValidationFailed, PermissionMissing (not a platform operator),
        RequestIdReused (the request_id came with different fields).
        """
        status = status or MerchantStatus.ACTIVE
        metadata = dict(metadata)
        fingerprint = _fingerprint(
            display_name=display_name, currency=default_currency, metadata=metadata, status=status
        )
        # A refusal lands in the caller's own merchant's log.
        scope = AuditScope(target="merchants", merchant_id=ctx.own_merchant_id)

        def check() -> None:
            _platform_only(ctx, "creating merchants")
            checks = v.Checks()
            v.check_merchant(
                checks,
                display_name=display_name,
                default_currency=default_currency,
                metadata=metadata,
            )
            checks.request_id(request_id)
            checks.done()

        async def work(uow: UnitOfWork, now: datetime) -> Merchant:
            if request_id:
                earlier = await uow.tenants.merchant_by_request(ctx.request_scope, request_id)
                if earlier is not None:
                    return _replayed(earlier, fingerprint, scope)
            merchant = Merchant(
                merchant_id=new_id("mer"),
                display_name=display_name,
                status=status,
                default_currency=default_currency,
                metadata=metadata,
                create_time=now,
                update_time=now,
            )
            await uow.tenants.insert_merchant(
                merchant,
                created_by=ctx.request_scope,
                request_id=request_id,
                fingerprint=fingerprint,
            )
            scope.target = f"merchants/{merchant.merchant_id}"
            scope.merchant_id = merchant.merchant_id
            scope.details = {"status": status.value, "default_currency": default_currency}
            return merchant

        return await self.mutate(ctx, "identity.merchant.create", scope, work, check=check)

    async def get_merchant(self, ctx: CallContext, merchant_id: str) -> Merchant:
        """One merchant. Raises ValidationFailed, MerchantNotFound (also for another
        tenant's)."""
        checks = v.Checks()
        checks.identifier("merchant_id", merchant_id)
        checks.done()
        async with UnitOfWork(self._engine, read_only=True) as uow:
            return await visible_merchant(uow, ctx, merchant_id)

    async def list_merchants(
        self, ctx: CallContext, *, page_size: int, page_token: str, status: MerchantStatus | None
    ) -> Page[Merchant]:
        """Merchants in creation order; a merchant's own key sees only its own.

        Raises ValidationFailed, InvalidPageToken.
        """
        only = None if ctx.is_platform else ctx.own_merchant_id
        limit = PAGES.page_size(page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        filters = {"status": status, "only": only}
        after = decode_cursor(PAGES.decode(page_token, filters))
        async with UnitOfWork(self._engine, read_only=True) as uow:
            items = await uow.tenants.list_merchants(status, after, limit + 1, only=only)
        return PAGES.page(
            items, limit, lambda m: encode_cursor(m.create_time, m.merchant_id), filters
        )

    async def update_merchant(
        self,
        ctx: CallContext,
        merchant_id: str,
        *,
        paths: Sequence[str],
        display_name: str = "",
        default_currency: str = "",
        metadata: Mapping[str, str] | None = None,
        status: MerchantStatus | None = None,
    ) -> Merchant:
        """Change the fields named in ``paths``. A status change reaches the edge
        through the change feed. Raises ValidationFailed, MerchantNotFound,
        PermissionMissing (a visible merchant, but not a platform operator)."""
        metadata = dict(metadata or {})
        scope = AuditScope(
            target=f"merchants/{merchant_id}",
            merchant_id=merchant_id if ctx.can_see(merchant_id) else ctx.own_merchant_id,
        )

        def check() -> None:
            checks = v.Checks()
            checks.identifier("merchant.merchant_id", merchant_id)
            mask = v.check_update_mask(checks, paths, status)
            v.check_merchant(
                checks,
                display_name=display_name if "display_name" in mask else None,
                default_currency=default_currency if "default_currency" in mask else None,
                metadata=metadata if "metadata" in mask else None,
            )
            checks.done()

        async def work(uow: UnitOfWork, now: datetime) -> Merchant:
            current = await visible_merchant(uow, ctx, merchant_id)
            _platform_only(ctx, "updating merchants")
            updated = replace(
                current,
                display_name=display_name if "display_name" in paths else current.display_name,
                default_currency=(
                    default_currency if "default_currency" in paths else current.default_currency
                ),
                metadata=metadata if "metadata" in paths else current.metadata,
                status=status if "status" in paths and status else current.status,
                update_time=now,
            )
            await uow.tenants.update_merchant(updated)
            if updated.status is not current.status:
                await uow.tenants.record_change(merchant_id, None, now)
            scope.details = {"paths": ",".join(sorted(set(paths)))}
            if "status" in paths:
                scope.details["status"] = updated.status.value
            return updated

        return await self.mutate(ctx, "identity.merchant.update", scope, work, check=check)


def _replayed(earlier: tuple[Merchant, str], fingerprint: str, scope: AuditScope) -> Merchant:
    merchant, first_fingerprint = earlier
    if first_fingerprint != fingerprint:
        scope.merchant_id = merchant.merchant_id
        raise RequestIdReused(
            "request_id was used before with different fields",
            metadata={"merchant_id": merchant.merchant_id},
        )
    scope.record = False  # nothing changed; the first call was recorded
    return merchant
