"""The webhook use cases as the servicer calls them, on each backend: a harness (``Hooks``) with
the real renderers, the development SecretBox, a clock, and the outbox relay into an
in-memory audit log; and ways to put events where only the delivery worker would.

Host names are resolved by the system's resolver (``SystemResolver``: ``localhost`` is in
/etc/hosts) unless a test names its answers (``TableResolver``): this machine has no DNS, so a
public host name can only be resolved from a table.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.adapters.tables import idempotency_keys
from gateway_svc.adapters.webhook_records import AttemptResult, NewEvent, open_secrets
from gateway_svc.adapters.webhook_resolver import SystemResolver
from gateway_svc.domain.webhook_endpoints import DestinationPolicy, EndpointSettings
from gateway_svc.domain.webhooks import EndpointSecret, EventType, event_document
from gateway_svc.entrypoints.webhook_servicer import RENDER_CREATE, RENDER_ROTATE
from gateway_svc.service_layer.commands import Answer
from gateway_svc.service_layer.relay import OutboxRelay
from gateway_svc.service_layer.runtime import GatewayRuntime
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.webhook_commands import (
    CreateWebhookEndpoint,
    HostResolver,
    IssuedSecret,
    RotateWebhookSecret,
)
from gateway_svc.service_layer.webhook_endpoints import WebhookEndpoints
from gateway_svc.service_layer.webhook_events_query import WebhookEvents
from tests.integration.gateway_store.gateway_support import AuditRecorder, Clock, LedgerRecorder

PUBLIC_URL = "https://93.184.215.14/paymesh"
"""An IP literal on the public internet: accepted without a resolver."""
KEY_ID = "key_test"
LEASE = timedelta(seconds=30)
M = TypeVar("M", bound=Message)
STRICT = DestinationPolicy()
"""The production policy: https only, public destinations only."""


@dataclass
class TableResolver:
    """A resolver that answers from a table (no DNS here); a name not in it resolves to
    nothing, as the system's resolver answers an unknown name."""

    answers: Mapping[str, Sequence[str]]
    asked: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(f"{host}:{port}")
        return list(self.answers.get(host, ()))


@dataclass
class Hooks:
    """The endpoint and event use cases on one engine, with what they wrote observable."""

    engine: AsyncEngine
    endpoints: WebhookEndpoints
    events: WebhookEvents
    relay: OutboxRelay
    audit: AuditRecorder
    clock: Clock
    box: SecretBox
    runtime: GatewayRuntime

    def with_policy(
        self, policy: DestinationPolicy, resolver: HostResolver | None = None
    ) -> WebhookEndpoints:
        """The endpoint use cases on the same runtime under another policy or resolver."""
        return WebhookEndpoints(self.runtime, self.box, resolver or SystemResolver(), policy)

    async def create(
        self,
        merchant: str,
        url: str = PUBLIC_URL,
        *,
        events: Sequence[str] = (),
        description: str = "orders",
        request_id: str = "",
        endpoints: WebhookEndpoints | None = None,
    ) -> Answer[IssuedSecret]:
        settings = EndpointSettings(url, description, tuple(events))
        cmd = CreateWebhookEndpoint(merchant, KEY_ID, settings, request_id)
        return await (endpoints or self.endpoints).create(cmd, RENDER_CREATE)

    async def created(self, merchant: str, url: str = PUBLIC_URL, **kw: object) -> IssuedSecret:
        """An endpoint that must be created; what the first execution returned."""
        answer = await self.create(merchant, url, **kw)  # type: ignore[arg-type]
        assert answer.result is not None and not answer.replayed, answer
        return answer.result

    async def rotate(
        self, merchant: str, endpoint_id: str, overlap: timedelta | None = None, key: str = ""
    ) -> Answer[IssuedSecret]:
        cmd = RotateWebhookSecret(merchant, KEY_ID, endpoint_id, overlap, key)
        return await self.endpoints.rotate(cmd, RENDER_ROTATE)

    async def secrets(self, merchant: str, endpoint_id: str) -> tuple[EndpointSecret, ...]:
        """The endpoint's stored secrets, opened (what the delivery worker signs with)."""
        async with GatewayUnitOfWork(self.engine, read_only=True) as uow:
            found = await uow.webhook_endpoints.get(merchant, endpoint_id, include_deleted=True)
        assert found is not None
        return open_secrets(self.box, endpoint_id, found.secrets)

    async def stored_keys(self, merchant: str) -> list[tuple[str, int | None, bytes | None]]:
        """(operation, response code, response body) of the merchant's idempotency keys."""
        k = idempotency_keys.c
        stmt = select(k.operation, k.response_code, k.response_body).where(
            k.merchant_id == merchant
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(op, code, None if body is None else bytes(body)) for op, code, body in rows]

    async def audited(self) -> dict[str, list[dict[str, str]]]:
        """Deliver the outbox; every audit record's details, by action."""
        await self.relay.drain()
        out: dict[str, list[dict[str, str]]] = {}
        for e in self.audit.events.values():
            out.setdefault(e.action, []).append(dict(e.details))
        return out


