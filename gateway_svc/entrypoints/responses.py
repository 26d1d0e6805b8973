"""How a keyed mutation answers: render once, store the bytes, send the stored bytes.

The payment use cases call a ``render`` callback exactly once per executed request and store
what it returns with the idempotency key (``domain.idempotency.StoredResponse``):

- a result becomes ``(0, the response message's bytes)``;
- a ``GatewayError`` becomes ``(its code, the serialized google.rpc.Status)``, built by the
  same ``svc_kit.grpc_errors`` code the error interceptor uses (ErrorInfo, BadRequest).

``send`` then answers from the stored response, for a first execution and a replay alike:
code 0 parses the body as the response; any other code aborts with the stored status, whose
``grpc-status-details-bin`` trailer is the stored bytes themselves, so a replayed error is
byte-identical to the first one (Stripe's "the first response is the answer").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2

from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.refunds import Refund
from gateway_svc.service_layer.commands import Answer, PaymentView, RenderPayment
from paymesh.gateway.v1 import payments_pb2 as pb

from . import views
from .errors import stored_error
from .metadata import Ctx

M = TypeVar("M", bound=Message)

OK = grpc.StatusCode.OK.value[0]
STATUS_DETAILS_KEY = "grpc-status-details-bin"
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _serialized(message: Message) -> bytes:
    # Deterministic: a payment's metadata is a map, and one result must have one encoding.
    return message.SerializeToString(deterministic=True)


def payment_renderer(wrap: Callable[[pb.Payment], Message]) -> RenderPayment:
    """The render callback of a payment mutation; ``wrap`` builds its response message."""

    def render(result: PaymentView | GatewayError) -> StoredResponse:
        if isinstance(result, GatewayError):
            return stored_error(result)
        return StoredResponse(OK, _serialized(wrap(views.payment(result))))

    return render


def render_refund(result: Refund | GatewayError) -> StoredResponse:
    """CreateRefund's render callback."""
    if isinstance(result, GatewayError):
        return stored_error(result)
    return StoredResponse(OK, _serialized(pb.CreateRefundResponse(refund=views.refund(result))))


class StoredStatus(grpc.Status):
    """A status to abort with, made of a stored response (grpc.Status is a bare protocol)."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: Sequence[tuple[str, Any]]
    ) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = tuple(trailing_metadata)


def stored_status(stored: StoredResponse, earlier: Iterable[tuple[str, Any]] = ()) -> StoredStatus:
    """The status a stored error stands for, its details trailer the stored bytes verbatim.

    ``earlier`` is trailing metadata already set on the call (the request id): aborting
    replaces trailing metadata, so it is carried over, minus any older status details."""
    code = _CODES.get(stored.status_code, grpc.StatusCode.UNKNOWN)
    message = status_pb2.Status.FromString(stored.body).message
    kept = [(k, v) for k, v in earlier if k != STATUS_DETAILS_KEY]
    return StoredStatus(code, message, (*kept, (STATUS_DETAILS_KEY, stored.body)))


async def send(answer: Answer[Any], parse: Callable[[bytes], M], context: Ctx) -> M:
    """Answer the call with ``answer.response``: the parsed message, or abort with the
    stored status."""
    stored = answer.response
    if stored.status_code == OK:
        return parse(stored.body)
    await context.abort_with_status(stored_status(stored, context.trailing_metadata() or ()))
