"""The FX use cases, one object for the entrypoint: ``FxService`` (quotes and conversions).

Guarantees (the contract's, fx.proto):

- a quote locks its rate and amounts for its window and is redeemed by one conversion at
  most (checked in the domain, by compare-and-set in the store, and by a unique index);
- a conversion is one ledger transaction with two currency legs, held before the provider
  is called, so one beyond the merchant's available balance is refused by the ledger
  (INSUFFICIENT_FUNDS), under any concurrency, and nothing reaches the provider;
- one execution per (merchant, request_id), and one trade at the provider per conversion
  (its unique_request_id), even across a crash and a retry (``fx_conversions``);
- every read is scoped by the caller's merchant: another merchant's quote or conversion is
  NOT_FOUND, like a missing one.
"""

from __future__ import annotations

from gateway_svc.domain.conversions import Conversion
from gateway_svc.domain.errors import ConversionNotFound
from gateway_svc.domain.fx import Quote, QuoteRequest
from svc_kit.pagination import Page

from .commands import Answer
from .fx_commands import CreateConversion, ListConversions, RenderConversion
from .fx_conversions import ConversionFlow
from .fx_pages import page_after, page_key, page_size, pagination
from .fx_quotes import QuoteDesk
from .fx_uow import FxUnitOfWork
from .runtime import GatewayRuntime


class FxService:
    """GetQuote, CreateConversion, GetConversion, ListConversions; one per process."""

    def __init__(self, rt: GatewayRuntime, quotes: QuoteDesk, converting: ConversionFlow) -> None:
        self._rt = rt
        self.quotes = quotes
        self.converting = converting

    async def get_quote(self, request: QuoteRequest) -> Quote:
        """A new quote, stored. Raises ValidationFailed (also a pair the provider does not
        trade), ProviderUnavailable."""
        return await self.quotes.get_quote(request)

    async def create_conversion(
        self, cmd: CreateConversion, render: RenderConversion
    ) -> Answer[Conversion]:
        """Convert at a quote or at explicit terms (keyed).

        Raises ValidationFailed, QuoteNotFound, QuoteExpired, QuoteAlreadyUsed,
        IdempotencyKeyReused, IdempotencyKeyInUse, ConcurrentModification,
        LedgerUnavailable, ProviderUnavailable (both: nothing was booked; retry with the
        same request_id). Answers the conversion (AWAITING_FUNDS or later once booked,
        PENDING when the provider's answer did not arrive, FAILED when it refused) or the
        stored INSUFFICIENT_FUNDS / HOLD_REFUSED.
        """
        return await self.converting(cmd, render)

    async def get_conversion(self, merchant_id: str, conversion_id: str) -> Conversion:
        """The merchant's conversion with its history; raises ConversionNotFound."""
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.conversions.get(merchant_id, conversion_id)
        if found is None:
            raise ConversionNotFound(
                f"conversion {conversion_id} not found",
                metadata={"conversion_id": conversion_id},
            )
        return found

    async def list_conversions(self, query: ListConversions) -> Page[Conversion]:
        """A page of the merchant's conversions, newest first; raises ValidationFailed,
        InvalidPageToken."""
        limit = page_size(query.page_size)
        period = (query.created_after, query.created_before)
        filters: dict[str, object] = {
            "merchant": query.merchant_id,
            "statuses": sorted(s.value for s in query.statuses),
            "period": [t.isoformat() if t else "" for t in period],
        }
        after = page_after(query.page_token, filters)
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.conversions.list(
                query.merchant_id, sorted(query.statuses), period, after, limit + 1
            )
        return pagination.page(found, limit, lambda c: page_key(c.created_at, c.id), filters)
