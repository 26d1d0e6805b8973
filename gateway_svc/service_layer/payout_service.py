"""The payout use cases and the merchant's balances, one object: ``PayoutService``.

Guarantees (the contract's, payouts.proto):

- a payout is checked against the merchant's own live beneficiary before anything moves;
- its amount is held on the merchant's balance before the provider is called: the ledger's
  no-overdraft flag refuses a payout beyond the available balance (INSUFFICIENT_FUNDS) even
  when many arrive at once, and the balance never goes negative;
- one execution per (merchant, request_id), one payment at the provider per payout (its
  unique_request_id), even across a crash and a retry (``payout_flow``);
- the hold is posted (with the provider's fee) when the provider completes the payout, and
  released when it fails or is canceled (the status poller, ``fx_poller``);
- every read is scoped by the caller's merchant (PAYOUT_NOT_FOUND, like a missing one).
"""

from __future__ import annotations

from gateway_svc.domain.payouts import Payout
from svc_kit.pagination import Page

from .balances import Balances
from .commands import Answer
from .fx_commands import CancelPayout, CreatePayout, CurrencyBalance, ListPayouts, RenderPayout
from .fx_pages import page_after, page_key, page_size, pagination
from .fx_uow import FxUnitOfWork
from .payout_cancel import PayoutCancel, payout_not_found
from .payout_flow import PayoutFlow
from .runtime import GatewayRuntime


class PayoutService:
    """CreatePayout, GetPayout, ListPayouts, CancelPayout, GetBalances; one per process."""

    def __init__(
        self,
        rt: GatewayRuntime,
        creating: PayoutFlow,
        canceling: PayoutCancel,
        balances: Balances,
    ) -> None:
        self._rt = rt
        self.creating = creating
        self.canceling = canceling
        self.balances = balances

    async def create_payout(self, cmd: CreatePayout, render: RenderPayout) -> Answer[Payout]:
        """Hold the amount, then pay it out (keyed).

        Raises ValidationFailed, BeneficiaryNotFound, IdempotencyKeyReused,
        IdempotencyKeyInUse, ConcurrentModification, LedgerUnavailable,
        ProviderUnavailable (both: nothing was paid; retry with the same request_id).
        Answers the payout (PENDING, SUBMITTED, or FAILED when the provider refused it) or
        the stored INSUFFICIENT_FUNDS / HOLD_REFUSED.
        """
        return await self.creating(cmd, render)

    async def cancel_payout(self, cmd: CancelPayout, render: RenderPayout) -> Answer[Payout]:
        """Cancel a PENDING payout at the provider, then release its hold (keyed).

        Raises PayoutNotFound, PayoutNotCancelable, IdempotencyKeyReused,
        IdempotencyKeyInUse, ConcurrentModification (its provider id is not known yet),
        ProviderUnavailable. Answers the CANCELED payout.
        """
        return await self.canceling(cmd, render)

    async def get_payout(self, merchant_id: str, payout_id: str) -> Payout:
        """The merchant's payout with its history; raises PayoutNotFound."""
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.payouts.get(merchant_id, payout_id)
        if found is None:
            raise payout_not_found(payout_id)
        return found

    async def list_payouts(self, query: ListPayouts) -> Page[Payout]:
        """A page of the merchant's payouts, newest first; raises ValidationFailed,
        InvalidPageToken."""
        limit = page_size(query.page_size)
        period = (query.created_after, query.created_before)
        filters: dict[str, object] = {
            "merchant": query.merchant_id,
            "statuses": sorted(s.value for s in query.statuses),
            "beneficiary": query.beneficiary_id,
            "period": [t.isoformat() if t else "" for t in period],
        }
        after = page_after(query.page_token, filters)
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.payouts.list(
                query.merchant_id,
                sorted(query.statuses),
                query.beneficiary_id,
                period,
                after,
                limit + 1,
            )
        return pagination.page(found, limit, lambda p: page_key(p.created_at, p.id), filters)

    async def get_balances(self, merchant_id: str) -> list[CurrencyBalance]:
        """The merchant's balance in each currency it has books in; raises
        LedgerUnavailable."""
        return await self.balances.get_balances(merchant_id)
