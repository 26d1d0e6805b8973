"""The Conversion aggregate: one merchant's currency exchange at a locked quote, and its life.

    PENDING --> AWAITING_FUNDS --> FUNDS_ARRIVED --> COMPLETED
       |              |                 |
       +--------------+-----------------+--> FAILED

A conversion is created from a quote (``open_conversion``), either one the merchant fetched
(``CreateConversion`` with a quote id, redeemed with ``Quote.redeem``) or one the gateway
priced on the spot for explicit terms; either way its amounts are the quote's, locked. It is
PENDING while the ledger holds the sold amount and the provider has not confirmed the trade.
The provider's statuses then move it, through ``PROVIDER_STATES``, the one table:

================  =================  ====================================================
Currencycloud     ours               why
================  =================  ====================================================
awaiting_funds    AWAITING_FUNDS     booked at its rate; the sold currency is not yet taken
funds_sent        AWAITING_FUNDS     the sold currency is on its way, not yet arrived
funds_arrived     FUNDS_ARRIVED      the sold currency is in; delivery at settlement
trade_settled     COMPLETED          the bought currency is delivered: Currencycloud's
                                     final success, so there is no separate TRADE_SETTLED
closed            FAILED             closed out (cancelled) by the provider
================  =================  ====================================================

(The adapter turns Currencycloud's words into ``fx_provider.ConversionStatus``; this table
turns those into ours.) A refusal of the create itself also ends in FAILED (``fail``).

Views can arrive late or twice (a poller now, webhooks later): a view that repeats the status,
or is behind it, changes nothing; one that contradicts a final status raises
``ProviderViewConflict`` for a human. Every change is kept in ``history`` with its time.
What the ledger does on each change is ``fx_postings.plan_conversion_transition``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from . import errors
from . import fx_provider as fxp
from .fx import Quote
from .fx_provider import ConversionTerms, ConversionView, FixedSide

__all__ = [
    "BOOKED",
    "FINAL",
    "PROVIDER_STATES",
    "Conversion",
    "ConversionState",
    "ConversionTransition",
    "open_conversion",
]


class ConversionState(StrEnum):
    """Where a conversion stands; see the module docstring."""

    PENDING = "pending"
    AWAITING_FUNDS = "awaiting_funds"
    FUNDS_ARRIVED = "funds_arrived"
    COMPLETED = "completed"
    FAILED = "failed"


C = ConversionState
PROVIDER_STATES: Final[dict[fxp.ConversionStatus, ConversionState]] = {
    fxp.ConversionStatus.AWAITING_FUNDS: C.AWAITING_FUNDS,
    fxp.ConversionStatus.FUNDS_SENT: C.AWAITING_FUNDS,
    fxp.ConversionStatus.FUNDS_ARRIVED: C.FUNDS_ARRIVED,
    fxp.ConversionStatus.TRADE_SETTLED: C.COMPLETED,
    fxp.ConversionStatus.CLOSED: C.FAILED,
}
FINAL: Final = frozenset({C.COMPLETED, C.FAILED})
BOOKED: Final = frozenset({C.AWAITING_FUNDS, C.FUNDS_ARRIVED, C.COMPLETED})
"""The provider confirmed the trade: the ledger's hold is posted."""
_RANK: Final = {C.PENDING: 0, C.AWAITING_FUNDS: 1, C.FUNDS_ARRIVED: 2, C.COMPLETED: 3, C.FAILED: 3}


@dataclass(frozen=True, slots=True)
class ConversionTransition:
    """One change of status, when it happened and why (``from_status`` None: created)."""

    from_status: ConversionState | None
    to_status: ConversionState
    at: datetime
    reason: str = ""
    """The provider's raw status, or why it failed."""


