"""Other services' audit events, appended to identity's chain (AuditService).

Only workloads append (no role grants ``audit:write``); the entrypoint learns
which one from its certificate and passes it in as a ``Workload``. A workload
records only its own actions (``gateway.*`` from the gateway), so it cannot
write a record that looks like identity's, or another service's.

``event_id`` is the idempotency key. Each request is one transaction that
first locks the chain head, so a retry racing its original waits for it and
then finds its events: same content, the stored record comes back and nothing
is appended; different content, EventIdReused and nothing of the request is
appended. The common case, every event new, costs one INSERT of the whole batch
(``append_if_new``): the unique index on ``event_id`` tells, under the lock,
whether any was stored already, and only then is that transaction rolled back
and the request run again in one that reads the stored events first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from identity_svc.domain.audit import Actor, ActorKind, AuditEntry, AuditRecord, Outcome, seal
from identity_svc.domain.errors import EventIdReused
from svc_kit.db import retrying

from . import validation as v
from .auditing import IdentityCore
from .unit_of_work import UnitOfWork

MAX_EVENTS = 100
# Column widths of audit_events (adapters/tables.py): refuse, never cut, so a
# replay compares equal to what was stored.
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_OWN_EVENT_PREFIX = "aev_"  # identity's own records (auditing.py)
_LIMITS = {
    "action": 100,
    "target": 200,
    "merchant_id": 40,
    "reason": 64,
    "request_id": 128,
    "source_address": 256,
}
_ACTOR_ID_LEN = 256
# The kinds a workload may record, by their wire value (a dict look-up costs a tenth of
# ActorKind(value)).
_APPENDABLE_KINDS = {k.value: k for k in (ActorKind.API_KEY, ActorKind.SERVICE)}


@dataclass(frozen=True, slots=True)
class Workload:
    """The service calling AuditService, as its certificate names it."""

    name: str
    """The workload, for example "gateway": the first part of its actions."""
    spiffe_id: str
    """``spiffe://paymesh.local/gateway``: the id of its ``service`` actor."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event as the caller sent it, not yet checked (NewAuditEvent's fields)."""

    event_id: str
    event_time: datetime | None
    actor_kind: str
    actor_id: str
    actor_merchant_id: str
    action: str
    target: str
    merchant_id: str
    outcome: Outcome | None
    reason: str = ""
    request_id: str = ""
    source_address: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


class AuditAppendCases(IdentityCore):
    """AuditService.RecordAuditEvents."""

    async def record_audit_events(
        self, workload: Workload, events: Sequence[NewEvent]
    ) -> list[AuditRecord]:
        """Append ``events`` in order, all in one committed transaction; the stored record
        of each, in request order (the first stored one for an event_id already in the log).

        Raises ValidationFailed, EventIdReused.
        """
        entries = checked_entries(workload, events)

        async def all_new() -> list[AuditRecord] | None:
            async with UnitOfWork(self._engine) as uow:
                records, _ = _sealed(await uow.audit.lock_head(), entries, {})
                if not await uow.audit.append_if_new(records):
                    return None  # rolled back on the way out: some events are stored
                await uow.commit()
                return records

        async def with_replays() -> list[AuditRecord]:
            async with UnitOfWork(self._engine) as uow:
                head = await uow.audit.lock_head()
                stored = await uow.audit.by_event_ids([e.event_id for e in entries])
                records, new = _sealed(head, entries, stored)
                await uow.audit.append_all(new)
                await uow.commit()
                return records

        # Events are almost always new: try that in one statement, and look up what is
        # stored only when the unique index says something is.
        records = await retrying(all_new)
        if records is None:
            records = await retrying(with_replays)
        return records


def _sealed(
    head: tuple[int, str], entries: Sequence[AuditEntry], stored: Mapping[str, AuditRecord]
) -> tuple[list[AuditRecord], list[AuditRecord]]:
    """(the record of every entry in request order, the new ones to append): stored
    entries answer with their stored record, the others are chained onto ``head``.

    Raises EventIdReused when a stored entry differs from the one sent again.
    """
    sequence, prev_hash = head
    records: list[AuditRecord] = []
    new: list[AuditRecord] = []
    for entry in entries:
        found = stored.get(entry.event_id)
        if found is not None:
            records.append(_replayed(found, entry))
            continue
        sequence += 1
        record = seal(sequence, prev_hash, entry)
        prev_hash = record.hash
        records.append(record)
        new.append(record)
    return records, new


