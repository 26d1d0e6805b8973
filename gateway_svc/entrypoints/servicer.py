"""PaymentService over gRPC: each method translates, calls one use case, translates back.

No method catches anything: raised domain errors become statuses in the one error
interceptor (``svc_kit.grpc_errors``) using ``gateway_svc.entrypoints.errors``. Mutations
answer through ``responses.send`` from the response stored with their idempotency key, so a
first execution and a replay send the same thing. Every call acts for the merchant of the
principal the edge attached (``metadata.caller``); the calling API key is the audit actor.
"""

from __future__ import annotations

from google.protobuf.message import Message

from gateway_svc.service_layer.payments import PaymentService
from paymesh.gateway.v1 import payments_pb2 as pb
from paymesh.gateway.v1 import payments_pb2_grpc
from svc_kit.principal import EDGE_SPIFFE_ID, EdgePrincipal

from . import convert as cv
from . import metadata, responses, views
from .metadata import Ctx


def _create(p: pb.Payment) -> Message:
    return pb.CreatePaymentResponse(payment=p)


def _capture(p: pb.Payment) -> Message:
    return pb.CapturePaymentResponse(payment=p)


def _cancel(p: pb.Payment) -> Message:
    return pb.CancelPaymentResponse(payment=p)


RENDER_CREATE = responses.payment_renderer(_create)
RENDER_CAPTURE = responses.payment_renderer(_capture)
RENDER_CANCEL = responses.payment_renderer(_cancel)


class PaymentServicer(payments_pb2_grpc.PaymentServiceServicer):
    """The gRPC face of ``PaymentService``."""

    def __init__(
        self,
        payments: PaymentService,
        *,
        edge_spiffe_id: str = EDGE_SPIFFE_ID,
        trust_plaintext: bool = False,
    ) -> None:
        self.payments = payments
        self._edge = edge_spiffe_id
        self._trust_plaintext = trust_plaintext

    def _caller(self, context: Ctx) -> EdgePrincipal:
        return metadata.caller(
            context, edge_spiffe_id=self._edge, trust_plaintext=self._trust_plaintext
        )

    @staticmethod
    def _key(field_value: str, context: Ctx) -> str:
        return metadata.request_id(field_value, context.invocation_metadata() or ())

    async def _currency(self, merchant_id: str, payment_id: str, has_amount: bool) -> str | None:
        """The payment's currency, read only when an amount must be checked against it."""
        if not has_amount:
            return None
        view = await self.payments.get_payment(merchant_id, cv.require_id(payment_id))
        return view.payment.currency

    async def CreatePayment(
        self, request: pb.CreatePaymentRequest, context: Ctx
    ) -> pb.CreatePaymentResponse:
        principal = self._caller(context)
        cmd = cv.create_payment(request, principal, self._key(request.request_id, context))
        answer = await self.payments.create_payment(cmd, RENDER_CREATE)
        return await responses.send(answer, pb.CreatePaymentResponse.FromString, context)

    async def GetPayment(
        self, request: pb.GetPaymentRequest, context: Ctx
    ) -> pb.GetPaymentResponse:
        principal = self._caller(context)
        view = await self.payments.get_payment(
            principal.merchant_id, cv.require_id(request.payment_id)
        )
        return pb.GetPaymentResponse(payment=views.payment(view))

    async def ListPayments(
        self, request: pb.ListPaymentsRequest, context: Ctx
    ) -> pb.ListPaymentsResponse:
        principal = self._caller(context)
        page = await self.payments.list_payments(cv.list_payments(request, principal.merchant_id))
        return pb.ListPaymentsResponse(
            payments=[views.payment(v) for v in page.items], next_page_token=page.next_page_token
        )

    async def CapturePayment(
        self, request: pb.CapturePaymentRequest, context: Ctx
    ) -> pb.CapturePaymentResponse:
        principal = self._caller(context)
        key = self._key(request.request_id, context)
        currency = await self._currency(
            principal.merchant_id, request.payment_id, request.HasField("amount")
        )
        cmd = cv.capture_payment(request, principal, key, currency)
        answer = await self.payments.capture_payment(cmd, RENDER_CAPTURE)
        return await responses.send(answer, pb.CapturePaymentResponse.FromString, context)

    async def CancelPayment(
        self, request: pb.CancelPaymentRequest, context: Ctx
    ) -> pb.CancelPaymentResponse:
        principal = self._caller(context)
        cmd = cv.cancel_payment(request, principal, self._key(request.request_id, context))
        answer = await self.payments.cancel_payment(cmd, RENDER_CANCEL)
        return await responses.send(answer, pb.CancelPaymentResponse.FromString, context)

    async def CreateRefund(
        self, request: pb.CreateRefundRequest, context: Ctx
    ) -> pb.CreateRefundResponse:
        principal = self._caller(context)
        key = self._key(request.request_id, context)
        currency = await self._currency(
            principal.merchant_id, request.payment_id, request.HasField("amount")
        )
        cmd = cv.create_refund(request, principal, key, currency)
        answer = await self.payments.create_refund(cmd, responses.render_refund)
        return await responses.send(answer, pb.CreateRefundResponse.FromString, context)

    async def ListRefunds(
        self, request: pb.ListRefundsRequest, context: Ctx
    ) -> pb.ListRefundsResponse:
        principal = self._caller(context)
        payment_id, page_size, page_token = cv.refund_page(request)
        page = await self.payments.list_refunds(
            principal.merchant_id, payment_id, page_size, page_token
        )
        return pb.ListRefundsResponse(
            refunds=[views.refund(r) for r in page.items], next_page_token=page.next_page_token
        )
