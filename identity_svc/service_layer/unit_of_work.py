"""Identity's unit of work: svc_kit's transaction with identity's repositories bound."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from identity_svc.adapters.audit_log import AuditRepository
from identity_svc.adapters.tenants import TenantRepository
from identity_svc.adapters.usage import UsageRepository
from svc_kit import unit_of_work


class UnitOfWork(unit_of_work.UnitOfWork):
    """``uow.tenants``, ``uow.audit`` and ``uow.usage`` on one transaction."""

    def bind(self, conn: AsyncConnection) -> None:
        self.tenants = TenantRepository(conn)
        self.audit = AuditRepository(conn)
        self.usage = UsageRepository(conn)
