"""What PaymentService refuses over REST, and how: illegal transitions (400
FAILED_PRECONDITION with the reason and the payment's state in ErrorInfo), bad fields (400
INVALID_ARGUMENT naming them in BadRequest), and calls without a principal to believe (401 at
the edge; UNAUTHENTICATED from the gateway itself)."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2

from paymesh.gateway.v1 import payments_pb2, payments_pb2_grpc
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal
from tests.integration.gateway.payments_support import (
    PAYMENTS,
    Merchant,
    card,
    error_info,
    minor,
    money,
    payment_body,
    violated_fields,
)
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")
FAILED_PRECONDITION = 9


def _refused(reply: httpx.Response, reason: str) -> dict[str, Any]:
    """The ErrorInfo of a 400 FAILED_PRECONDITION with ``reason`` (asserted)."""
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == FAILED_PRECONDITION
    info = error_info(reply)
    assert (info["reason"], info["domain"]) == (reason, "gateway.paymesh.local")
    return info


async def _manual(merchant: Merchant, amount: int = 5_000) -> dict[str, Any]:
    return await merchant.pay(payment_body(amount, "USD", VISA, manual=True))


async def test_a_failed_payment_cannot_be_captured(merchant: Merchant) -> None:
    failed = await merchant.pay(payment_body(5_000, "USD", card("4000000000000002"), manual=True))

    info = _refused(await merchant.capture(failed["id"]), "PAYMENT_NOT_CAPTURABLE")

    assert failed["status"] == "PAYMENT_STATUS_FAILED"
    assert info["metadata"]["status"] == "failed"
    assert info["metadata"]["payment_id"] == failed["id"]


async def test_a_second_capture_is_refused(merchant: Merchant) -> None:
    payment = await _manual(merchant)
    first = await merchant.capture(payment["id"], money(1_000, "USD"))

    info = _refused(await merchant.capture(payment["id"]), "PAYMENT_ALREADY_CAPTURED")

    assert first.status_code == 200
    assert info["metadata"]["captured_minor"] == "1000"


async def test_a_capture_above_the_authorization_is_refused(merchant: Merchant) -> None:
    payment = await _manual(merchant)

    reply = await merchant.capture(payment["id"], money(5_001, "USD"))

    _refused(reply, "CAPTURE_EXCEEDS_AUTHORIZED")
    after = (await merchant.get(payment["id"])).json()["payment"]
    assert after["status"] == "PAYMENT_STATUS_AUTHORIZED"
    assert minor(after["amount_captured"]) == 0


async def test_a_captured_payment_cannot_be_canceled(merchant: Merchant) -> None:
    payment = await merchant.pay(payment_body(5_000, "USD", VISA))

    _refused(await merchant.cancel(payment["id"]), "PAYMENT_NOT_CANCELABLE")
    after = (await merchant.get(payment["id"])).json()["payment"]

    assert after["status"] == "PAYMENT_STATUS_CAPTURED"


async def test_refunds_above_the_captured_amount_are_refused(merchant: Merchant) -> None:
    payment = await _manual(merchant)
    await merchant.capture(payment["id"], money(3_000, "USD"))
    partial = await merchant.refund(payment["id"], money(2_000, "USD"))

    info = _refused(
        await merchant.refund(payment["id"], money(1_001, "USD")), "REFUND_EXCEEDS_CAPTURED"
    )
    rest = await merchant.refund(payment["id"])  # no amount: all that is left

    assert partial.status_code == 200
    assert info["metadata"]["payment_id"] == payment["id"]
    assert rest.status_code == 200
    assert rest.json()["refund"]["amount"] == money(1_000, "USD")


async def test_an_authorized_payment_cannot_be_refunded(merchant: Merchant) -> None:
    payment = await _manual(merchant)

    _refused(await merchant.refund(payment["id"], money(100, "USD")), "PAYMENT_NOT_REFUNDABLE")
    refunds = await merchant.refunds(payment["id"])
    assert refunds.status_code == 200
    assert refunds.json().get("refunds", []) == []


@pytest.mark.parametrize("operation", ["capture", "refund"])
async def test_an_amount_in_another_currency_than_the_payments_is_a_field_violation(
    merchant: Merchant, operation: str
) -> None:
    payment = await merchant.pay(payment_body(5_000, "USD", VISA, manual=operation == "capture"))

    reply = await getattr(merchant, operation)(payment["id"], money(1_000, "EUR"))

    assert reply.status_code == 400
    assert error_info(reply)["reason"] == "VALIDATION_FAILED"
    assert violated_fields(reply) == ["amount.currency_code"]


async def test_every_bad_field_of_a_create_is_named_at_once(merchant: Merchant) -> None:
    body = payment_body(
        -5, "EURO", card("4242424242424241"), provider="acme", merchant_reference="x" * 41
    )

    provider = await merchant.create(body)
    body.pop("provider")
    fields = await merchant.create(body)

    assert provider.status_code == 400
    assert violated_fields(provider) == ["provider"]
    assert fields.status_code == 400
    assert set(violated_fields(fields)) == {
        "amount.currency_code",
        "amount.minor_units",
        "payment_method.card.number",
        "merchant_reference",
    }
    assert "4242424242424241" not in fields.text  # the number is never echoed back


async def test_a_payment_without_an_idempotency_key_is_refused(merchant: Merchant) -> None:
    reply = await merchant.create(payment_body(1_000, "USD", VISA), key=None)

    assert reply.status_code == 400
    assert violated_fields(reply) == ["request_id"]


async def test_without_an_api_key_the_edge_answers_401_before_the_gateway(
    rest: httpx.AsyncClient,
) -> None:
    reply = await rest.post(PAYMENTS, json=payment_body(1_000, "USD", VISA))

    assert reply.status_code == 401
    assert error_info(reply)["domain"] != "gateway.paymesh.local"


async def _get_directly(stack: GatewayStack, workload: str, principal: str | None) -> Any:
    """GetPayment straight to the gateway's port with ``workload``'s certificate."""
    credentials = stack.pki.tls(workload).credentials()
    metadata = () if principal is None else ((PRINCIPAL_HEADER, principal),)
    target = f"localhost:{stack.gateway.port}"
    async with grpc.aio.secure_channel(target, credentials) as channel:
        stub = payments_pb2_grpc.PaymentServiceStub(channel)
        request = payments_pb2.GetPaymentRequest(payment_id="pay_1")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetPayment(request, metadata=metadata)
    return refused.value


async def test_a_call_from_envoy_without_a_principal_is_unauthenticated(
    stack: GatewayStack,
) -> None:
    error = await _get_directly(stack, "envoy", principal=None)

    details = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    info = error_details_pb2.ErrorInfo()
    status_pb2.Status.FromString(details).details[0].Unpack(info)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (info.reason, info.domain) == ("PRINCIPAL_MISSING", "gateway.paymesh.local")


async def test_a_principal_header_from_any_other_workload_is_not_believed(
    stack: GatewayStack,
) -> None:
    forged = EdgePrincipal("mer_victim", "KeyId0123456789a", "owner", "test").to_header()

    error = await _get_directly(stack, "client", principal=forged)

    # The peer allow-list refuses the caller before the servicer could read the header.
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
