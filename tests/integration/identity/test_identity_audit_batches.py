"""Batches of audit events on a real identity server (SQLite and PostgreSQL), as the gateway's
relay sends them: up to 100 events a call, each event_id appended once however batches
overlap, retry or race, and the hash chain verifying afterwards."""

from __future__ import annotations

import asyncio

import grpc

from identity_svc.service_layer.context import CallContext
from tests.integration.identity.audit_support import audit_event, log_size, record, refusal
from tests.integration.identity.support import Edge
from tests.integration.svc_kit.tls_support import error_info


def _ids(prefix: str, first: int, last: int) -> list[str]:
    return [f"gwe_{prefix}{i}" for i in range(first, last)]


async def test_a_batch_of_100_is_appended_as_one_run_of_the_chain(edge: Edge) -> None:
    before = await log_size(edge)
    ids = _ids("full", 0, 100)

    reply = await record(edge, *(audit_event(i) for i in ids))

    assert [e.event_id for e in reply.audit_events] == ids
    assert [e.sequence for e in reply.audit_events] == list(range(before + 1, before + 101))
    assert len({e.hash for e in reply.audit_events}) == 100
    assert await log_size(edge) == before + 100


async def test_a_batch_overlapping_an_earlier_one_appends_only_its_new_events(
    edge: Edge,
) -> None:
    earlier = await record(edge, *(audit_event(i) for i in _ids("ov", 0, 10)))
    size = await log_size(edge)

    # Known ids at the start, in the middle and at the end, among new ones.
    mixed = [*_ids("ov", 0, 2), *_ids("ov", 10, 15), *_ids("ov", 4, 6), *_ids("ov", 15, 20),
             "gwe_ov9"]  # fmt: skip
    reply = await record(edge, *(audit_event(i) for i in mixed))

    by_id = {e.event_id: e for e in reply.audit_events}
    assert [e.event_id for e in reply.audit_events] == mixed
    for stored in earlier.audit_events:
        if stored.event_id in by_id:
            assert by_id[stored.event_id] == stored  # the stored record, not a second one
    new = [by_id[i] for i in [*_ids("ov", 10, 15), *_ids("ov", 15, 20)]]
    assert [e.sequence for e in new] == list(range(size + 1, size + 11))
    assert await log_size(edge) == size + 10


async def test_a_batch_sent_again_whole_answers_every_stored_record_and_appends_nothing(
    edge: Edge,
) -> None:
    events = [audit_event(i) for i in _ids("again", 0, 50)]
    first = await record(edge, *events)
    size = await log_size(edge)

    again = await record(edge, *events)

    assert again == first
    assert await log_size(edge) == size


async def test_a_known_event_id_with_other_content_refuses_the_whole_batch(edge: Edge) -> None:
    await record(edge, audit_event("gwe_cf1"))
    size = await log_size(edge)
    batch = [audit_event(i) for i in _ids("cf_new", 0, 30)]
    batch.insert(15, audit_event("gwe_cf1", target="payments/other"))

    refused = await refusal(edge, *batch)

    assert refused.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(refused).metadata["event_id"] == "gwe_cf1"
    assert await log_size(edge) == size  # none of the 30 new events either


async def test_an_event_id_twice_in_one_batch_is_refused_and_nothing_is_appended(
    edge: Edge,
) -> None:
    size = await log_size(edge)

    refused = await refusal(edge, audit_event("gwe_tw1"), audit_event("gwe_tw2"),
                            audit_event("gwe_tw1"))  # fmt: skip

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events[2].event_id" in str(refused.details())
    assert await log_size(edge) == size


async def test_racing_overlapping_batches_append_each_event_once(edge: Edge) -> None:
    size = await log_size(edge)
    batches = [_ids("race", start, start + 40) for start in (0, 20, 10, 30, 0)]

    replies = await asyncio.gather(
        *(record(edge, *(audit_event(i) for i in ids)) for ids in batches)
    )

    sequences: dict[str, set[int]] = {}
    for reply in replies:
        for e in reply.audit_events:
            sequences.setdefault(e.event_id, set()).add(e.sequence)
    assert set(sequences) == set(_ids("race", 0, 70))
    assert all(len(s) == 1 for s in sequences.values())  # every reply names one record
    assert await log_size(edge) == size + 70


async def test_batches_interleave_with_identitys_own_records_in_one_chain(edge: Edge) -> None:
    admin = CallContext.system("test")
    size = await log_size(edge)

    for n in range(3):
        await record(edge, *(audit_event(i) for i in _ids(f"mix{n}_", 0, 20)))
        await edge.identity.create_merchant(
            admin, display_name=f"m{n}", default_currency="USD", metadata={}, status=None,
            request_id="",
        )  # fmt: skip

    page = await edge.identity.list_audit_events(admin, page_size=100, page_token="")
    actions = {r.entry.action for r in page.items}
    assert {"gateway.payment.create", "identity.merchant.create"} <= actions
    assert await log_size(edge) == size + 3 * 20 + 3
