"""Read-side use cases: usage counters, the audit log and its verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from identity_svc.adapters.usage import UsageRecord
from identity_svc.domain.audit import AuditRecord, ChainVerifier, Problem
from svc_kit.pagination import Page

from . import validation as v
from .access import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PAGES,
    invalid_page_token,
    visible_merchant,
)
from .auditing import IdentityCore
from .context import CallContext
from .unit_of_work import UnitOfWork

__all__ = ["ReportCases", "UsageRecord", "UsageReport"]

# Records read per statement while verifying: memory stays constant.
VERIFY_PAGE = 1000
MAX_ACTION_LEN = 100


@dataclass(frozen=True, slots=True)
class UsageReport:
    """GetUsage's answer: counters by day, key and RPC, and their sums."""

    records: list[UsageRecord]
    total_allowed: int
    total_throttled: int


class ReportCases(IdentityCore):
    """Usage and the audit log."""

    async def get_usage(
        self,
        ctx: CallContext,
        merchant_id: str,
        *,
        start_day: date | None,
        end_day: date | None,
        key_id: str = "",
    ) -> UsageReport:
        """A merchant's counters between two UTC days (inclusive). Another
        merchant's key_id simply matches nothing. Raises ValidationFailed,
        MerchantNotFound."""
        checks = v.Checks()
        checks.identifier("merchant_id", merchant_id)
        start, end = v.check_days(checks, start_day, end_day, self._clock().date())
        checks.done()
        async with UnitOfWork(self._engine, read_only=True) as uow:
            await visible_merchant(uow, ctx, merchant_id)
            records = await uow.usage.read(merchant_id, start, end, key_id)
        return UsageReport(
            records=records,
            total_allowed=sum(r.allowed_count for r in records),
            total_throttled=sum(r.throttled_count for r in records),
        )

    async def list_audit_events(
        self,
        ctx: CallContext,
        *,
        merchant_id: str = "",
        action: str = "",
        page_size: int,
        page_token: str,
    ) -> Page[AuditRecord]:
        """Audit records newest first. A merchant's key sees its own merchant's only,
        whatever ``merchant_id`` says. Raises ValidationFailed, InvalidPageToken."""
        if not ctx.is_platform:
            merchant_id = ctx.own_merchant_id
        checks = v.Checks()
        if len(action) > MAX_ACTION_LEN:
            checks.add("action", f"must be at most {MAX_ACTION_LEN} characters")
        if len(merchant_id) > v.MAX_ID_LEN:
            checks.add("merchant_id", f"must be at most {v.MAX_ID_LEN} characters")
        checks.done()
        limit = PAGES.page_size(page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        filters = {"merchant": merchant_id, "action": action}
        before = PAGES.decode(page_token, filters)
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise invalid_page_token()
        async with UnitOfWork(self._engine, read_only=True) as uow:
            items = await uow.audit.newest_first(
                merchant_id=merchant_id, action=action, before=before, limit=limit + 1
            )
        return PAGES.page(items, limit, lambda r: r.sequence, filters)

    async def verify_audit_log(self) -> tuple[int, list[Problem]]:
        """Recompute the whole chain; returns how many records were checked and
        every problem found, in sequence order.

        Reads in one snapshot (REPEATABLE READ on PostgreSQL, a WAL read on
        SQLite), so appends made meanwhile are neither half-seen nor reported.
        """
        verifier = ChainVerifier()
        async with UnitOfWork(self._engine, read_only=True, snapshot=True) as uow:
            head_sequence, head_hash = await uow.audit.head()
            after = 0
            while page := await uow.audit.in_order(after, VERIFY_PAGE):
                verifier.check(page)
                after = page[-1].sequence
        return verifier.checked, verifier.finish(head_sequence, head_hash)
