"""The audit log: what every mutation records, listing, the append-only guard, and
verification catching tampering done behind the service's back."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.domain import errors as e
from identity_svc.domain.audit import ActorKind, Outcome, ProblemKind
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import PLATFORM_MERCHANT_ID, Identity
from tests.integration.identity_store.identity_store_support import Tenant, new_tenant, tamper

# Columns that make up a record's content (everything but its sequence).
_CONTENT = (
    "event_id, event_time, actor_kind, actor_id, actor_merchant_id, action, target, "
    "merchant_id, outcome, reason, request_id, source_address, details_json, prev_hash, hash"
)


@pytest.fixture
async def acme(identity: Identity, admin: CallContext) -> Tenant:
    return await new_tenant(identity, admin, "acme")


async def _fill(identity: Identity, tenant: Tenant, count: int) -> None:
    for i in range(count):
        await identity.create_api_key(
            tenant.ctx,
            tenant.merchant.merchant_id,
            display_name=f"k{i}",
            description="",
            role=Role.VIEWER,
            expire_time=None,
            rate_limit=None,
            request_id="",
        )


async def _head(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT sequence FROM audit_head"))).scalar_one())


async def test_bootstrap_is_recorded_as_the_system(identity: Identity, admin: CallContext) -> None:
    page = await identity.list_audit_events(admin, page_size=0, page_token="")
    oldest_first = list(reversed(page.items))
    assert [(r.sequence, r.entry.action) for r in oldest_first] == [
        (1, "identity.merchant.create"),
        (2, "identity.api_key.create"),
    ]
    for record in oldest_first:
        assert record.entry.actor.kind is ActorKind.SYSTEM
        assert record.entry.actor.id == "bootstrap"
        assert record.entry.merchant_id == PLATFORM_MERCHANT_ID
    assert oldest_first[1].entry.details["role"] == "admin"


async def test_a_mutation_records_actor_target_request_and_facts(
    identity: Identity, acme: Tenant
) -> None:
    rotated, _ = await identity.rotate_api_key(
        acme.ctx, acme.owner.key_id, overlap=None, request_id=""
    )
    newest = (await identity.list_audit_events(acme.ctx, page_size=1, page_token="")).items[0]
    entry = newest.entry
    assert entry.action == "identity.api_key.rotate"
    assert entry.target == f"api-keys/{rotated.key_id}"
    assert entry.merchant_id == acme.merchant.merchant_id
    assert (entry.actor.kind, entry.actor.id) == (ActorKind.API_KEY, acme.owner.key_id)
    assert entry.outcome is Outcome.SUCCESS and entry.reason == ""
    assert (entry.request_id, entry.source_address) == ("req-test", "192.0.2.7")
    assert entry.details == {"overlap_s": "86400"}


async def test_a_refused_mutation_is_recorded_as_a_failure_with_its_reason(
    identity: Identity, acme: Tenant, engine: AsyncEngine
) -> None:
    await identity.revoke_api_key(acme.ctx, acme.owner.key_id)
    with pytest.raises(e.KeyRevoked):
        await identity.rotate_api_key(acme.ctx, acme.owner.key_id, overlap=None, request_id="")
    with pytest.raises(e.ValidationFailed):
        await identity.revoke_api_key(acme.ctx, "")
    page = await identity.list_audit_events(acme.ctx, page_size=2, page_token="")
    assert [(r.entry.action, r.entry.outcome, r.entry.reason) for r in page.items] == [
        ("identity.api_key.revoke", Outcome.FAILURE, "VALIDATION_FAILED"),
        ("identity.api_key.rotate", Outcome.FAILURE, "API_KEY_REVOKED"),
    ]
    checked, problems = await identity.verify_audit_log()
    assert problems == []
    assert checked == await _head(engine)


async def test_listing_pages_newest_first_and_filters_by_action(
    identity: Identity, acme: Tenant, admin: CallContext
) -> None:
    await _fill(identity, acme, 3)
    sequences: list[int] = []
    token = ""
    first_token = ""
    while True:
        page = await identity.list_audit_events(
            admin, action="identity.api_key.create", page_size=2, page_token=token
        )
        sequences += [r.sequence for r in page.items]
        token = page.next_page_token
        first_token = first_token or token
        if not token:
            break
    # bootstrap's admin key, acme's owner key, and the three made here
    assert len(sequences) == 5
    assert sequences == sorted(sequences, reverse=True)
    with pytest.raises(e.InvalidPageToken):
        await identity.list_audit_events(admin, action="", page_size=2, page_token=first_token)


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET reason = 'X'", "DELETE FROM audit_events"]
)
async def test_the_database_refuses_to_change_audit_records(
    engine: AsyncEngine, admin: CallContext, statement: str
) -> None:
    with pytest.raises(DBAPIError):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM audit_events"))).scalar_one()
    assert count == 2


async def test_an_untampered_log_verifies_clean(identity: Identity, acme: Tenant) -> None:
    await _fill(identity, acme, 5)
    checked, problems = await identity.verify_audit_log()
    assert problems == []
    assert checked == 4 + 5


async def test_an_edited_record_is_reported_at_its_sequence(
    identity: Identity, acme: Tenant, engine: AsyncEngine
) -> None:
    await _fill(identity, acme, 5)
    await tamper(
        engine, ("UPDATE audit_events SET target = 'merchants/evil' WHERE sequence = 5", {})
    )
    _, problems = await identity.verify_audit_log()
    assert [(p.sequence, p.kind) for p in problems] == [(5, ProblemKind.EDITED)]


async def test_a_deleted_middle_record_is_detected(
    identity: Identity, acme: Tenant, engine: AsyncEngine
) -> None:
    await _fill(identity, acme, 5)
    await tamper(engine, ("DELETE FROM audit_events WHERE sequence = 5", {}))
    checked, problems = await identity.verify_audit_log()
    assert checked == 8
    assert {(p.sequence, p.kind) for p in problems} == {
        (6, ProblemKind.GAP),
        (6, ProblemKind.BROKEN_LINK),
    }


async def test_two_swapped_records_are_detected(
    identity: Identity, acme: Tenant, engine: AsyncEngine
) -> None:
    await _fill(identity, acme, 5)
    # Move record 5 to sequence 6 and 6 to 5, each with all its content.
    await tamper(
        engine,
        ("UPDATE audit_events SET sequence = -1 WHERE sequence = 5", {}),
        ("UPDATE audit_events SET sequence = 5 WHERE sequence = 6", {}),
        ("UPDATE audit_events SET sequence = 6 WHERE sequence = -1", {}),
    )
    _, problems = await identity.verify_audit_log()
    kinds_at = {(p.sequence, p.kind) for p in problems}
    assert (5, ProblemKind.BROKEN_LINK) in kinds_at
    assert (5, ProblemKind.EDITED) in kinds_at and (6, ProblemKind.EDITED) in kinds_at


async def test_records_whose_contents_were_swapped_are_detected(
    identity: Identity, acme: Tenant, engine: AsyncEngine
) -> None:
    await _fill(identity, acme, 5)
    # Swap every content column between records 4 and 7, keeping the sequences.
    # The SQL is built from the fixed column list above only.
    select = f"SELECT sequence, {_CONTENT} FROM audit_events WHERE sequence IN (4, 7)"  # noqa: S608
    async with engine.connect() as conn:
        result = await conn.execute(text(select))
        rows = {row["sequence"]: dict(row) for row in result.mappings()}
    assignments = ", ".join(f"{c} = :{c}" for c in _CONTENT.split(", "))
    update = f"UPDATE audit_events SET {assignments} WHERE sequence = :sequence"  # noqa: S608
    # event_id is unique: park record 4's first so the two updates never clash.
    await tamper(
        engine,
        ("UPDATE audit_events SET event_id = 'parked' WHERE sequence = 4", {}),
        (update, rows[4] | {"sequence": 7}),
        (update, rows[7] | {"sequence": 4}),
    )
    _, problems = await identity.verify_audit_log()
    kinds_at = {(p.sequence, p.kind) for p in problems}
    assert {(4, ProblemKind.EDITED), (7, ProblemKind.EDITED)} <= kinds_at
    assert (4, ProblemKind.BROKEN_LINK) in kinds_at


async def test_a_deleted_last_record_is_reported_as_truncation(
    identity: Identity, acme: Tenant, engine: AsyncEngine
) -> None:
    await _fill(identity, acme, 3)
    last = await _head(engine)
    await tamper(engine, ("DELETE FROM audit_events WHERE sequence = :s", {"s": last}))
    checked, problems = await identity.verify_audit_log()
    assert checked == last - 1
    assert [(p.sequence, p.kind) for p in problems] == [(last, ProblemKind.TRUNCATED)]
