"""What happened to a payment or a refund, as the domain reports it to the service layer.

Transition methods return these instead of doing anything themselves: the service layer turns
them into ledger postings (a hold on authorization, a post of the captured part and a release
of the rest, a refund, a fee) and, later, into outgoing webhooks. Each event is emitted once per
change of state or amount, so replaying the same provider view emits nothing and the ledger
never sees a money movement twice.

``kind`` is the stable name a webhook will carry (``payment.captured``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from .providers import Decline, Provider


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """Base of every payment and refund event."""

    kind: ClassVar[str] = "payment.event"
    payment_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentRequiresAction(PaymentEvent):
    """The payer must authenticate (3DS) at ``action_url``."""

    kind: ClassVar[str] = "payment.requires_action"
    action_url: str


@dataclass(frozen=True, slots=True)
class PaymentAuthorized(PaymentEvent):
    """Funds are held at the provider: the ledger places a hold of ``amount_minor``."""

    kind: ClassVar[str] = "payment.authorized"
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class PaymentCaptured(PaymentEvent):
    """``amount_minor`` was captured; ``released_minor`` of the hold is let go (single capture)."""

    kind: ClassVar[str] = "payment.captured"
    amount_minor: int
    released_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class PaymentCanceled(PaymentEvent):
    """The authorization was voided; ``released_minor`` of the hold is let go (0 if none)."""

    kind: ClassVar[str] = "payment.canceled"
    released_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class PaymentFailed(PaymentEvent):
    """The payment ended without money moving; ``decline`` says why."""

    kind: ClassVar[str] = "payment.failed"
    decline: Decline


@dataclass(frozen=True, slots=True)
class PaymentUnknown(PaymentEvent):
    """A provider call's outcome is unknown; the reconciler must ask the provider."""

    kind: ClassVar[str] = "payment.unknown"


@dataclass(frozen=True, slots=True)
class ProviderFeeReported(PaymentEvent):
    """The provider reported (or changed) its fee for this payment."""

    kind: ClassVar[str] = "payment.fee_reported"
    provider: Provider
    fee_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class RefundSucceeded(PaymentEvent):
    """The provider returned ``amount_minor`` to the payer."""

    kind: ClassVar[str] = "refund.succeeded"
    refund_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class RefundFailed(PaymentEvent):
    """The refund did not happen; its amount is refundable again."""

    kind: ClassVar[str] = "refund.failed"
    refund_id: str
    amount_minor: int
    currency: str
    decline: Decline
