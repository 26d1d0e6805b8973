"""The gateway's unit of work: svc_kit's transaction with the gateway's repositories bound."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.adapters.attempt_store import AttemptRepository
from gateway_svc.adapters.key_store import IdempotencyKeyRepository
from gateway_svc.adapters.ledger_refs import LedgerRefRepository
from gateway_svc.adapters.outbox import Outbox
from gateway_svc.adapters.refund_store import RefundRepository
from gateway_svc.adapters.store import PaymentRepository
from gateway_svc.adapters.webhook_delivery_store import WebhookDeliveryRepository
from gateway_svc.adapters.webhook_event_store import WebhookEventRepository
from gateway_svc.adapters.webhook_inbound_store import ProviderEventRepository
from gateway_svc.adapters.webhook_store import WebhookEndpointRepository
from svc_kit import unit_of_work


class GatewayUnitOfWork(unit_of_work.UnitOfWork):
    """``uow.payments``, ``refunds``, ``attempts``, ``keys``, ``outbox``, ``ledger_refs``
    and the webhook repositories (``webhook_endpoints``, ``webhook_events``,
    ``webhook_deliveries``, ``provider_events``) on one transaction, rolled back unless
    ``commit()`` is called."""

    def bind(self, conn: AsyncConnection) -> None:
        self.payments = PaymentRepository(conn)
        self.refunds = RefundRepository(conn)
        self.attempts = AttemptRepository(conn)
        self.keys = IdempotencyKeyRepository(conn)
        self.outbox = Outbox(conn)
        self.ledger_refs = LedgerRefRepository(conn)
        self.webhook_endpoints = WebhookEndpointRepository(conn)
        self.webhook_events = WebhookEventRepository(conn)
        self.webhook_deliveries = WebhookDeliveryRepository(conn)
        self.provider_events = ProviderEventRepository(conn)
