"""What the entrypoint hands the FX, beneficiary and payout use cases, and what it gets back.

Plain values only, as for payments (``commands``): the servicer converts protobuf into these
and back. Where the domain already has the request's value it is used as is
(``fx.QuoteRequest`` for GetQuote, ``beneficiaries.NewBeneficiary`` for
ValidateBeneficiary, ``payouts.NewPayout`` inside CreatePayout).

Keyed mutations (CreateConversion, CreateBeneficiary, CreatePayout) require a ``request_id``
(AIP-155; REST's ``Idempotency-Key``): each moves money or registers a payee at the
provider, and a client retry without a key could do it twice. They answer an ``Answer``
(``commands.Answer``) whose stored response the entrypoint's ``render`` made, so a first
execution, a resumed one and a replay answer the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateway_svc.domain.beneficiaries import Beneficiary, NewBeneficiary
from gateway_svc.domain.conversions import Conversion, ConversionState
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.fx import QuoteRequest
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.payouts import NewPayout, Payout, PayoutState


@dataclass(frozen=True)
class CreateConversion:
    """CreateConversion: from a quote the merchant fetched (``quote_id``), or from explicit
    terms (the four term fields), which are priced on the spot. Exactly one of the two."""

    merchant_id: str
    actor_key_id: str
    """The API key that called: the audit record's actor."""
    request_id: str
    quote_id: str = ""
    buy_currency: str = ""
    sell_currency: str = ""
    fixed_side: FixedSide | None = None
    """None when not given, or when the caller sent a value the entrypoint does not know."""
    amount_minor: int = 0

    @property
    def has_terms(self) -> bool:
        """True when any explicit term was given."""
        given = (self.buy_currency, self.sell_currency, self.fixed_side, self.amount_minor)
        return any(given)

    def quote_request(self) -> QuoteRequest:
        """The explicit terms as the domain's request value."""
        return QuoteRequest(
            self.merchant_id,
            self.buy_currency,
            self.sell_currency,
            self.fixed_side,
            self.amount_minor,
        )


@dataclass(frozen=True)
class ListConversions:
    """ListConversions: statuses (empty matches all), created from ``created_after``
    (inclusive) to ``created_before`` (exclusive), page size (0: 50, at most 100)."""

    merchant_id: str
    statuses: frozenset[ConversionState] = frozenset()
    created_after: datetime | None = None
    created_before: datetime | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class CreateBeneficiary:
    """CreateBeneficiary: ``beneficiary.merchant_id`` is the caller's merchant."""

    actor_key_id: str
    request_id: str
    beneficiary: NewBeneficiary


@dataclass(frozen=True)
class DeleteBeneficiary:
    """DeleteBeneficiary: soft deletion here, deletion at the provider."""

    merchant_id: str
    actor_key_id: str
    beneficiary_id: str


@dataclass(frozen=True)
class ListBeneficiaries:
    """ListBeneficiaries: live beneficiaries, optionally of one currency."""

    merchant_id: str
    currency: str = ""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class CreatePayout:
    """CreatePayout: ``payout.merchant_id`` is the caller's merchant."""

    actor_key_id: str
    request_id: str
    payout: NewPayout


@dataclass(frozen=True)
class CancelPayout:
    """CancelPayout: while the provider has not sent it to the bank network. Keyed like the
    creates (``request_id`` optional: without one, this call alone)."""

    merchant_id: str
    actor_key_id: str
    payout_id: str
    request_id: str = ""


@dataclass(frozen=True)
class ListPayouts:
    """ListPayouts: statuses (empty: all), one beneficiary's ('': all, deleted ones
    included), the creation period as ListConversions, page size."""

    merchant_id: str
    statuses: frozenset[PayoutState] = frozenset()
    beneficiary_id: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True, slots=True)
class BeneficiaryCheck:
    """What ValidateBeneficiary answers: the details as they would be stored (normalized,
    unsaved: ``id`` and ``provider_ref`` empty) and the bank the provider recognised."""

    beneficiary: Beneficiary
    bank_name: str = ""


@dataclass(frozen=True, slots=True)
class CurrencyBalance:
    """A merchant's balance in one currency, from its payable account in the ledger, in
    minor units: ``posted_minor`` settled, ``available_minor`` what a payout or conversion
    may take now (posted minus held), ``pending_minor`` posted plus every pending entry."""

    currency: str
    posted_minor: int
    available_minor: int
    pending_minor: int


RenderConversion = Callable[[Conversion | GatewayError], StoredResponse]
"""The entrypoint's serializer for CreateConversion: a Conversion becomes (0, the message's
bytes), a GatewayError its gRPC code and serialized ``google.rpc.Status``. Called once per
request that executes; the result is stored with the key."""

RenderBeneficiary = Callable[[Beneficiary | GatewayError], StoredResponse]
"""The same for CreateBeneficiary."""

RenderPayout = Callable[[Payout | GatewayError], StoredResponse]
"""The same for CreatePayout."""
