"""The webhook delivery worker on SQLite and PostgreSQL, against a real local HTTPS receiver.

The receiver (``bench.webhook_receiver``) verifies every delivery with the reference
``standardwebhooks`` package from PyPI, the compatibility proof: a delivery it cannot verify
is answered 401 and counted as refused, and every test ends with none refused unless it
means to. The worker runs on a clock the test moves (retries hours apart take no time), signs
with the wall clock the receiver checks, and draws the retry jitter from a seeded generator.

Covered: per-endpoint order; a receiver answering 500 for a while then 200 (every event
arrives, every attempt is recorded); a 410 disabling the endpoint; exhaustion to the dead
letter, then a redelivery that delivers; Retry-After honoured; a rotation's overlap (both
signatures, receivers holding either secret accept); the pipeline's kick and a graceful stop
that hands back what it had claimed.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.webhook_receiver import WebhookReceiver, ids_in_order
from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.adapters.webhook_delivery_store import Finished, WebhookDeliveryRepository
from gateway_svc.adapters.webhook_records import (
    AttemptOutcome,
    AttemptResult,
    EndpointRecord,
    EventQuery,
    EventStatus,
    seal_secrets,
)
from gateway_svc.adapters.webhook_sender import WebhookSender
from gateway_svc.domain import webhooks as wh
from gateway_svc.domain.webhooks import EventType
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.webhook_delivery import DeliveryPolicy, WebhookDeliveryWorker
from gateway_svc.service_layer.webhook_delivery_attempts import GONE_REASON
from gateway_svc.service_layer.webhook_emit import new_event
from svc_kit.pki import generate_ca, issue_cert
from tests.integration.gateway_store.gateway_support import Clock

BOX = SecretBox.development()
OLD, NEW = wh.new_secret(bytes(range(32))), wh.new_secret(bytes(range(1, 33)))
LONGEST_WAIT_S = 24 * 3600 * 1.2 + 1  # the schedule's longest delay, at its highest jitter


@dataclass
class Hooks:
    """The receiver, a worker on a movable clock, and helpers to queue events."""

    engine: AsyncEngine
    receiver: WebhookReceiver
    worker: WebhookDeliveryWorker
    sender: WebhookSender
    clock: Clock

    async def endpoint(self, eid: str, secrets: tuple[wh.EndpointSecret, ...] = ()) -> str:
        """A live endpoint at ``/<eid>``, signing with ``secrets`` (default: OLD alone)."""
        chosen = secrets or (wh.EndpointSecret(OLD),)
        at = self.clock()
        url = self.receiver.url(f"/{eid}")
        record = EndpointRecord(eid, "m_1", url, "test", (), True, "",
                                seal_secrets(BOX, eid, chosen), at, at)  # fmt: skip
        async with GatewayUnitOfWork(self.engine) as uow:
            await uow.webhook_endpoints.add(record)
            await uow.commit()
        self.receiver.expect(f"/{eid}", *(s.secret for s in chosen))
        return f"/{eid}"

    async def events(self, count: int, start: int = 0) -> list[str]:
        """``count`` events, each in its own committed change, oldest first."""
        ids: list[str] = []
        for i in range(start, start + count):
            self.clock.advance(0.001)  # a millisecond apart: ids sort as they were made
            new = new_event("m_1", EventType.PAYMENT_CAPTURED, self.clock(), (f"pay_{i}",),
                            {"id": f"pay_{i}"})  # fmt: skip
            async with GatewayUnitOfWork(self.engine) as uow:
                ids += await uow.webhook_events.emit([new])
                await uow.commit()
        return ids

    async def status(self, event_id: str) -> EventStatus:
        async with GatewayUnitOfWork(self.engine) as uow:
            found = await uow.webhook_events.get("m_1", event_id)
        assert found is not None
        return found.status

    async def attempts(self, event_id: str) -> list[tuple[int | None, AttemptOutcome]]:
        async with GatewayUnitOfWork(self.engine) as uow:
            found = await uow.webhook_events.attempts("m_1", event_id)
        assert found is not None
        return [(a.status_code, a.outcome) for a in found]

    async def next_due(self) -> datetime | None:
        async with GatewayUnitOfWork(self.engine) as uow:
            return await uow.webhook_deliveries.next_due()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the receiver's server context, a client context trusting only its CA)."""
    ca_pem, ca_key = generate_ca("webhook receiver test CA")
    cert_pem, key_pem = issue_cert(ca_pem, ca_key, "receiver")
    folder: Path = tmp_path_factory.mktemp("receiver")
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return server, ssl.create_default_context(cadata=ca_pem.decode())


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def hooks(
    engine: AsyncEngine, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> AsyncIterator[Hooks]:
    receiver = WebhookReceiver(tls=tls[0])
    await receiver.start()
    sender = WebhookSender(ssl_context=tls[1], timeout_s=5.0)
    clock = Clock()
    policy = DeliveryPolicy(allow_private=True, idle_poll_s=30.0, stop_grace_s=0.2)
    worker = WebhookDeliveryWorker(
        engine, sender, BOX, policy, clock=clock, rng=random.Random(7), wall_clock=_wall_clock
    )
    yield Hooks(engine, receiver, worker, sender, clock)
    await worker.stop()
    await sender.aclose()
    await receiver.stop()


async def test_every_delivery_verifies_and_each_endpoint_gets_its_events_in_order(
    hooks: Hooks,
) -> None:
    a, b = await hooks.endpoint("a"), await hooks.endpoint("b")
    ids = await hooks.events(6)
    await hooks.worker.drain()
    assert hooks.receiver.refused == []
    assert ids_in_order(hooks.receiver.received) == {a: ids, b: ids}
    assert {r.headers["webhook-id"] for r in hooks.receiver.received} == set(ids)
    assert [await hooks.status(i) for i in ids] == [EventStatus.DELIVERED] * 6
    assert await hooks.attempts(ids[0]) == [(200, AttemptOutcome.DELIVERED)] * 2


async def test_a_receiver_down_for_a_while_gets_every_event_and_the_retries_are_recorded(
    hooks: Hooks,
) -> None:
    path = await hooks.endpoint("flaky")
    hooks.receiver.script(path, *[(500, {}, b"down")] * 3)
    first, second = await hooks.events(2)
    await hooks.worker.drain()
    assert hooks.receiver.ids(path, status=None) == [first]  # the second waits behind it
    assert await hooks.status(first) == EventStatus.FAILING
    while (due := await hooks.next_due()) is not None:
        hooks.clock.advance((due - hooks.clock()).total_seconds() + 0.001)
        await hooks.worker.drain()
    assert hooks.receiver.ids(path) == [first, second]
    assert await hooks.attempts(first) == [
        (500, AttemptOutcome.RETRY_SCHEDULED),
        (500, AttemptOutcome.RETRY_SCHEDULED),
        (500, AttemptOutcome.RETRY_SCHEDULED),
        (200, AttemptOutcome.DELIVERED),
    ]
    assert await hooks.attempts(second) == [(200, AttemptOutcome.DELIVERED)]
    assert [await hooks.status(i) for i in (first, second)] == [EventStatus.DELIVERED] * 2
    assert hooks.receiver.refused == []


async def test_a_410_disables_the_endpoint_and_cancels_what_it_was_owed(hooks: Hooks) -> None:
    path = await hooks.endpoint("gone")
    hooks.receiver.script(path, (410, {}, b"unsubscribed"))
    first, second = await hooks.events(2)
    await hooks.worker.drain()
    hooks.clock.advance(LONGEST_WAIT_S)
    await hooks.worker.drain()
    assert hooks.receiver.ids(path, status=None) == [first]
    async with GatewayUnitOfWork(hooks.engine) as uow:
        endpoint = await uow.webhook_endpoints.get("m_1", "gone")
    assert endpoint is not None and not endpoint.enabled
    assert endpoint.disabled_reason == GONE_REASON
    assert await hooks.attempts(first) == [(410, AttemptOutcome.ENDPOINT_GONE)]
    assert await hooks.attempts(second) == []
    assert await hooks.next_due() is None


async def test_exhaustion_dead_letters_the_event_then_a_redelivery_delivers_it(
    hooks: Hooks,
) -> None:
    path = await hooks.endpoint("dead")
    hooks.receiver.script(path, *[(503, {}, b"")] * wh.MAX_ATTEMPTS)
    [evid] = await hooks.events(1)
    await hooks.worker.drain()
    for _ in range(wh.MAX_ATTEMPTS - 1):
        hooks.clock.advance(LONGEST_WAIT_S)
        await hooks.worker.drain()
    assert await hooks.status(evid) == EventStatus.DEAD_LETTER
    outcomes = [outcome for _, outcome in await hooks.attempts(evid)]
    assert outcomes == [AttemptOutcome.RETRY_SCHEDULED] * 9 + [AttemptOutcome.DEAD_LETTERED]
    hooks.clock.advance(LONGEST_WAIT_S)
    await hooks.worker.drain()
    assert len(hooks.receiver.ids(path, status=None)) == wh.MAX_ATTEMPTS  # nothing more
    async with GatewayUnitOfWork(hooks.engine) as uow:
        dead = await uow.webhook_events.list("m_1", EventQuery(status=EventStatus.DEAD_LETTER),
                                             None, 10)  # fmt: skip
        assert await uow.webhook_deliveries.redeliver("m_1", evid, hooks.clock()) == 1
        await uow.commit()
    assert [e.id for e in dead] == [evid]
    await hooks.worker.drain()
    assert hooks.receiver.ids(path) == [evid]
    assert (await hooks.attempts(evid))[-1] == (200, AttemptOutcome.DELIVERED)
    assert await hooks.status(evid) == EventStatus.DELIVERED


async def test_retry_after_is_honoured_over_the_shorter_schedule(hooks: Hooks) -> None:
    path = await hooks.endpoint("busy")
    hooks.receiver.script(path, (429, {"retry-after": "3600"}, b"slow down"))
    [evid] = await hooks.events(1)
    await hooks.worker.drain()
    due = await hooks.next_due()
    assert due is not None and due - hooks.clock() > timedelta(seconds=3590)
    hooks.clock.advance(60)  # far past the schedule's 5 s (at most 6 s with jitter)
    await hooks.worker.drain()
    assert hooks.receiver.ids(path, status=None) == [evid]
    hooks.clock.advance(3600)
    await hooks.worker.drain()
    assert hooks.receiver.ids(path) == [evid]


async def test_during_a_rotation_both_sign_and_receivers_holding_either_secret_accept(
    hooks: Hooks,
) -> None:
    rotated = wh.rotate([wh.EndpointSecret(OLD)], NEW, hooks.clock())
    old_only, new_only = "/kept-old", "/moved-new"
    for path in (old_only, new_only):
        await hooks.endpoint(path.strip("/"), rotated)
    hooks.receiver.expect(old_only, OLD)
    hooks.receiver.expect(new_only, NEW)
    [during] = await hooks.events(1)
    await hooks.worker.drain()
    assert hooks.receiver.refused == []
    assert hooks.receiver.ids(old_only) == hooks.receiver.ids(new_only) == [during]
    signature = hooks.receiver.received[0].headers["webhook-signature"]
    assert len(signature.split(" ")) == 2 and all(s.startswith("v1,") for s in signature.split())

    hooks.clock.advance(wh.ROTATION_OVERLAP.total_seconds() + 1)  # the old secret expired
    [after] = await hooks.events(1, start=1)
    await hooks.worker.drain()
    assert hooks.receiver.ids(new_only) == [during, after]
    assert hooks.receiver.ids(old_only) == [during]
    assert [path for path, _ in hooks.receiver.refused] == [old_only]


async def test_a_kick_starts_a_delivery_at_once_and_a_stop_hands_back_what_was_held(
    hooks: Hooks,
) -> None:
    path = await hooks.endpoint("slow")
    release = hooks.receiver.hold(path)
    hooks.worker.start()  # polls every 30 s: only a kick can explain a fast start
    [evid] = await hooks.events(1)
    hooks.worker.kick()
    await asyncio.wait_for(hooks.receiver.requested.wait(), 2.0)
    await hooks.worker.stop()  # the attempt is still held by the receiver: handed back
    assert await hooks.status(evid) == EventStatus.PENDING
    due = await hooks.next_due()  # handed back: due now, not when the lease would end
    assert due is not None and due <= hooks.clock()
    assert await hooks.attempts(evid) == []
    release.set()
    await hooks.worker.drain()  # another pass (a restarted worker) takes it at once
    assert hooks.receiver.ids(path)[-1] == evid
    assert await hooks.status(evid) == EventStatus.DELIVERED


async def test_a_kick_claims_only_when_this_process_queued_a_delivery_since_the_last(
    hooks: Hooks,
) -> None:
    """Every committed state change kicks the worker; most queue nothing (no endpoint wants
    their event), and those must not cost a claim each."""
    claims: list[str] = []

    @event.listens_for(hooks.engine.sync_engine, "before_cursor_execute")
    def _claims(*args: Any) -> None:  # (conn, cursor, statement, parameters, context, many)
        statement = str(args[2])
        if "FROM webhook_deliveries" in statement and "SELECT" in statement.split()[0]:
            claims.append(statement)

    path = await hooks.endpoint("kicked")
    hooks.worker.start()  # polls every 30 s: only kicks make it claim during the test
    try:
        await asyncio.sleep(0.2)  # the first pass at start-up
        claims.clear()
        for _ in range(5):
            hooks.worker.kick()  # commits that queued nothing
            await asyncio.sleep(0.02)
        assert claims == []
        [evid] = await hooks.events(1)  # queues a delivery for the endpoint
        hooks.worker.kick()
        await asyncio.wait_for(hooks.receiver.requested.wait(), 2.0)
        assert claims != [] and hooks.receiver.ids(path) == [evid]
    finally:
        event.remove(hooks.engine.sync_engine, "before_cursor_execute", _claims)
        await hooks.worker.stop()


async def test_secrets_that_do_not_open_send_nothing_and_the_attempt_is_retried(
    hooks: Hooks,
) -> None:
    path = await hooks.endpoint("sealed-elsewhere")
    other_box = SecretBox({"k9": bytes(32)}, "k9")  # not a key the worker's box holds
    sealed = seal_secrets(other_box, "sealed-elsewhere", [wh.EndpointSecret(OLD)])
    async with GatewayUnitOfWork(hooks.engine) as uow:
        found = await uow.webhook_endpoints.get("m_1", "sealed-elsewhere")
        assert found is not None
        await uow.webhook_endpoints.update(replace(found, secrets=sealed), found.version)
        await uow.commit()
    [evid] = await hooks.events(1)
    await hooks.worker.drain()
    assert hooks.receiver.ids(path, status=None) == [] and hooks.receiver.refused == []
    async with GatewayUnitOfWork(hooks.engine) as uow:
        [attempt] = await uow.webhook_events.attempts("m_1", evid) or []
    assert attempt.outcome is AttemptOutcome.RETRY_SCHEDULED and attempt.status_code is None
    assert attempt.error is not None and attempt.error.startswith("not signed")


async def test_the_pipeline_records_every_result_once_and_never_waits_for_a_lease(
    hooks: Hooks,
) -> None:
    paths = [await hooks.endpoint(f"p{i}") for i in range(3)]
    # Answers at different speeds: results reach the recorder while it is writing others.
    hooks.receiver.delays.update({paths[1]: 0.01, paths[2]: 0.03})
    ids = await hooks.events(30)
    hooks.worker.start()
    hooks.worker.kick()

    async def drained() -> None:
        while True:
            async with GatewayUnitOfWork(hooks.engine) as uow:
                if await uow.webhook_deliveries.unfinished_count() == 0:
                    return
            await asyncio.sleep(0.05)

    # The lease is 60 s: a result lost on the way to the recorder would show as a stall.
    await asyncio.wait_for(drained(), 20)
    await hooks.worker.stop()
    assert ids_in_order(hooks.receiver.received) == dict.fromkeys(paths, ids)  # each once
    for evid in ids:
        assert await hooks.attempts(evid) == [(200, AttemptOutcome.DELIVERED)] * 3


async def test_two_workers_recording_an_events_last_deliveries_at_once_leave_it_delivered(
    hooks: Hooks,
) -> None:
    await hooks.endpoint("x")
    await hooks.endpoint("y")
    [evid] = await hooks.events(1)
    async with GatewayUnitOfWork(hooks.engine) as uow:
        claims = await uow.webhook_deliveries.claim(hooks.clock(), 10, timedelta(seconds=60))
        await uow.commit()
    ok = AttemptResult(hooks.clock(), 200, 5)
    first, second = (Finished(c, ok, AttemptOutcome.DELIVERED) for c in claims)
    async with hooks.engine.connect() as a, hooks.engine.connect() as b:
        await a.begin()
        await WebhookDeliveryRepository(a).finish_many([first], hooks.clock())

        async def other_worker() -> None:
            await b.begin()  # SQLite: waits here for the write lock
            await WebhookDeliveryRepository(b).finish_many([second], hooks.clock())
            await b.commit()

        racing = asyncio.create_task(other_worker())
        await asyncio.sleep(0.3)  # PostgreSQL: it reads, or waits for the event's lock
        await a.commit()
        await asyncio.wait_for(racing, 10)
    assert await hooks.status(evid) == EventStatus.DELIVERED