def _replayed(stored: AuditRecord, entry: AuditEntry) -> AuditRecord:
    if stored.entry != entry:
        raise EventIdReused(
            f"event {entry.event_id} is already in the audit log with different content",
            metadata={"event_id": entry.event_id, "sequence": str(stored.sequence)},
        )
    return stored


def checked_entries(workload: Workload, events: Sequence[NewEvent]) -> list[AuditEntry]:
    """The entries to append; ValidationFailed naming every bad field otherwise."""
    checks = v.Checks()
    if not 1 <= len(events) <= MAX_EVENTS:
        checks.add("events", f"must hold 1 to {MAX_EVENTS} events, got {len(events)}")
    seen: set[str] = set()
    for i, event in enumerate(events):
        _check_event(checks, f"events[{i}]", workload, event)
        if event.event_id in seen:
            checks.add(f"events[{i}].event_id", "appears twice in the request")
        seen.add(event.event_id)
    checks.done()
    return [_entry(event) for event in events]


def _check_event(checks: v.Checks, path: str, workload: Workload, event: NewEvent) -> None:
    if not _EVENT_ID.fullmatch(event.event_id):
        checks.add(f"{path}.event_id", "must be 1 to 40 letters, digits, '_' or '-'")
    elif event.event_id.startswith(_OWN_EVENT_PREFIX):
        checks.add(f"{path}.event_id", f"must not start with {_OWN_EVENT_PREFIX!r} (identity's)")
    if event.event_time is None or event.event_time.tzinfo is None:
        checks.add(f"{path}.event_time", "is required")
    _check_actor(checks, f"{path}.actor", workload, event)
    parts = event.action.split(".")
    if len(parts) < 3 or not all(parts) or parts[0] != workload.name:
        checks.add(f"{path}.action", f"must be '{workload.name}.<resource>.<verb>'")
    if not event.target:
        checks.add(f"{path}.target", "is required")
    for name, limit in _LIMITS.items():
        if len(getattr(event, name)) > limit:
            checks.add(f"{path}.{name}", f"must be at most {limit} characters")
    if event.outcome is None:
        checks.add(f"{path}.outcome", "must be SUCCESS or FAILURE")
    elif event.outcome is Outcome.SUCCESS and event.reason:
        checks.add(f"{path}.reason", "must be empty for a SUCCESS")
    checks.metadata(f"{path}.details", event.details)


def _check_actor(checks: v.Checks, path: str, workload: Workload, event: NewEvent) -> None:
    if event.actor_kind not in _APPENDABLE_KINDS:
        checks.add(f"{path}.kind", 'must be "api_key" or "service"')
    elif event.actor_kind == ActorKind.SERVICE.value:
        # A workload acting on its own is itself; it cannot name another workload.
        if event.actor_id != workload.spiffe_id or event.actor_merchant_id:
            checks.add(path, f"a service actor is the caller: id {workload.spiffe_id}, no merchant")
    else:
        if not event.actor_id or len(event.actor_id) > _ACTOR_ID_LEN:
            checks.add(f"{path}.id", f"must be 1 to {_ACTOR_ID_LEN} characters")
        if not event.actor_merchant_id or len(event.actor_merchant_id) > _LIMITS["merchant_id"]:
            checks.add(f"{path}.merchant_id", "must be the key's merchant, at most 40 characters")


def _entry(event: NewEvent) -> AuditEntry:
    assert event.event_time is not None and event.outcome is not None  # checked
    return AuditEntry(
        event_id=event.event_id,
        event_time=event.event_time.astimezone(UTC),
        actor=Actor(_APPENDABLE_KINDS[event.actor_kind], event.actor_id, event.actor_merchant_id),
        action=event.action,
        target=event.target,
        merchant_id=event.merchant_id,
        outcome=event.outcome,
        reason=event.reason,
        request_id=event.request_id,
        source_address=event.source_address,
        details=dict(event.details),
    )
