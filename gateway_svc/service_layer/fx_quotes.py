"""GetQuote: the provider's rate for the pair, priced for one merchant, stored to be redeemed.

The provider is asked for the exact request (``rates/detailed`` for the fixed side's
amount); ``domain.fx.quote_from_rate`` turns its answer into the merchant's quote (markup,
amounts rounded in the platform's favour, the expiry window of ``QuotePolicy``), which is
stored so ``CreateConversion`` can lock its rate. A conversion from explicit terms prices a
quote the same way (``price``), owned by that conversion from the start.

Refusals: an ill-formed request is VALIDATION_FAILED before any call; a pair or amount the
provider refuses is VALIDATION_FAILED too, one violation per field it named; a provider
that cannot answer now is PROVIDER_UNAVAILABLE (nothing was stored).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from gateway_svc.domain.errors import QuoteNotFound
from gateway_svc.domain.fx import Quote, QuotePolicy, QuoteRequest, check_quote_request
from gateway_svc.domain.fx import quote_from_rate as price_rate
from gateway_svc.domain.fx_provider import RateQuote

from .fx_calls import FxCaller, FxStep, provider_violations, refused, unavailable
from .fx_uow import FxUnitOfWork
from .runtime import GatewayRuntime

_log = logging.getLogger(__name__)
RATE_FIELDS = {"amount": "amount.minor_units"}
"""The provider's rate fields that our request names differently."""


class QuoteDesk:
    """GetQuote and the pricing of explicit conversion terms; one per process."""

    def __init__(self, rt: GatewayRuntime, caller: FxCaller, policy: QuotePolicy) -> None:
        self._rt = rt
        self._caller = caller
        self.policy = policy

    async def get_quote(self, request: QuoteRequest) -> Quote:
        """Price and store a quote for the merchant; raises ValidationFailed or
        ProviderUnavailable (nothing stored)."""
        quote = await self.price(request, self._rt.new_id("quote"))
        async with FxUnitOfWork(self._rt.engine) as uow:
            await uow.quotes.add(quote)
            await uow.commit()
        return quote

    async def price(self, request: QuoteRequest, quote_id: str, used_by: str = "") -> Quote:
        """The merchant's quote for ``request`` at the provider's current rate (not stored);
        ``used_by`` names the conversion that owns it from the start."""
        terms = check_quote_request(request)
        tried = await self._caller.run(
            "get_rate",
            lambda p: p.get_rate(
                terms.buy_currency, terms.sell_currency, terms.fixed_side, terms.amount_minor
            ),
        )
        meta = {"buy_currency": terms.buy_currency, "sell_currency": terms.sell_currency}
        if tried.step is FxStep.REFUSED and tried.error is not None:
            violations = provider_violations(tried.error, rename=RATE_FIELDS)
            raise refused("quote request", tried.error, violations)
        if tried.step is not FxStep.DONE or tried.value is None:
            raise unavailable("quote a rate", tried.reason, meta)
        quote = self._quote(tried.value, request, quote_id)
        return replace(quote, used_by=used_by) if used_by else quote

    def _quote(self, rate: RateQuote, request: QuoteRequest, quote_id: str) -> Quote:
        try:
            return price_rate(rate, request, quote_id, self._rt.clock(), self.policy)
        except ValueError as exc:
            # The provider answered another question than the one asked: its contract broke.
            _log.error("fx provider rate does not answer the request: %s", exc)
            meta = {"buy_currency": request.buy_currency, "sell_currency": request.sell_currency}
            raise unavailable("quote a rate", "its answer did not match the request", meta) from exc

    async def get(self, merchant_id: str, quote_id: str) -> Quote:
        """The merchant's stored quote; QuoteNotFound otherwise (another merchant's too)."""
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            quote = await uow.quotes.get(merchant_id, quote_id)
        if quote is None:
            raise QuoteNotFound(f"quote {quote_id} not found", metadata={"quote_id": quote_id})
        return quote
