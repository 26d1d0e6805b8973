"""The inbound record of a provider callback, written in the transaction that applies it.

``record`` claims the callback in ``provider_webhook_events`` (``ProviderEventRepository``):
True for the first delivery of an event (or a retry of one whose processing failed), False
for a duplicate, in which case the caller writes nothing else and rolls back. ``finish``
closes it in the same transaction: PROCESSED when it changed something (with an audit record
for identity, through the outbox, like every other mutation), IGNORED when it did not, with
the reason kept beside it (a type we do not act on, an object that is not ours, a state
already reached or passed, a conflict a person must look at). A callback that changed
nothing is not audited: nothing happened, and its raw bytes are in the inbound table.

Rolling back forgets the record too, so a crash between the two loses nothing: the
provider's retry is processed afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.adapters.provider_object_refs import ProviderObjectRefs
from gateway_svc.domain.provider_webhooks import ProviderEvent

from .effects import AuditNote, enqueue_audit
from .finishing import GATEWAY_ACTOR, event_id
from .fx_uow import FxUnitOfWork
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

ACTION = "gateway.provider_event.apply"
"""The audit action of a callback that changed one of our objects."""
_TARGET_CHARS = 200  # identity's limit on an audit target
_DETAIL_CHARS = 500  # under identity's 512 per detail value


class CallbackUnitOfWork(FxUnitOfWork):
    """The FX use cases' unit of work (every gateway repository) plus ``object_refs``: which
    of our objects a provider's ids name (``adapters.provider_object_refs``)."""

    def bind(self, conn: AsyncConnection) -> None:
        super().bind(conn)
        self.object_refs = ProviderObjectRefs(conn)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One verified, parsed callback, with what is kept of it for audit."""

    event: ProviderEvent
    body: bytes
    """The raw bytes, exactly as received."""
    headers: Mapping[str, str]
    """The headers that signed and identified it (never the whole request's)."""
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying a callback to one object did."""

    changed: bool
    target: str
    """The object acted on (``payments/<id>``, ``conversions/<id>`` ...)."""
    merchant_id: str
    note: str = ""
    """Why nothing changed, when nothing did."""
    details: Mapping[str, str] = field(default_factory=dict)
    """The object's state afterwards, for the audit record."""


async def record(uow: GatewayUnitOfWork, inbound: Inbound) -> bool:
    """Claim the callback in this transaction; False for a duplicate (see the module
    docstring)."""
    e = inbound.event
    return await uow.provider_events.record_provider_event(
        e.provider.value, e.event_id, e.raw_type[:100], inbound.body, inbound.headers,
        inbound.received_at,
    )  # fmt: skip


async def finish(uow: GatewayUnitOfWork, inbound: Inbound, applied: Applied, now: datetime) -> None:
    """Mark the recorded callback PROCESSED (and audit it) or IGNORED with its note."""
    e = inbound.event
    await uow.provider_events.mark_processed(
        e.provider.value, e.event_id, now, ignored=not applied.changed, note=applied.note
    )
    if applied.changed:
        await enqueue_audit(uow, audit_note(inbound, applied), applied.target.rsplit("/")[-1], now)


def audit_note(inbound: Inbound, applied: Applied) -> AuditNote:
    """The audit record of a callback that changed ``applied.target``: the gateway as the
    actor, its id derived from the provider's event id (a redelivery records nothing twice)."""
    e = inbound.event
    details = {
        **applied.details,
        "provider": e.provider.value,
        "provider_event_id": e.event_id,
        "provider_event_type": e.raw_type,
        "kind": e.kind.value,
    }
    return AuditNote(
        event_id=event_id("provider_event", e.provider.value, e.event_id),
        action=ACTION,
        merchant_id=applied.merchant_id,
        target=applied.target[:_TARGET_CHARS],
        actor_kind="service",
        actor_id=GATEWAY_ACTOR,
        details={key: value[:_DETAIL_CHARS] for key, value in details.items()},
    )


async def ignore(rt: GatewayRuntime, inbound: Inbound, note: str) -> bool:
    """Record a callback that names nothing of ours, or that we do not act on, as IGNORED
    (providers must not retry it forever); True when it was a duplicate."""
    now = rt.clock()
    async with GatewayUnitOfWork(rt.engine) as uow:
        if not await record(uow, inbound):
            return True
        await finish(uow, inbound, Applied(False, "", "", note), now)
        await uow.commit()
    return False


async def record_failure(rt: GatewayRuntime, inbound: Inbound, error: str) -> bool:
    """Keep a callback whose processing failed as FAILED, so the provider's retry takes it
    over; False when another delivery of it was processed meanwhile (nothing to keep)."""
    e = inbound.event
    async with GatewayUnitOfWork(rt.engine) as uow:
        if not await record(uow, inbound):
            return False
        await uow.provider_events.mark_failed(e.provider.value, e.event_id, error, rt.clock())
        await uow.commit()
    return True
