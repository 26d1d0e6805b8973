"""The gateway's unit of work: svc_kit's transaction with the gateway's repositories bound."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.adapters.attempt_store import AttemptRepository
from gateway_svc.adapters.key_store import IdempotencyKeyRepository
from gateway_svc.adapters.ledger_refs import LedgerRefRepository
from gateway_svc.adapters.outbox import Outbox
from gateway_svc.adapters.refund_store import RefundRepository
from gateway_svc.adapters.store import PaymentRepository
from svc_kit import unit_of_work


class GatewayUnitOfWork(unit_of_work.UnitOfWork):
    """``uow.payments``, ``refunds``, ``attempts``, ``keys``, ``outbox`` and ``ledger_refs``
    on one transaction, rolled back unless ``commit()`` is called."""

    def bind(self, conn: AsyncConnection) -> None:
        self.payments = PaymentRepository(conn)
        self.refunds = RefundRepository(conn)
        self.attempts = AttemptRepository(conn)
        self.keys = IdempotencyKeyRepository(conn)
        self.outbox = Outbox(conn)
        self.ledger_refs = LedgerRefRepository(conn)
