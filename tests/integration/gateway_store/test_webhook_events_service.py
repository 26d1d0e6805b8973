"""The event use cases on SQLite and PostgreSQL: ListEvents' filters (type, delivery status,
dead letters above all, time range) and pages, GetEvent's document, the delivery attempts
of an event, and RedeliverEvent with its refusals, each one merchant's only.

Events are written here as the state changes write them (``webhook_events.add`` with the
domain's document) and attempted as the delivery worker attempts them (claim, then a
result), so these tests need neither.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.webhook_records import AttemptOutcome, EventStatus
from gateway_svc.domain.errors import (
    EventNotFound,
    InvalidPageToken,
    ValidationFailed,
    WebhookEndpointDisabled,
    WebhookEndpointNotFound,
)
from gateway_svc.domain.webhook_endpoints import (
    EndpointSettings,
)
from gateway_svc.domain.webhooks import API_VERSION, EventType
from gateway_svc.service_layer.webhook_commands import (
    DeleteWebhookEndpoint,
    ListDeliveryAttempts,
    ListEvents,
    RedeliverEvent,
    UpdateWebhookEndpoint,
)
from tests.integration.gateway_store.webhook_service_support import (
    KEY_ID,
    Hooks,
    attempt,
    make_hooks,
    new_event,
    new_merchant,
    publish,
)


@pytest.fixture
def hooks(engine: AsyncEngine) -> Hooks:
    return make_hooks(engine)


async def endpoint(hooks: Hooks, merchant: str, n: int = 0) -> str:
    return (await hooks.created(merchant, f"https://93.184.215.14/{n}")).endpoint.id


async def switch(hooks: Hooks, merchant: str, endpoint_id: str, *, enabled: bool) -> None:
    settings = EndpointSettings("", enabled=enabled)
    cmd = UpdateWebhookEndpoint(merchant, KEY_ID, endpoint_id, settings, ("enabled",))
    assert (await hooks.endpoints.update(cmd)).enabled is enabled


async def ids(hooks: Hooks, merchant: str, **filters: object) -> list[str]:
    page = await hooks.events.list_events(ListEvents(merchant, **filters))  # type: ignore[arg-type]
    return [e.id for e in page.items]


async def test_an_event_shows_its_document_and_its_delivery_summary(hooks: Hooks) -> None:
    merchant = new_merchant()
    we = await endpoint(hooks, merchant)
    new = new_event(merchant, hooks.clock(), EventType.PAYMENT_CAPTURED, n=7)
    await publish(hooks.engine, new, [we])
    shown = await hooks.events.get_event(merchant, new.id)
    assert (shown.type, shown.api_version, shown.status) == (
        "payment.captured",
        API_VERSION,
        EventStatus.PENDING,
    )
    assert shown.data == {"amount": {"currency_code": "EUR", "minor_units": 1_007}, "id": "pay_7"}
    assert (shown.endpoint_ids, shown.attempts) == ((we,), 0)
    assert shown.next_attempt_at is not None
    with pytest.raises(EventNotFound):
        await hooks.events.get_event(new_merchant(), new.id)


async def test_events_are_filtered_by_type_status_and_time_newest_first(hooks: Hooks) -> None:
    merchant, other = new_merchant(), new_merchant()
    we = await endpoint(hooks, merchant)
    t0 = hooks.clock()
    kinds = [EventType.PAYMENT_AUTHORIZED, EventType.PAYMENT_CAPTURED, EventType.REFUND_FAILED]
    made = []
    for i, kind in enumerate(kinds):
        made.append(new_event(merchant, t0 + timedelta(seconds=i), kind, n=i))
        await publish(hooks.engine, made[-1], [we] if i < 2 else [])
    await publish(hooks.engine, new_event(other, t0), [])
    assert await ids(hooks, merchant) == [e.id for e in made[::-1]]
    assert await ids(hooks, merchant, type="payment.captured") == [made[1].id]
    assert await ids(hooks, merchant, status=EventStatus.DELIVERED) == [made[2].id]  # no one
    window = {"since": t0 + timedelta(seconds=1), "until": t0 + timedelta(seconds=2)}
    assert await ids(hooks, merchant, **window) == [made[1].id]
    with pytest.raises(ValidationFailed) as refused:
        await ids(hooks, merchant, type="payment.paid")
    assert [v.field for v in refused.value.violations] == ["type"]
    with pytest.raises(ValidationFailed) as refused:
        await ids(hooks, merchant, since=t0, until=t0 - timedelta(seconds=1))
    assert [v.field for v in refused.value.violations] == ["end_time"]


async def test_dead_letters_are_found_by_status_and_pages_keep_their_filters(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    we = await endpoint(hooks, merchant)
    t0 = hooks.clock()
    events = [new_event(merchant, t0 + timedelta(seconds=i), n=i) for i in range(3)]
    for e in events:
        await publish(hooks.engine, e, [we])
    for i in range(3):  # each head fails its last attempt in turn
        assert await attempt(hooks.engine, t0 + timedelta(minutes=i + 1), 500, last=True) == 1
    dead = ListEvents(merchant, status=EventStatus.DEAD_LETTER, page_size=2)
    first = await hooks.events.list_events(dead)
    assert [e.id for e in first.items] == [events[2].id, events[1].id]
    rest = await hooks.events.list_events(replace(dead, page_token=first.next_page_token))
    assert [e.id for e in rest.items] == [events[0].id] and rest.next_page_token == ""
    with pytest.raises(InvalidPageToken):
        await hooks.events.list_events(ListEvents(merchant, page_token=first.next_page_token))


async def test_attempts_are_listed_oldest_first_per_endpoint_and_by_page(hooks: Hooks) -> None:
    merchant = new_merchant()
    a, b = await endpoint(hooks, merchant, 1), await endpoint(hooks, merchant, 2)
    t0 = hooks.clock()
    new = new_event(merchant, t0)
    await publish(hooks.engine, new, [a, b])
    assert await attempt(hooks.engine, t0, None) == 2  # no answer: retried
    assert await attempt(hooks.engine, t0 + timedelta(minutes=2), 200) == 2
    listed = await hooks.events.list_attempts(ListDeliveryAttempts(merchant, new.id))
    assert [(x.endpoint_id, x.attempt, x.outcome) for x in listed.items] == [
        (a, 1, AttemptOutcome.RETRY_SCHEDULED),
        (b, 1, AttemptOutcome.RETRY_SCHEDULED),
        (a, 2, AttemptOutcome.DELIVERED),
        (b, 2, AttemptOutcome.DELIVERED),
    ]
    assert listed.items[0].status_code is None and listed.items[0].error == "connect refused"
    only_b = await hooks.events.list_attempts(ListDeliveryAttempts(merchant, new.id, b))
    assert [(x.endpoint_id, x.attempt) for x in only_b.items] == [(b, 1), (b, 2)]
    first = await hooks.events.list_attempts(ListDeliveryAttempts(merchant, new.id, page_size=3))
    rest = await hooks.events.list_attempts(
        ListDeliveryAttempts(merchant, new.id, page_size=3, page_token=first.next_page_token)
    )
    assert [x.position for x in [*first.items, *rest.items]] == [x.position for x in listed.items]
    assert (await hooks.events.get_event(merchant, new.id)).status is EventStatus.DELIVERED
    with pytest.raises(EventNotFound):
        await hooks.events.list_attempts(ListDeliveryAttempts(new_merchant(), new.id))


async def test_a_dead_letter_is_redelivered_now_and_keeps_its_attempt_history(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    we = await endpoint(hooks, merchant)
    t0 = hooks.clock()
    new = new_event(merchant, t0)
    await publish(hooks.engine, new, [we])
    await attempt(hooks.engine, t0, 503, last=True)
    assert (await hooks.events.get_event(merchant, new.id)).status is EventStatus.DEAD_LETTER
    hooks.clock.advance(3600)
    again = await hooks.events.redeliver(RedeliverEvent(merchant, KEY_ID, new.id))
    assert (again.status, again.attempts) == (EventStatus.PENDING, 1)
    assert again.next_attempt_at is not None and again.next_attempt_at >= t0 + timedelta(hours=1)
    await attempt(hooks.engine, hooks.clock(), 200)
    numbers = await hooks.events.list_attempts(ListDeliveryAttempts(merchant, new.id))
    assert [x.attempt for x in numbers.items] == [1, 2]  # numbering goes on
    [details] = (await hooks.audited())["gateway.event.redeliver"]
    assert details == {"event_id": new.id, "endpoint_id": "*", "deliveries_queued": "1"}
    with pytest.raises(EventNotFound):
        await hooks.events.redeliver(RedeliverEvent(new_merchant(), KEY_ID, new.id))


async def test_redelivery_to_one_endpoint_is_refused_unless_it_was_sent_there_and_is_live(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    sent_to, never, deleted = [await endpoint(hooks, merchant, i) for i in range(3)]
    t0 = hooks.clock()
    new = new_event(merchant, t0)
    await publish(hooks.engine, new, [sent_to, deleted])
    await attempt(hooks.engine, t0, 200)
    with pytest.raises(ValidationFailed) as refused:
        await hooks.events.redeliver(RedeliverEvent(merchant, KEY_ID, new.id, never))
    assert [v.field for v in refused.value.violations] == ["endpoint_id"]
    await hooks.endpoints.delete(DeleteWebhookEndpoint(merchant, KEY_ID, deleted))
    with pytest.raises(WebhookEndpointNotFound):
        await hooks.events.redeliver(RedeliverEvent(merchant, KEY_ID, new.id, deleted))
    await switch(hooks, merchant, sent_to, enabled=False)
    with pytest.raises(WebhookEndpointDisabled):
        await hooks.events.redeliver(RedeliverEvent(merchant, KEY_ID, new.id, sent_to))
    await switch(hooks, merchant, sent_to, enabled=True)
    again = await hooks.events.redeliver(RedeliverEvent(merchant, KEY_ID, new.id, sent_to))
    assert again.status is EventStatus.PENDING
