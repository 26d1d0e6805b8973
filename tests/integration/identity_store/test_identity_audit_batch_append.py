"""The audit log's batch appends on SQLite and PostgreSQL: one INSERT for a whole batch, the
head moved once and only onto a whole batch, a known event_id never stored twice, and the
chain verifying afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.domain.audit import (
    GENESIS_HASH,
    Actor,
    ActorKind,
    AuditEntry,
    AuditRecord,
    Outcome,
    seal,
)
from identity_svc.service_layer.identity import Identity
from identity_svc.service_layer.unit_of_work import UnitOfWork


def _entry(event_id: str) -> AuditEntry:
    return AuditEntry(
        event_id=event_id,
        event_time=datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
        actor=Actor(ActorKind.API_KEY, "KeyId0123456789a", "mer_a"),
        action="gateway.payment.create",
        target=f"payments/pay_{event_id}",
        merchant_id="mer_a",
        outcome=Outcome.SUCCESS,
        request_id="req-1",
        details={"currency": "USD", "amount_minor": "1050", "note": "café"},
    )


def _chain(head: tuple[int, str], *event_ids: str) -> list[AuditRecord]:
    sequence, prev_hash = head
    records = []
    for event_id in event_ids:
        sequence += 1
        record = seal(sequence, prev_hash, _entry(event_id))
        prev_hash = record.hash
        records.append(record)
    return records


async def _append(engine: AsyncEngine, *event_ids: str, if_new: bool = False) -> bool:
    """Lock the head, seal ``event_ids`` onto it, append; commit only what appended whole."""
    async with UnitOfWork(engine) as uow:
        records = _chain(await uow.audit.lock_head(), *event_ids)
        if if_new:
            if not await uow.audit.append_if_new(records):
                return False
        else:
            await uow.audit.append_all(records)
        await uow.commit()
        return True


async def _head(engine: AsyncEngine) -> tuple[int, str]:
    async with UnitOfWork(engine, read_only=True) as uow:
        return await uow.audit.head()


async def _event_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_id FROM audit_events ORDER BY sequence"))
        return [str(r[0]) for r in rows]


async def test_a_batch_is_stored_in_order_and_the_head_moves_to_its_last_record(
    engine: AsyncEngine, identity: Identity
) -> None:
    ids = [f"gwe_b{i}" for i in range(100)]

    assert await _append(engine, *ids, if_new=True)

    head = await _head(engine)
    assert head[0] == 100
    assert await _event_ids(engine) == ids
    checked, problems = await identity.verify_audit_log()
    assert (checked, problems) == (100, [])


async def test_append_all_and_append_if_new_store_the_same_rows_and_hashes(
    engine: AsyncEngine, identity: Identity
) -> None:
    await _append(engine, "gwe_p1", "gwe_p2")
    await _append(engine, "gwe_p3", "gwe_p4", if_new=True)

    async with UnitOfWork(engine, read_only=True) as uow:
        stored = await uow.audit.in_order(0, 10)
    assert stored == _chain((0, GENESIS_HASH), "gwe_p1", "gwe_p2", "gwe_p3", "gwe_p4")
    assert stored[0].entry.details == {"amount_minor": "1050", "currency": "USD", "note": "café"}
    assert (await identity.verify_audit_log())[1] == []


async def test_a_batch_holding_a_known_event_id_is_refused_whole_and_nothing_changes(
    engine: AsyncEngine, identity: Identity
) -> None:
    await _append(engine, "gwe_k1", "gwe_k2")
    head = await _head(engine)

    # The known id in the middle: the rows around it must not stay either.
    appended = await _append(engine, "gwe_k3", "gwe_k2", "gwe_k4", if_new=True)

    assert appended is False
    assert await _head(engine) == head
    assert await _event_ids(engine) == ["gwe_k1", "gwe_k2"]
    assert (await identity.verify_audit_log()) == (2, [])


async def test_append_all_refuses_a_known_event_id_instead_of_skipping_it(
    engine: AsyncEngine,
) -> None:
    await _append(engine, "gwe_r1")

    with pytest.raises(IntegrityError):
        await _append(engine, "gwe_r2", "gwe_r1")

    assert await _event_ids(engine) == ["gwe_r1"]
