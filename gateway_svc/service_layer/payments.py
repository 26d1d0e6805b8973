"""The payment use cases, one object for the entrypoint: ``PaymentService``.

Mutations (create, capture, cancel, refund) run in keyed atomic phases with recovery points
(see ``create_flow``, ``mutate_flow``, ``refund_flow``) and answer an ``Answer`` carrying the
stored response; reads answer domain values. Errors raised (rather than answered) are the
refusals that store nothing: validation, IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_KEY_IN_USE,
PAYMENT_NOT_FOUND, the illegal transitions, CONCURRENT_MODIFICATION and, for capture and
cancel, PROVIDER_UNAVAILABLE.

Guarantees:

- one execution per (merchant, request_id): concurrent duplicates are refused while the
  first runs, later ones replay its stored response byte for byte;
- one provider charge per payment, even when the gateway dies mid-call and the request is
  retried (the resumed request asks the provider before sending anything again);
- one mutation of a payment at a time (the payment lease), so two captures never both reach
  the provider;
- every money movement reaches the outbox in the transaction that records it, with a
  deterministic ledger request id, so the ledger sees it exactly once.
"""

from __future__ import annotations

from gateway_svc.domain.refunds import Refund
from svc_kit.pagination import Page

from .commands import (
    Answer,
    CancelPayment,
    CapturePayment,
    CreatePayment,
    CreateRefund,
    ListPayments,
    PaymentView,
    RenderPayment,
    RenderRefund,
)
from .create_flow import CreatePaymentFlow
from .executor import Executor
from .mutate_flow import MutationFlow
from .queries import Queries
from .refund_flow import RefundFlow
from .runtime import GatewayRuntime


class PaymentService:
    """Every payment use case; build one per process from a ``GatewayRuntime``."""

    def __init__(self, rt: GatewayRuntime) -> None:
        self.runtime = rt
        self.executor = Executor(rt)
        self.creating = CreatePaymentFlow(rt, self.executor)
        self.mutating = MutationFlow(rt, self.executor)
        self.refunding = RefundFlow(rt, self.executor)
        self.queries = Queries(rt)

    async def create_payment(
        self, cmd: CreatePayment, render: RenderPayment
    ) -> Answer[PaymentView]:
        """Create and authorize (and with AUTOMATIC capture, capture) a payment.

        Raises ValidationFailed (also a missing request_id), TestCardNotAllowed,
        IdempotencyKeyReused, IdempotencyKeyInUse, ProviderNotEligible, NoRoute /
        NoProviderAvailable (nothing stored). Answers the payment (any status, FAILED with a
        decline included) or the stored NO_PROVIDER_AVAILABLE error.
        """
        return await self.creating(cmd, render)

    async def capture_payment(
        self, cmd: CapturePayment, render: RenderPayment
    ) -> Answer[PaymentView]:
        """Capture an AUTHORIZED payment, in full or in part.

        Raises ValidationFailed, PaymentNotFound, PaymentNotCapturable,
        PaymentAlreadyCaptured, CaptureExceedsAuthorized, PaymentOutcomeUnknown,
        IdempotencyKeyReused, IdempotencyKeyInUse, ConcurrentModification,
        ProviderUnavailable.
        """
        return await self.mutating.capture(cmd, render)

    async def cancel_payment(
        self, cmd: CancelPayment, render: RenderPayment
    ) -> Answer[PaymentView]:
        """Void an authorization that was not captured.

        Raises PaymentNotFound, PaymentNotCancelable, PaymentOutcomeUnknown,
        IdempotencyKeyReused, IdempotencyKeyInUse, ConcurrentModification,
        ProviderUnavailable.
        """
        return await self.mutating.cancel(cmd, render)

    async def create_refund(self, cmd: CreateRefund, render: RenderRefund) -> Answer[Refund]:
        """Refund part or all of a captured payment.

        Raises ValidationFailed, PaymentNotFound, PaymentNotRefundable, PaymentOutcomeUnknown,
        RefundExceedsCaptured, IdempotencyKeyReused, IdempotencyKeyInUse,
        ConcurrentModification. Answers the refund: SUCCEEDED, FAILED (with its decline) or
        PENDING (the reconciler settles it).
        """
        return await self.refunding(cmd, render)

    async def get_payment(self, merchant_id: str, payment_id: str) -> PaymentView:
        """The merchant's payment and its attempts; raises PaymentNotFound."""
        return await self.queries.get_payment(merchant_id, payment_id)

    async def list_payments(self, query: ListPayments) -> Page[PaymentView]:
        """A page of the merchant's payments, newest first; raises ValidationFailed,
        InvalidPageToken."""
        return await self.queries.list_payments(query)

    async def list_refunds(
        self, merchant_id: str, payment_id: str, page_size: int = 0, page_token: str = ""
    ) -> Page[Refund]:
        """A page of a payment's refunds, oldest first; raises PaymentNotFound,
        InvalidPageToken."""
        return await self.queries.list_refunds(merchant_id, payment_id, page_size, page_token)
