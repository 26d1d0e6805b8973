"""The interfaces the gateway's use cases need from the outside world.

Adapters implement them; the service layer and its tests depend only on these. The ledger
and audit ports are shaped after the gateway's own clients, so ``LedgerClient`` and
``AuditClient`` satisfy them as they are; ``FxProvider`` is shaped after
``CurrencycloudClient``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from gateway_svc.domain.fx_provider import (
    BeneficiaryDetails,
    BeneficiaryView,
    ConversionTerms,
    ConversionView,
    FixedSide,
    PayoutRequest,
    PayoutView,
    RateQuote,
)
from gateway_svc.domain.ledger_accounts import AccountSpec
from gateway_svc.domain.providers import (
    AuthorizeCall,
    Provider,
    ProviderCharge,
    ProviderRefund,
)

if TYPE_CHECKING:
    # Only the type: the event is a plain dataclass, but its module talks gRPC.
    from gateway_svc.adapters.audit_client import AuditEvent
    from gateway_svc.adapters.internal_rpc import UpstreamError
    from gateway_svc.adapters.ledger_client import NewTransaction


class PaymentProvider(Protocol):
    """One card or wallet provider, spoken over its real wire protocol.

    Contract for every method:

    - It returns the provider's normalized view (a card decline is a ``ProviderCharge`` with
      status DECLINED, not an exception).
    - Anything else raises ``gateway_svc.domain.providers.ProviderError`` whose ``kind`` says
      whether a retry or a failover is safe. A transport exception never escapes.
    - ``idempotency_key`` is sent as the provider's idempotency header (or the nearest
      equivalent the provider has); the same key always means the same operation, so the
      caller may repeat a call with the same key after any RETRIABLE or UNKNOWN error.
    - Nothing retries inside the adapter: retries, backoff and the circuit breaker belong to
      the caller, which sees every attempt.
    """

    @property
    def name(self) -> Provider:
        """Which provider this is."""
        ...

    @property
    def sandbox(self) -> bool:
        """True when pointed at a test environment: only then may raw test cards be sent."""
        ...

    async def authorize(self, call: AuthorizeCall) -> ProviderCharge:
        """Create and confirm a payment: authorize only, or authorize and capture at once."""
        ...

    async def capture(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderCharge:
        """Capture ``amount_minor`` (at most the authorized amount) of an authorization."""
        ...

    async def cancel(self, charge: ProviderCharge, idempotency_key: str) -> ProviderCharge:
        """Void an authorization that has not been captured."""
        ...

    async def refund(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderRefund:
        """Refund ``amount_minor`` of a captured payment; several partial refunds may follow."""
        ...

    async def lookup(self, call: AuthorizeCall) -> ProviderCharge | None:
        """Ask the provider what became of an authorization whose reply never arrived.

        Finds the payment by what ``authorize`` sent (the idempotency key or the reference
        derived from ``call.attempt_id``) without creating anything. Returns None when the
        provider has no such payment, which proves the request never took effect.
        """
        ...

    async def fetch(self, charge: ProviderCharge) -> ProviderCharge:
        """The current state of a known payment (for the reconciler and for webhooks)."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...


class LedgerPort(Protocol):
    """The ledger, as the outbox relay posts to it (``adapters.ledger_client.LedgerClient``).

    Every write carries a deterministic ``request_id``; the ledger answers a repeat with the
    first result, so the relay may repeat any call after a failure. Failures raise
    ``adapters.internal_rpc.UpstreamUnavailable`` (retry later, unchanged) or
    ``UpstreamRefused`` (the ledger said no; ``reason`` says why).
    """

    async def ensure_accounts(self, chart: Iterable[AccountSpec]) -> Mapping[str, str]:
        """Open the accounts that do not exist yet; account id by code."""
        ...

    async def create_transaction(
        self,
        entries: Sequence[tuple[str, str, int, str]],
        *,
        request_id: str,
        pending: bool = False,
        pending_timeout_s: float | None = None,
        external_ref: str = "",
        metadata: Mapping[str, str] | None = None,
        description: str = "",
    ) -> str:
        """Record one balanced transaction (a hold when ``pending``); its ledger id.

        ``entries`` are ``(account_code, "DEBIT" | "CREDIT", amount_minor, currency)``."""
        ...

    async def create_transactions(
        self, items: Sequence[NewTransaction]
    ) -> Sequence[str | UpstreamError]:
        """Many ``create_transaction`` calls in one, each item on its own: per item, in
        order, its ledger id or the error it alone failed with."""
        ...

    async def post(
        self, transaction_id: str, *, request_id: str, amount_minor: int | None = None
    ) -> None:
        """Post a hold, in full or ``amount_minor`` of it (the rest is released)."""
        ...

    async def void(self, transaction_id: str, *, request_id: str) -> None:
        """Void a hold."""
        ...

    async def reverse(self, transaction_id: str, *, request_id: str) -> str:
        """Reverse a posted transaction with a mirror-image posted one; the reversal's id.
        (A conversion the provider closed after booking: ``fx_postings``.)"""
        ...


