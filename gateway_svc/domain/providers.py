"""What the gateway and a payment provider say to each other, in the gateway's own terms.

Every adapter (``gateway_svc.adapters.providers.*``) translates one provider's wire protocol
into these types and back, so routing, failover, the state machine and the reconciler never
see a provider's JSON. Pure data: no I/O, no provider names in logic.

The taxonomy that failover depends on is ``ErrorKind``:

- ``DECLINED``: the provider answered and refused the card or wallet (a hard decline). Final:
  never retried, never failed over, the payment becomes FAILED with a ``DeclineCode``.
- ``RETRIABLE``: the provider answered that it could not do the work now (5xx, 429, an
  explicit "retry" signal) or the request never left (connect refused, TLS failure). Safe to
  retry with the same idempotency key, and safe to fail over to the next provider.
- ``UNKNOWN``: the request was sent and no answer came (read timeout, reset after sending).
  The provider may have charged. Never failed over; the attempt is reconciled by asking the
  provider (``PaymentProvider.lookup``).
- ``INVALID``: the provider rejected the request itself (400 shape error, bad credentials,
  unsupported currency). Our configuration or input is wrong; retrying cannot help, but
  another provider may accept it, so routing fails over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Provider(StrEnum):
    """The card and wallet providers the gateway speaks to (values are API and config names)."""

    STRIPE = "stripe"
    AUTHORIZENET = "authorizenet"
    RAZORPAY = "razorpay"
    PAYPAL = "paypal"


class ErrorKind(StrEnum):
    """How a failed provider call may be handled; see the module docstring."""

    DECLINED = "declined"
    RETRIABLE = "retriable"
    UNKNOWN = "unknown"
    INVALID = "invalid"


class DeclineCode(StrEnum):
    """The normalized decline and error codes merchants see, whatever the provider said.

    Each adapter maps its provider's codes onto these in one table; the provider's own code is
    kept beside it (``Decline.raw_code``).
    """

    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_NUMBER = "incorrect_number"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    FRAUD_SUSPECTED = "fraud_suspected"
    PROCESSING_ERROR = "processing_error"
    AUTHENTICATION_REQUIRED = "authentication_required"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    AMOUNT_INVALID = "amount_invalid"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    RATE_LIMITED = "rate_limited"
    PROVIDER_REJECTED = "provider_rejected"
    """The provider refused the request itself (shape, credentials, configuration)."""
    UNKNOWN_OUTCOME = "unknown_outcome"


class ChargeStatus(StrEnum):
    """Where a provider-side payment stands, as the provider reports it."""

    REQUIRES_ACTION = "requires_action"
    """The payer must authenticate (3DS) before the authorization completes."""
    AUTHORIZED = "authorized"
    """Funds are held; a capture (up to the authorized amount) or a void may follow."""
    CAPTURED = "captured"
    """Some or all of the authorized amount was captured (``captured_minor`` says how much)."""
    CANCELED = "canceled"
    """The authorization was voided; nothing was captured."""
    DECLINED = "declined"
    """The provider refused; ``ProviderCharge.decline`` says why."""
    PENDING = "pending"
    """The provider accepted the request but has not decided yet (asynchronous methods)."""


class RefundStatus(StrEnum):
    """A refund as the provider reports it."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Decline:
    """Why a provider refused, normalized, with the provider's own words kept."""

    code: DeclineCode
    message: str
    """A short explanation safe to show a merchant (no card data, no credentials)."""
    raw_code: str
    """The provider's own code, for example Stripe's ``insufficient_funds`` or
    Authorize.net's response reason code ``"2"``; empty if the provider gave none."""


@dataclass(frozen=True, slots=True, repr=False)
class Card:
    """Raw card details, accepted only for sandbox-mode providers. Never stored or logged.

    ``repr`` shows the brand-free last four only, so an accidental log line leaks nothing.
    """

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @property
    def last4(self) -> str:
        """The last four digits: all of the number a payment may keep."""
        return self.number[-4:]

    def __repr__(self) -> str:
        return f"Card(last4={self.last4!r}, exp={self.exp_month:02d}/{self.exp_year})"


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """What pays: a provider token (``pm_card_visa``, a PayPal vault id ...) or, in sandbox
    mode only, a test card. Exactly one of the two is set."""

    token: str | None = None
    card: Card | None = None


@dataclass(frozen=True, slots=True)
class AuthorizeCall:
    """One authorization attempt, as the gateway asks a provider for it."""

    attempt_id: str
    """Our attempt id; the provider's idempotency key and reference derive from it."""
    idempotency_key: str
    """Sent as the provider's idempotency header (Stripe ``Idempotency-Key``, PayPal
    ``PayPal-Request-Id``); for providers without one it becomes the request reference."""
    amount_minor: int
    currency: str
    """ISO 4217, upper case; the adapter converts to the provider's convention."""
    method: PaymentMethod
    capture: bool
    """True to capture at once (automatic capture), False to authorize only."""
    description: str = ""
    reference: str = ""
    """The merchant's reference, passed where the provider has a field for it."""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderCharge:
    """A provider-side payment after a call, normalized."""

    provider_ref: str
    """The provider's id for the payment (``pi_...``, a transId, ``pay_...``, an order id);
    every later call (capture, void, refund, lookup) names it."""
    status: ChargeStatus
    authorized_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    decline: Decline | None = None
    action_url: str = ""
    """For REQUIRES_ACTION: where the payer authenticates."""
    fee_minor: int | None = None
    """The provider's fee for this payment, when the provider reports it."""
    raw_status: str = ""
    """The provider's own status word, kept for support and audit."""
    refs: dict[str, str] = field(default_factory=dict)
    """Extra provider ids a later call needs (PayPal's authorization or capture id,
    Razorpay's order id, Authorize.net's card last four ...)."""


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    """A provider-side refund after a call, normalized."""

    provider_ref: str
    status: RefundStatus
    amount_minor: int
    decline: Decline | None = None
    raw_status: str = ""


class ProviderError(Exception):
    """A provider call that did not produce a charge or refund; ``kind`` drives failover.

    A card decline is not raised: it comes back as a ``ProviderCharge`` with status DECLINED.
    This is for everything else: transport failures, 4xx/5xx, throttling.
    """

    def __init__(
        self,
        kind: ErrorKind,
        code: DeclineCode,
        message: str,
        *,
        raw_code: str = "",
        http_status: int | None = None,
        retry_after_s: float | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.raw_code = raw_code
        self.http_status = http_status
        self.retry_after_s = retry_after_s
        self.sent = sent
        """False when the request provably never reached the provider (connect refused)."""

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.kind.value}, {self.code.value}, {self.message!r},"
            f" raw_code={self.raw_code!r}, http_status={self.http_status})"
        )
