"""The unit of work of the FX, beneficiary and payout use cases: the gateway's, plus theirs.

A subclass rather than new attributes on ``GatewayUnitOfWork``, so the payment use cases'
unit stays as it is; the shared helpers (``keys``, the outbox, the ledger refs) accept either.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.adapters.balance_store import BalanceAccountRepository
from gateway_svc.adapters.beneficiary_store import BeneficiaryRepository
from gateway_svc.adapters.fx_store import ConversionRepository, QuoteRepository
from gateway_svc.adapters.payout_store import PayoutRepository

from .unit_of_work import GatewayUnitOfWork


class FxUnitOfWork(GatewayUnitOfWork):
    """Adds ``quotes``, ``conversions``, ``beneficiaries``, ``payouts`` and
    ``balance_accounts`` to the gateway's repositories, on the same transaction."""

    def bind(self, conn: AsyncConnection) -> None:
        super().bind(conn)
        self.quotes = QuoteRepository(conn)
        self.conversions = ConversionRepository(conn)
        self.beneficiaries = BeneficiaryRepository(conn)
        self.payouts = PayoutRepository(conn)
        self.balance_accounts = BalanceAccountRepository(conn)