@dataclass
class Conversion:
    """One conversion at a locked quote. Amounts are the quote's and never change; what the
    provider reports is kept beside them (``provider_*``) for reconciliation."""

    id: str
    merchant_id: str
    quote_id: str
    buy_currency: str
    sell_currency: str
    fixed_side: FixedSide
    buy_amount_minor: int
    sell_amount_minor: int
    client_rate: str
    mid_market_rate: str
    currency_pair: str
    created_at: datetime
    updated_at: datetime
    status: ConversionState = ConversionState.PENDING
    provider_ref: str = ""
    provider_buy_amount_minor: int | None = None
    provider_sell_amount_minor: int | None = None
    failure_reason: str = ""
    history: list[ConversionTransition] = field(default_factory=list)
    version: int = 0

    @property
    def is_final(self) -> bool:
        """True once COMPLETED or FAILED."""
        return self.status in FINAL

    @property
    def amount_minor(self) -> int:
        """The fixed side's amount."""
        return self.buy_amount_minor if self.fixed_side is FixedSide.BUY else self.sell_amount_minor

    def terms(self) -> ConversionTerms:
        """What the provider is asked to convert."""
        return ConversionTerms(
            self.buy_currency, self.sell_currency, self.fixed_side, self.amount_minor
        )

    @property
    def was_booked(self) -> bool:
        """True once the provider confirmed the trade (the ledger's hold was posted)."""
        return any(t.to_status in BOOKED for t in self.history)

    def error_metadata(self) -> dict[str, str]:
        """What an ErrorInfo about this conversion carries."""
        return {"conversion_id": self.id, "status": self.status.value}

    def fail(self, reason: str, now: datetime) -> list[ConversionTransition]:
        """The provider refused to book it (or it cannot be booked): PENDING -> FAILED."""
        if self.status is not C.PENDING:
            raise errors.ProviderViewConflict(
                f"conversion {self.id} is {self.status.value}: it cannot fail before booking",
                metadata=self.error_metadata(),
            )
        self.failure_reason = reason
        return self._enter(C.FAILED, now, reason)

    def apply_provider_view(
        self, view: ConversionView, now: datetime
    ) -> list[ConversionTransition]:
        """Follow the provider's view; returns the transitions made (none for a repeat or a
        stale view)."""
        self._check_view(view)
        if not self.provider_ref:
            self.provider_ref = view.provider_ref
        self.provider_buy_amount_minor = view.buy_amount_minor
        self.provider_sell_amount_minor = view.sell_amount_minor
        target = PROVIDER_STATES[view.status]
        if target is self.status:
            return []
        # A view behind the status is a late poll, except a booked trade for a conversion we
        # failed before the provider ever booked it: then money may have moved unseen.
        stale = _RANK[target] < _RANK[self.status]
        if stale and self.was_booked:
            return []
        if self.is_final:
            raise errors.ProviderViewConflict(
                f"conversion {self.id} is {self.status.value}; the provider says {view.raw_status}",
                metadata={**self.error_metadata(), "provider_status": view.raw_status},
            )
        if target is C.FAILED:
            self.failure_reason = f"closed by the provider ({view.raw_status})"
        return self._enter(target, now, view.raw_status)

    def _check_view(self, view: ConversionView) -> None:
        fixed = (
            view.buy_amount_minor if self.fixed_side is FixedSide.BUY else view.sell_amount_minor
        )
        ours = (self.buy_currency, self.sell_currency, self.fixed_side, self.amount_minor)
        theirs = (view.buy_currency, view.sell_currency, view.fixed_side, fixed)
        other_ref = bool(self.provider_ref) and view.provider_ref != self.provider_ref
        if ours != theirs or other_ref:
            raise errors.ProviderViewConflict(
                f"conversion {self.id}: the provider's {view.provider_ref} has other terms",
                metadata={**self.error_metadata(), "provider_ref": view.provider_ref},
            )

    def _enter(
        self, target: ConversionState, now: datetime, reason: str
    ) -> list[ConversionTransition]:
        change = ConversionTransition(self.status, target, now, reason)
        self.status = target
        self.updated_at = now
        self.history.append(change)
        self.version += 1
        return [change]


def open_conversion(conversion_id: str, quote: Quote, now: datetime) -> Conversion:
    """A PENDING conversion at ``quote``'s locked amounts (redeem a merchant's quote first)."""
    created = ConversionTransition(None, C.PENDING, now, "created")
    return Conversion(
        id=conversion_id,
        merchant_id=quote.merchant_id,
        quote_id=quote.id,
        buy_currency=quote.buy_currency,
        sell_currency=quote.sell_currency,
        fixed_side=quote.fixed_side,
        buy_amount_minor=quote.buy_amount_minor,
        sell_amount_minor=quote.sell_amount_minor,
        client_rate=quote.client_rate,
        mid_market_rate=quote.mid_market_rate,
        currency_pair=quote.currency_pair,
        created_at=now,
        updated_at=now,
        history=[created],
    )
