"""What the entrypoint hands the payment use cases, and what it gets back. Plain values only.

The entrypoint converts protobuf into these and back; nothing here knows gRPC. Mutations
return an ``Answer``: the response to send (a gRPC status code and the serialized message or
``google.rpc.Status``, produced by the entrypoint's own ``render`` callback and stored with
the idempotency key), so a first execution, a resumed one and a replay all answer the same
bytes.

``request_id`` (the AIP-155 idempotency key; REST's ``Idempotency-Key`` header):

- CreatePayment requires one: a payment without a key could be charged twice by any client
  retry, so a missing key is VALIDATION_FAILED (the IETF draft's 400).
- CapturePayment, CancelPayment and CreateRefund accept an empty one and then generate a key
  for this call alone: the call still runs in recovery-point phases (a crash mid-call is
  settled by the reconciler), but a client retry is a new request. Capture and cancel are
  still safe to repeat (the payment's state refuses a second one); a second refund is not,
  so clients should always send a request_id with a refund.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from gateway_svc.domain.attempts import Attempt
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.payments import CaptureMethod, Payment, PaymentStatus
from gateway_svc.domain.providers import PaymentMethod, Provider
from gateway_svc.domain.refunds import Refund

T = TypeVar("T")


@dataclass(frozen=True)
class CreatePayment:
    """CreatePayment, in gateway terms."""

    merchant_id: str
    actor_key_id: str
    """The API key that called (the edge principal's key id): the audit record's actor."""
    amount_minor: int
    currency: str
    method: PaymentMethod
    request_id: str
    capture_method: CaptureMethod | None = CaptureMethod.AUTOMATIC
    """None when the caller sent a value the entrypoint does not know (VALIDATION_FAILED)."""
    preferred_provider: Provider | None = None
    merchant_reference: str = ""
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CapturePayment:
    """CapturePayment: all that was authorized (``amount_minor`` None) or part of it."""

    merchant_id: str
    actor_key_id: str
    payment_id: str
    amount_minor: int | None = None
    request_id: str = ""


@dataclass(frozen=True)
class CancelPayment:
    """CancelPayment: void an authorization that was not captured."""

    merchant_id: str
    actor_key_id: str
    payment_id: str
    request_id: str = ""


@dataclass(frozen=True)
class CreateRefund:
    """CreateRefund: ``amount_minor`` None refunds everything still refundable."""

    merchant_id: str
    actor_key_id: str
    payment_id: str
    amount_minor: int | None = None
    reason: str = ""
    request_id: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListPayments:
    """ListPayments: filters (empty matches all), page size (0: 50, at most 100), token."""

    merchant_id: str
    statuses: frozenset[PaymentStatus] = frozenset()
    provider: Provider | None = None
    created_after: datetime | None = None
    """Inclusive."""
    created_before: datetime | None = None
    """Exclusive."""
    merchant_reference: str = ""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class PaymentView:
    """A payment with its attempts, in the order they were made: what GetPayment shows."""

    payment: Payment
    attempts: tuple[Attempt, ...] = ()


RenderPayment = Callable[[PaymentView | GatewayError], StoredResponse]
"""The entrypoint's serializer for CreatePayment, CapturePayment and CancelPayment: a
PaymentView becomes (0, the response message's bytes), a GatewayError (its gRPC code, the
serialized google.rpc.Status). Called once per request that executes; the result is stored."""

RenderRefund = Callable[[Refund | GatewayError], StoredResponse]
"""The same for CreateRefund."""


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What a keyed mutation answers.

    ``response`` is always set: send it as is (status code 0: parse the body as the response
    message; else abort with the stored status). ``result`` is the live value when this call
    executed the request and it succeeded (None on a replay, or when the response is an
    error), for callers that want more than the bytes (tests, logs).
    """

    response: StoredResponse
    replayed: bool = False
    result: T | None = None
    error: GatewayError | None = None
