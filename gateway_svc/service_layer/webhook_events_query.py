"""The merchant's events: list, read, their delivery attempts, and redelivery.

Events are written by the state changes that cause them (the outbox, ``webhook_events.add``)
and delivered by the delivery worker; these use cases only show them and queue one again.
Every call acts on one merchant's events: another merchant's event id answers
EVENT_NOT_FOUND, exactly as a missing one does.

Pages are keysets behind opaque tokens bound to their filters (``fx_pages``): events newest
first by (created_at, id); attempts oldest first by (started_at, delivery id, attempt).

RedeliverEvent starts over the deliveries that are finished (delivered, dead-lettered, or
canceled while their endpoint was disabled) to endpoints that are enabled and live, with an
attempt due now and the whole retry schedule; one still pending is left as it is. Naming one
endpoint, it must be one the event was sent to (VALIDATION_FAILED), not deleted
(WEBHOOK_ENDPOINT_NOT_FOUND) and enabled (WEBHOOK_ENDPOINT_DISABLED). The redelivery is
audited as ``gateway.event.redeliver``.
"""

from __future__ import annotations

import json
from datetime import datetime

from gateway_svc.adapters.webhook_records import (
    AttemptPosition,
    AttemptRecord,
    EventQuery,
    EventRecord,
)
from gateway_svc.domain.bank_details import invalid
from gateway_svc.domain.errors import InvalidPageToken, WebhookEndpointDisabled
from gateway_svc.domain.webhook_endpoints import (
    check_event_type,
    check_time_range,
    endpoint_not_found,
    event_not_found,
)
from svc_kit.faults import FieldViolation
from svc_kit.pagination import Page

from .fx_effects import audit
from .fx_pages import page_after, page_key, page_size, pagination
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork
from .webhook_commands import EventView, ListDeliveryAttempts, ListEvents, RedeliverEvent

REDELIVER = "gateway.event.redeliver"


def event_view(record: EventRecord) -> EventView:
    """An event with its document taken apart (the bytes every delivery sends)."""
    document = json.loads(record.document)
    return EventView(
        id=record.id,
        merchant_id=record.merchant_id,
        type=record.type,
        api_version=str(document.get("api_version", "")),
        created_at=record.created_at,
        data=document.get("data") or {},
        status=record.status,
        attempts=record.attempts,
        next_attempt_at=record.next_attempt_at,
        endpoint_ids=record.endpoint_ids,
    )


def attempt_key(attempt: AttemptRecord) -> list[object]:
    """An attempt's keyset position, as a page token carries it."""
    at, delivery_id, number = attempt.position
    return [at.isoformat(), delivery_id, number]


def attempt_after(token: str, filters: dict[str, object]) -> AttemptPosition | None:
    """The position an attempts token resumes after; None for the first page. Raises
    InvalidPageToken for a token not issued for these filters."""
    key = pagination.decode(token, filters)
    if key is None:
        return None
    try:
        at, delivery_id, number = key
        return datetime.fromisoformat(at), int(delivery_id), int(number)
    except (TypeError, ValueError) as exc:
        raise InvalidPageToken("page_token is not a token this service issued") from exc


class WebhookEvents:
    """The event use cases; one per process."""

    def __init__(self, rt: GatewayRuntime) -> None:
        self._rt = rt

    async def list_events(self, query: ListEvents) -> Page[EventView]:
        """A page of the merchant's events matching the filters, newest first. Raises
        ValidationFailed (an unknown type, an end before the start), InvalidPageToken."""
        check_event_type(query.type)
        check_time_range(query.since, query.until)
        limit = page_size(query.page_size)
        filters: dict[str, object] = {
            "merchant": query.merchant_id,
            "type": query.type,
            "status": query.status.value if query.status else "",
            "since": query.since.isoformat() if query.since else "",
            "until": query.until.isoformat() if query.until else "",
        }
        after = page_after(query.page_token, filters)
        wanted = EventQuery(query.type, query.status, query.since, query.until)
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.webhook_events.list(query.merchant_id, wanted, after, limit + 1)
        page = pagination.page(found, limit, lambda e: page_key(e.created_at, e.id), filters)
        return Page([event_view(e) for e in page.items], page.next_page_token)

    async def get_event(self, merchant_id: str, event_id: str) -> EventView:
        """The merchant's event with its delivery summary; raises EventNotFound."""
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.webhook_events.get(merchant_id, event_id)
        if found is None:
            raise event_not_found(event_id)
        return event_view(found)

    async def list_attempts(self, query: ListDeliveryAttempts) -> Page[AttemptRecord]:
        """A page of the attempts to deliver the merchant's event, oldest first. Raises
        EventNotFound, ValidationFailed, InvalidPageToken."""
        limit = page_size(query.page_size)
        filters: dict[str, object] = {
            "merchant": query.merchant_id,
            "event": query.event_id,
            "endpoint": query.endpoint_id,
        }
        after = attempt_after(query.page_token, filters)
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.webhook_events.attempts(
                query.merchant_id, query.event_id, query.endpoint_id, after, limit + 1
            )
        if found is None:
            raise event_not_found(query.event_id)
        return pagination.page(found, limit, attempt_key, filters)

    async def redeliver(self, cmd: RedeliverEvent) -> EventView:
        """Queue the event again (see the module docstring); the event after. Raises
        EventNotFound, ValidationFailed, WebhookEndpointNotFound, WebhookEndpointDisabled."""
        rt, now = self._rt, self._rt.clock()
        async with GatewayUnitOfWork(rt.engine) as uow:
            event = await uow.webhook_events.get(cmd.merchant_id, cmd.event_id)
            if event is None:
                raise event_not_found(cmd.event_id)
            if cmd.endpoint_id:
                await self._check_target(uow, event, cmd.endpoint_id)
            queued = await uow.webhook_deliveries.redeliver(
                cmd.merchant_id, cmd.event_id, now, cmd.endpoint_id or None
            )
            await audit(
                uow,
                action=REDELIVER,
                merchant_id=cmd.merchant_id,
                target=f"events/{event.id}",
                actor_key_id=cmd.actor_key_id,
                event_parts=(cmd.merchant_id, REDELIVER, event.id, rt.new_id("rdl")),
                details={
                    "event_id": event.id,
                    "endpoint_id": cmd.endpoint_id or "*",
                    "deliveries_queued": str(queued or 0),
                },
                now=now,
            )
            after = await uow.webhook_events.get(cmd.merchant_id, cmd.event_id)
            await uow.commit()
        rt.kick()
        assert after is not None  # read in the transaction that found it
        return event_view(after)

    @staticmethod
    async def _check_target(uow: GatewayUnitOfWork, event: EventRecord, endpoint_id: str) -> None:
        if endpoint_id not in event.endpoint_ids:
            why = "names an endpoint this event was never sent to"
            raise invalid("invalid redelivery", [FieldViolation("endpoint_id", why)])
        endpoint = await uow.webhook_endpoints.get(event.merchant_id, endpoint_id)
        if endpoint is None:
            raise endpoint_not_found(endpoint_id)
        if not endpoint.enabled:
            raise WebhookEndpointDisabled(
                f"webhook endpoint {endpoint_id} is disabled: enable it first",
                metadata={"endpoint_id": endpoint_id, "event_id": event.id},
            )
