"""Bootstrap: the platform merchant and an admin key, so a fresh install can be run."""

from __future__ import annotations

from datetime import datetime

from identity_svc.domain.model import ApiKey, Merchant, MerchantStatus
from identity_svc.domain.permissions import Role

from .api_keys import ApiKeyCases
from .auditing import AuditScope
from .context import CallContext
from .unit_of_work import UnitOfWork

# Fixed, so that every bootstrap finds the same platform merchant.
PLATFORM_MERCHANT_ID = "mer_" + "0" * 26
BOOTSTRAP = "bootstrap"


class BootstrapCases(ApiKeyCases):
    """First start of a deployment."""

    async def bootstrap_admin(
        self, *, display_name: str = "paymesh platform", default_currency: str = "USD"
    ) -> tuple[Merchant, ApiKey, str]:
        """Create the platform merchant (the first time only) and a new admin key
        for it; returns the merchant, the key and its token (shown once).

        Both are recorded in the audit log with the SYSTEM actor "bootstrap".
        """
        ctx = CallContext.system(BOOTSTRAP)
        merchant = await self._platform_merchant(ctx, display_name, default_currency)
        key, token = await self.create_api_key(
            ctx,
            merchant.merchant_id,
            display_name="bootstrap admin",
            description="issued by bootstrap; rotate or revoke it once real operators have keys",
            role=Role.ADMIN,
            expire_time=None,
            rate_limit=None,
            request_id="",
        )
        return merchant, key, token

    async def _platform_merchant(
        self, ctx: CallContext, display_name: str, default_currency: str
    ) -> Merchant:
        scope = AuditScope(
            target=f"merchants/{PLATFORM_MERCHANT_ID}", merchant_id=PLATFORM_MERCHANT_ID
        )

        async def work(uow: UnitOfWork, now: datetime) -> Merchant:
            # The audit head lock serialises bootstraps: a second one finds the first's.
            existing = await uow.tenants.get_merchant(PLATFORM_MERCHANT_ID)
            if existing is not None:
                scope.record = False
                return existing
            merchant = Merchant(
                merchant_id=PLATFORM_MERCHANT_ID,
                display_name=display_name,
                status=MerchantStatus.ACTIVE,
                default_currency=default_currency,
                metadata={},
                create_time=now,
                update_time=now,
            )
            await uow.tenants.insert_merchant(
                merchant, created_by=ctx.request_scope, request_id="", fingerprint=""
            )
            scope.details = {"status": "active", "default_currency": default_currency}
            return merchant

        return await self.mutate(ctx, "identity.merchant.create", scope, work)
