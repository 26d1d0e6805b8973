"""REST helpers of the WebhookService tests: a merchant's calls through Envoy, another key of
the same merchant with a narrower role, and events put into the gateway's own database where
only the delivery worker would put them.

Everything goes over HTTPS to the real Envoy with ``Authorization: Bearer <key>``, as a
merchant's backend calls it; only ``publish_dead_letter`` reaches behind the edge, into the
gateway under test's engine (``GatewayStack.parts``), to make a dead letter without waiting
three days of retries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from gateway_svc.adapters.webhook_records import (
    AttemptResult,
    ClaimedDelivery,
    DeliveryStatus,
    NewEvent,
)
from gateway_svc.adapters.webhook_tables import webhook_deliveries
from gateway_svc.domain.webhooks import EventType, event_document
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.context import CallContext
from tests.e2e.stack_fixture import Services
from tests.integration.gateway.payments_support import Merchant, new_key
from tests.integration.gateway.support import GatewayStack

ENDPOINTS = "/v1/webhook-endpoints"
EVENTS = "/v1/events"
PUBLIC_URL = "https://93.184.215.14/paymesh"
"""A public IP literal: accepted whatever the gateway's development settings (no DNS here)."""


@dataclass
class Hooks:
    """One merchant's WebhookService calls over REST."""

    m: Merchant

    async def create(
        self, url: str = PUBLIC_URL, key: str | None = "", **fields: Any
    ) -> httpx.Response:
        """POST /v1/webhook-endpoints with an Idempotency-Key (fresh unless given)."""
        headers = self.m.headers(new_key() if key == "" else key)
        return await self.m.rest.post(ENDPOINTS, json={"url": url, **fields}, headers=headers)

    async def created(self, url: str = PUBLIC_URL, **fields: Any) -> dict[str, Any]:
        """The reply of a creation that must succeed."""
        reply = await self.create(url, **fields)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.m.rest.get(path, params=params, headers=self.m.headers())

    async def patch(self, endpoint_id: str, mask: str, **fields: Any) -> httpx.Response:
        return await self.m.rest.patch(
            f"{ENDPOINTS}/{endpoint_id}",
            params={"update_mask": mask},
            json=fields,
            headers=self.m.headers(),
        )

    async def delete(self, endpoint_id: str) -> httpx.Response:
        return await self.m.rest.delete(f"{ENDPOINTS}/{endpoint_id}", headers=self.m.headers())

    async def post(self, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return await self.m.rest.post(path, json=body, headers=self.m.headers(key))


async def key_with_role(services: Services, merchant: Merchant, role: Role) -> Merchant:
    """Another API key of ``merchant``, with ``role``."""
    _, secret = await services.identity.create_api_key(
        CallContext(services.admin),
        merchant.merchant_id,
        display_name=f"{role.value}-key",
        description="",
        role=role,
        expire_time=None,
        rate_limit=None,
        request_id="",
    )
    return Merchant(merchant.merchant_id, f"{role.value}-key", secret, merchant.rest)


async def publish_dead_letter(stack: GatewayStack, merchant_id: str, endpoint_id: str) -> str:
    """An event of the merchant queued for ``endpoint_id`` whose only attempt failed for
    good; its id.

    The package's gateway is shared (and may run a delivery worker), so nothing is claimed
    through the queue, which would take other tests' deliveries too: the one delivery is
    leased by hand, exactly as a claim leaves it, and its result recorded as a worker would.
    The event is written an hour ahead, so no worker finds it due meanwhile.
    """
    at = datetime.now(UTC) + timedelta(hours=1)
    kind = EventType.PAYMENT_FAILED
    event_id = f"evt_{uuid.uuid4().hex[:26].upper()}"
    document = event_document(event_id, kind, at, {"id": "pay_rest", "status": "FAILED"})
    d, engine = webhook_deliveries.c, stack.parts.engine
    new = NewEvent(event_id, merchant_id, kind.value, document, at)
    async with GatewayUnitOfWork(engine) as uow:
        await uow.webhook_events.add(new, [endpoint_id])
        await uow.commit()
    lease = at + timedelta(seconds=30)
    async with engine.begin() as conn:
        leased = (
            update(webhook_deliveries)
            .where(d.event_id == event_id)
            .values(status=DeliveryStatus.DELIVERING.value, claimed_until=lease)
            .returning(d.id)
        )
        delivery_id = (await conn.execute(leased)).scalar_one()
    claim = ClaimedDelivery(delivery_id, event_id, endpoint_id, merchant_id, kind.value,
                            PUBLIC_URL, b"", document, 1, 1, lease)  # fmt: skip
    async with GatewayUnitOfWork(engine) as uow:
        failed = AttemptResult(at, 500, 25, response_excerpt="receiver broken")
        assert await uow.webhook_deliveries.dead(claim, failed, at)
        await uow.commit()
    return event_id
