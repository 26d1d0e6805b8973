"""The shape every identity mutation takes, audit record included.

``IdentityCore.mutate`` runs a mutation as one transaction that first locks
the audit chain head (which also serialises identity's writers, so the
change feed's seq order is commit order), does the work, appends a SUCCESS
record and commits. When the work refuses with a domain error, the
transaction rolls back and a FAILURE record carrying the error's reason is
appended in a transaction of its own; then the error is raised again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.domain.audit import Actor, AuditEntry, Outcome, seal
from svc_kit.db import retrying
from svc_kit.faults import DomainError
from svc_kit.ids import new_id

from .context import CallContext
from .unit_of_work import UnitOfWork

T = TypeVar("T")

_log = logging.getLogger(__name__)
# Column widths of audit_events: caller-controlled strings are cut to fit.
_TARGET_LEN, _REQUEST_ID_LEN, _SOURCE_LEN, _ACTOR_LEN = 200, 128, 256, 256


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


@dataclass
class AuditScope:
    """What the record of a mutation says; the work fills it in as it learns.

    ``merchant_id`` must only ever be set to a merchant the caller may see,
    so that a refused cross-tenant attempt lands in the caller's own log.
    ``record`` False skips the SUCCESS record (an AIP-155 replay changes
    nothing and was recorded the first time).
    """

    target: str
    merchant_id: str
    details: dict[str, str] = field(default_factory=dict)
    record: bool = True


Work = Callable[[UnitOfWork, datetime], Awaitable[T]]


class IdentityCore:
    """State shared by the use cases, and the mutation skeleton."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        pepper: bytes,
        environment: str = "test",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if len(pepper) < 16:
            raise ValueError("the pepper must be at least 16 bytes")
        self._engine = engine
        self._pepper = pepper
        self._environment = environment
        self._clock = clock

    async def mutate(
        self,
        ctx: CallContext,
        action: str,
        scope: AuditScope,
        work: Work[T],
        *,
        check: Callable[[], None] = lambda: None,
    ) -> T:
        """Run ``check`` then ``work`` in an audited transaction (see the module doc)."""

        async def attempt() -> T:
            async with UnitOfWork(self._engine) as uow:
                head = await uow.audit.lock_head()
                now = self._clock()
                result = await work(uow, now)
                if scope.record:
                    await self._append(uow, head, ctx, action, scope, now, None)
                await uow.commit()
                return result

        try:
            check()
            return await retrying(attempt)
        except DomainError as exc:
            await self._record_failure(ctx, action, scope, exc)
            raise

    async def _record_failure(
        self, ctx: CallContext, action: str, scope: AuditScope, exc: DomainError
    ) -> None:
        async def attempt() -> None:
            async with UnitOfWork(self._engine) as uow:
                head = await uow.audit.lock_head()
                await self._append(uow, head, ctx, action, scope, self._clock(), exc)
                await uow.commit()

        try:
            await retrying(attempt)
        except Exception:  # noqa: BLE001 - the refusal still goes back to the caller
            # The caller gets the refusal it earned either way; a storage outage
            # while recording it shows up here and in every later request.
            _log.exception("could not record a refused %s in the audit log", action)

    async def _append(
        self,
        uow: UnitOfWork,
        head: tuple[int, str],
        ctx: CallContext,
        action: str,
        scope: AuditScope,
        now: datetime,
        refusal: DomainError | None,
    ) -> None:
        actor = ctx.actor
        entry = AuditEntry(
            event_id=new_id("aev"),
            event_time=now,
            actor=Actor(actor.kind, actor.id[:_ACTOR_LEN], actor.merchant_id),
            action=action,
            target=scope.target[:_TARGET_LEN],
            merchant_id=scope.merchant_id,
            outcome=Outcome.SUCCESS if refusal is None else Outcome.FAILURE,
            reason="" if refusal is None else refusal.reason,
            request_id=ctx.request_id[:_REQUEST_ID_LEN],
            source_address=ctx.source_address[:_SOURCE_LEN],
            # A refusal records only its reason: the work may have stopped half-way
            # through filling in the details.
            details=dict(scope.details) if refusal is None else {},
        )
        sequence, prev_hash = head
        await uow.audit.append(seal(sequence + 1, prev_hash, entry))
