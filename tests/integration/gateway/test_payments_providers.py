"""A payment's life over REST through Envoy, with each of the four real provider adapters
against the sandbox: authorize, capture (partial where the provider can), two refunds, and a
void where the provider has one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.testing import SandboxHandle
from tests.integration.gateway.payments_support import (
    Merchant,
    card,
    error_info,
    minor,
    money,
    payment_body,
    token,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")

PAYPAL_VAULT_ID = "8kk8451t"
"""A PayPal vault id: an opaque token, which routing sends to the wallet provider."""


@dataclass(frozen=True)
class Flow:
    provider: str
    currency: str
    method: dict[str, Any]
    partial_capture: bool
    """Razorpay captures exactly the authorized amount (domain.capabilities)."""

    def __str__(self) -> str:
        return self.provider


FLOWS = [
    Flow("stripe", "USD", card("4242424242424242"), partial_capture=True),
    Flow("authorizenet", "USD", card("4111111111111111"), partial_capture=True),
    Flow("razorpay", "INR", card("4111111111111111"), partial_capture=False),
    Flow("paypal", "USD", token(PAYPAL_VAULT_ID), partial_capture=True),
]
AUTHORIZED = 10_000


async def _authorized(merchant: Merchant, flow: Flow) -> dict[str, Any]:
    return await merchant.pay(
        payment_body(AUTHORIZED, flow.currency, flow.method, provider=flow.provider, manual=True)
    )


@pytest.mark.parametrize("flow", FLOWS, ids=str)
async def test_authorize_capture_and_two_refunds_through_the_providers_adapter(
    merchant: Merchant, flow: Flow
) -> None:
    payment = await _authorized(merchant, flow)
    capture_amount = 6_000 if flow.partial_capture else None
    captured = await merchant.capture(
        payment["id"], money(capture_amount, flow.currency) if capture_amount else None
    )
    first = await merchant.refund(payment["id"], money(1_000, flow.currency))
    second = await merchant.refund(payment["id"], money(2_000, flow.currency))
    after = (await merchant.get(payment["id"])).json()["payment"]
    listed = (await merchant.refunds(payment["id"])).json()["refunds"]

    assert (payment["status"], payment["order_status"]) == (
        "PAYMENT_STATUS_AUTHORIZED",
        "ORDER_STATUS_PROCESSING",
    )
    assert payment["provider"] == flow.provider
    assert minor(payment["amount_authorized"]) == AUTHORIZED
    [authorize] = payment["attempts"]
    assert authorize["operation"] == "ATTEMPT_OPERATION_AUTHORIZE"
    assert authorize["routing"]["candidates"][authorize["routing"]["position"]] == flow.provider
    assert captured.status_code == 200, captured.text
    want_status = "PARTIALLY_CAPTURED" if flow.partial_capture else "CAPTURED"
    assert captured.json()["payment"]["status"] == f"PAYMENT_STATUS_{want_status}"
    assert [r.status_code for r in (first, second)] == [200, 200], second.text
    assert {first.json()["refund"]["status"], second.json()["refund"]["status"]} == {
        "REFUND_STATUS_SUCCEEDED"
    }
    assert minor(after["amount_captured"]) == (capture_amount or AUTHORIZED)
    assert minor(after["amount_refunded"]) == 3_000
    assert after["order_status"] == "ORDER_STATUS_SUCCESS"
    assert [a["operation"].removeprefix("ATTEMPT_OPERATION_") for a in after["attempts"]] == [
        "AUTHORIZE",
        "CAPTURE",
        "REFUND",
        "REFUND",
    ]
    assert [r["id"] for r in listed] == [
        first.json()["refund"]["id"],
        second.json()["refund"]["id"],
    ]


@pytest.mark.parametrize("flow", [f for f in FLOWS if f.provider != "razorpay"], ids=str)
async def test_cancel_voids_the_authorization_at_the_provider(
    merchant: Merchant, flow: Flow
) -> None:
    payment = await _authorized(merchant, flow)

    canceled = await merchant.cancel(payment["id"])

    assert canceled.status_code == 200, canceled.text
    after = canceled.json()["payment"]
    assert (after["status"], after["order_status"]) == (
        "PAYMENT_STATUS_CANCELED",
        "ORDER_STATUS_FAILED",
    )
    assert minor(after["amount_captured"]) == 0
    assert after["attempts"][-1]["operation"] == "ATTEMPT_OPERATION_CANCEL"
    assert after["attempts"][-1]["outcome"] == "ATTEMPT_OUTCOME_SUCCEEDED"


async def test_razorpay_has_no_void_so_a_cancel_changes_nothing_and_says_why(
    merchant: Merchant,
) -> None:
    payment = await _authorized(merchant, FLOWS[2])

    refused = await merchant.cancel(payment["id"])
    after = (await merchant.get(payment["id"])).json()["payment"]

    # Refused before any provider call, as a precondition and not a 503: retrying can never
    # succeed, because Razorpay releases an uncaptured authorization itself.
    assert refused.status_code == 400
    assert error_info(refused)["reason"] == "PAYMENT_NOT_CANCELABLE"
    assert error_info(refused)["metadata"]["provider"] == "razorpay"
    assert "cannot void" in refused.json()["message"]
    assert after["status"] == "PAYMENT_STATUS_AUTHORIZED"
    assert after["attempts"][-1]["operation"] != "ATTEMPT_OPERATION_CANCEL"


async def test_razorpay_refuses_a_partial_capture_before_calling_it(merchant: Merchant) -> None:
    payment = await _authorized(merchant, FLOWS[2])

    authorized = payment["amount_authorized"]
    partial = money(minor(authorized) - 100, authorized["currency_code"])
    refused = await merchant.capture(payment["id"], partial)
    after = (await merchant.get(payment["id"])).json()["payment"]

    assert refused.status_code == 400
    assert error_info(refused)["reason"] == "PARTIAL_CAPTURE_UNSUPPORTED"
    assert after["status"] == "PAYMENT_STATUS_AUTHORIZED"


async def test_automatic_capture_captures_in_the_create_call(merchant: Merchant) -> None:
    payment = await merchant.pay(payment_body(2_500, "EUR", card("5555555555554444")))

    assert payment["status"] == "PAYMENT_STATUS_CAPTURED"
    assert payment["capture_method"] == "CAPTURE_METHOD_AUTOMATIC"
    assert minor(payment["amount_captured"]) == 2_500
    assert payment["payment_method"] == {
        "type": "PAYMENT_METHOD_TYPE_CARD",
        "card": {"brand": "mastercard", "last4": "4444", "exp_month": 12, "exp_year": 2035},
    }


async def test_three_d_secure_answers_requires_action_with_the_sandboxs_redirect(
    merchant: Merchant, sandbox: SandboxHandle
) -> None:
    payment = await merchant.pay(payment_body(1_000, "USD", card("4000002500003155")))

    assert payment["status"] == "PAYMENT_STATUS_REQUIRES_ACTION"
    assert payment["next_action"]["redirect_url"].startswith(sandbox.url)
    assert "decline" not in payment
