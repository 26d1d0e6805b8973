"""Render once, store, send the stored bytes: what a keyed mutation stores, and the status a
stored error is replayed with (entrypoints.responses, entrypoints.errors)."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from gateway_svc.domain import errors as e
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.domain.providers import Provider
from gateway_svc.domain.refunds import Refund
from gateway_svc.domain.routing import NoRoute, ProviderNotEligible, Skip, SkipReason
from gateway_svc.entrypoints import errors, responses
from gateway_svc.entrypoints.servicer import RENDER_CAPTURE
from gateway_svc.service_layer.commands import PaymentView
from paymesh.gateway.v1 import payments_pb2 as pb
from svc_kit.faults import FieldViolation
from tests.unit.gateway.domain_support import T0, payment


def _subclasses(cls: type[e.GatewayError]) -> set[type[e.GatewayError]]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


def test_every_gateway_error_has_a_code_in_the_one_table() -> None:
    # Every class of the tree, routing's and the entrypoint's own included, reaches a row
    # through its bases: none would be answered INTERNAL.
    classes = _subclasses(e.GatewayError)

    unmapped = [c.__name__ for c in classes if not set(c.__mro__) & set(errors.ERROR_TABLE)]

    assert {NoRoute, ProviderNotEligible, errors.PrincipalMissing} <= classes
    assert unmapped == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (e.TestCardNotAllowed("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (e.PaymentNotFound("x"), grpc.StatusCode.NOT_FOUND),
        (e.IdempotencyKeyReused("x"), grpc.StatusCode.ALREADY_EXISTS),
        (e.PaymentAlreadyCaptured("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (
            ProviderNotEligible(Skip(Provider.PAYPAL, SkipReason.NOT_ROUTED), "cards"),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (e.IdempotencyKeyInUse("x"), grpc.StatusCode.ABORTED),
        (e.ConcurrentModification("x"), grpc.StatusCode.ABORTED),
        (NoRoute("x"), grpc.StatusCode.UNAVAILABLE),
        (e.ProviderUnavailable("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.PrincipalMissing("x"), grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_each_branch_maps_to_its_code(error: e.GatewayError, code: grpc.StatusCode) -> None:
    assert errors.MAPPER.code_for(error) is code


def test_a_result_is_stored_as_ok_and_the_response_bytes() -> None:
    view = PaymentView(payment(PaymentStatus.AUTHORIZED))

    stored = RENDER_CAPTURE(view)

    assert stored.status_code == 0
    sent = pb.CapturePaymentResponse.FromString(stored.body)
    assert (sent.payment.id, sent.payment.status) == ("pay_1", pb.PAYMENT_STATUS_AUTHORIZED)


def test_a_refund_is_stored_as_the_create_refund_response() -> None:
    refund = Refund("re_1", "pay_1", "mer_1", 700, "USD", T0, T0)

    stored = responses.render_refund(refund)

    assert pb.CreateRefundResponse.FromString(stored.body).refund.id == "re_1"


def test_an_error_is_stored_as_its_code_and_the_rich_status() -> None:
    error = e.ValidationFailed(
        "bad", metadata={"payment_id": "pay_1"}, violations=[FieldViolation("amount", "no")]
    )

    stored = RENDER_CAPTURE(error)

    status = status_pb2.Status.FromString(stored.body)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert stored.status_code == status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert (info.reason, info.domain) == ("VALIDATION_FAILED", "gateway.paymesh.local")
    assert dict(info.metadata) == {"payment_id": "pay_1"}
    assert [v.field for v in bad.field_violations] == ["amount"]
    assert status.message == "bad"


def test_a_stored_error_replays_with_its_stored_bytes_and_keeps_the_request_id() -> None:
    stored = errors.stored_error(e.PaymentNotCapturable("not authorized"))
    earlier = (("x-request-id", "r-1"), (responses.STATUS_DETAILS_KEY, b"older"))

    status = responses.stored_status(stored, earlier)

    assert status.code is grpc.StatusCode.FAILED_PRECONDITION
    assert status.details == "not authorized"
    assert status.trailing_metadata == (
        ("x-request-id", "r-1"),
        (responses.STATUS_DETAILS_KEY, stored.body),  # the very bytes stored, not a re-encoding
    )


def test_an_unknown_stored_code_replays_as_unknown_rather_than_failing() -> None:
    body = status_pb2.Status(code=99, message="from a newer release").SerializeToString()

    status = responses.stored_status(StoredResponse(99, body))

    assert status.code is grpc.StatusCode.UNKNOWN