class BalanceView(Protocol):
    """An account's balances as the ledger reports them (``ledger_client.LedgerBalance``),
    signed by the account's normal side, in minor units of ``currency``."""

    @property
    def currency(self) -> str: ...
    @property
    def posted_minor(self) -> int: ...
    @property
    def pending_minor(self) -> int:
        """Posted plus every pending entry."""
        ...

    @property
    def available_minor(self) -> int:
        """Posted minus pending entries against the normal side: what can be spent now."""
        ...


class FxLedgerPort(LedgerPort, Protocol):
    """The ledger as the FX, payout and balance use cases need it: everything the relay
    uses, plus a balance read (``GetBalances``)."""

    async def get_balance(self, account_id: str) -> BalanceView:
        """The account's current balances."""
        ...


class FxProvider(Protocol):
    """The FX and payout provider (``adapters.providers.currencycloud.CurrencycloudClient``).

    Contract: every method answers the provider's normalized view or raises
    ``ProviderError`` (``ProviderValidationError`` with field violations for a refused
    request, ``ProviderNotFound`` for an unknown id), whose ``kind`` says whether a repeat is
    safe. Every create is idempotent under ``request_id`` (the provider's own request id is
    derived from it), so the caller may repeat a create after any RETRIABLE or UNKNOWN error;
    ``find_*`` read what a create under ``request_id`` made and never create anything.
    """

    async def get_rate(
        self, buy_currency: str, sell_currency: str, fixed_side: FixedSide, amount_minor: int
    ) -> RateQuote:
        """A priced rate for ``amount_minor`` of the fixed side (nothing is booked)."""
        ...

    async def create_conversion(self, terms: ConversionTerms, request_id: str) -> ConversionView:
        """Book a conversion."""
        ...

    async def get_conversion(self, conversion_id: str) -> ConversionView:
        """A conversion by the provider's id."""
        ...

    async def find_conversion(self, request_id: str) -> ConversionView | None:
        """The conversion ``create_conversion(..., request_id)`` made, or None."""
        ...

    async def validate_beneficiary(self, details: BeneficiaryDetails) -> BeneficiaryView:
        """The provider's verdict on bank details; nothing is saved."""
        ...

    async def create_beneficiary(
        self, details: BeneficiaryDetails, request_id: str
    ) -> BeneficiaryView:
        """Register a beneficiary."""
        ...

    async def find_beneficiary(self, request_id: str) -> BeneficiaryView | None:
        """The beneficiary ``create_beneficiary(..., request_id)`` registered, or None."""
        ...

    async def delete_beneficiary(self, beneficiary_id: str) -> BeneficiaryView:
        """Delete a beneficiary by the provider's id."""
        ...

    async def create_payment(self, payout: PayoutRequest, request_id: str) -> PayoutView:
        """Send a payout."""
        ...

    async def get_payment(self, payment_id: str) -> PayoutView:
        """A payout by the provider's id (canceled ones included)."""
        ...

    async def find_payment(self, request_id: str) -> PayoutView | None:
        """The payout ``create_payment(..., request_id)`` made, or None."""
        ...

    async def cancel_payment(self, payment_id: str) -> PayoutView:
        """Cancel a payout the provider has not sent yet; its final view."""
        ...

    async def aclose(self) -> None:
        """Close the session and the connection pool."""
        ...


class AuditPort(Protocol):
    """Identity's audit log (``adapters.audit_client.AuditClient``): appends events in order,
    all or none, idempotently by ``event_id``; failures raise the same two errors as the
    ledger's."""

    async def record(self, events: Sequence[AuditEvent]) -> object:
        """Append ``events``."""
        ...