def make_hooks(engine: AsyncEngine, policy: DestinationPolicy = STRICT) -> Hooks:
    clock = Clock()
    audit = AuditRecorder()
    relay = OutboxRelay(engine, LedgerRecorder(), audit, clock=clock)
    rt = GatewayRuntime(
        engine=engine, providers={}, clock=clock, rng=random.Random(7), on_commit=relay.kick
    )
    box = SecretBox.development()
    endpoints = WebhookEndpoints(rt, box, SystemResolver(), policy)
    return Hooks(engine, endpoints, WebhookEvents(rt), relay, audit, clock, box, rt)


def new_merchant() -> str:
    return f"mer_{uuid.uuid4().hex[:12]}"


def new_event(
    merchant: str, at: datetime, kind: EventType = EventType.PAYMENT_CAPTURED, n: int = 0
) -> NewEvent:
    """An event as the state changes write them: its document built by the domain."""
    event_id = f"evt_{uuid.uuid4().hex[:20]}{n:06d}"
    data = {"id": f"pay_{n}", "amount": {"currency_code": "EUR", "minor_units": 1_000 + n}}
    return NewEvent(event_id, merchant, kind.value, event_document(event_id, kind, at, data), at)


async def publish(engine: AsyncEngine, event: NewEvent, endpoint_ids: Sequence[str]) -> None:
    """Store an event queued for ``endpoint_ids``, as the outbox write does."""
    async with GatewayUnitOfWork(engine) as uow:
        await uow.webhook_events.add(event, endpoint_ids)
        await uow.commit()


async def attempt(
    engine: AsyncEngine, now: datetime, status: int | None, last: bool = False
) -> int:
    """Claim every due delivery and record one attempt each, as the delivery worker would:
    2xx delivered; otherwise retried in a minute, or dead-lettered when ``last``. How many."""
    async with GatewayUnitOfWork(engine) as uow:
        claimed = await uow.webhook_deliveries.claim(now, 100, LEASE)
        for claim in claimed:
            result = AttemptResult(now, status, 40, None if status else "connect refused")
            if status is not None and 200 <= status < 300:
                await uow.webhook_deliveries.delivered(claim, result, now)
            elif last:
                await uow.webhook_deliveries.dead(claim, result, now)
            else:
                await uow.webhook_deliveries.retry(claim, result, now + timedelta(minutes=1), now)
        await uow.commit()
    return len(claimed)


def sent(answer: Answer[IssuedSecret], parse: Callable[[bytes], M]) -> M:
    """The response the servicer would send for ``answer`` (it must be a success)."""
    assert answer.response.status_code == 0, answer.response
    return parse(answer.response.body)
