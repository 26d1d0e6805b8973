"""The interfaces the gateway's use cases need from the outside world.

Adapters implement them; the service layer and its tests depend only on these. The ledger
and audit ports are shaped after the gateway's own clients, so ``LedgerClient`` and
``AuditClient`` satisfy them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

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

    async def post(
        self, transaction_id: str, *, request_id: str, amount_minor: int | None = None
    ) -> None:
        """Post a hold, in full or ``amount_minor`` of it (the rest is released)."""
        ...

    async def void(self, transaction_id: str, *, request_id: str) -> None:
        """Void a hold."""
        ...


class AuditPort(Protocol):
    """Identity's audit log (``adapters.audit_client.AuditClient``): appends events in order,
    all or none, idempotently by ``event_id``; failures raise the same two errors as the
    ledger's."""

    async def record(self, events: Sequence[AuditEvent]) -> object:
        """Append ``events``."""
        ...
