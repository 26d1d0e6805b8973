"""Every test card's decline, normalized, through each card provider's adapter.

A decline is not an error: the create answers 200 with the payment FAILED, ``decline.code``
the normalized code, and the provider's own code kept in ``decline.provider_code``. The
normalized code is each adapter's table applied to what its provider says; where a
provider's protocol is coarser than the test card (Authorize.net has one response reason
for "declined", one for "lost or stolen"), so is the code.
"""

from __future__ import annotations

import pytest

from tests.integration.gateway.payments_support import Merchant, card, minor, payment_body

pytestmark = pytest.mark.asyncio(loop_scope="package")

GENERIC = "4000000000000002"
INSUFFICIENT = "4000000000009995"
LOST = "4000000000009987"
STOLEN = "4000000000009979"
EXPIRED = "4000000000000069"
BAD_CVC = "4000000000000127"
PROCESSING = "4000000000000119"

DECLINES: dict[str, dict[str, str]] = {
    "stripe": {
        GENERIC: "generic_decline",
        INSUFFICIENT: "insufficient_funds",
        LOST: "lost_card",
        STOLEN: "stolen_card",
        EXPIRED: "expired_card",
        BAD_CVC: "incorrect_cvc",
        PROCESSING: "processing_error",
    },
    "authorizenet": {
        GENERIC: "generic_decline",
        INSUFFICIENT: "generic_decline",  # response reason 2: "This transaction has been declined"
        LOST: "lost_card",  # reason 4: "pick up card", lost and stolen alike
        STOLEN: "lost_card",
        EXPIRED: "expired_card",
        BAD_CVC: "incorrect_cvc",
    },
    "razorpay": {
        GENERIC: "generic_decline",
        INSUFFICIENT: "insufficient_funds",
        LOST: "lost_card",  # debit_instrument_blocked
        STOLEN: "fraud_suspected",  # payment_risk_check_failed
        EXPIRED: "expired_card",
        BAD_CVC: "incorrect_cvc",
        PROCESSING: "processing_error",
    },
}
CURRENCY = {"stripe": "USD", "authorizenet": "USD", "razorpay": "INR"}
CASES = [(p, number, code) for p, table in DECLINES.items() for number, code in table.items()]


@pytest.mark.parametrize(("provider", "number", "code"), CASES)
async def test_a_test_card_is_declined_with_its_normalized_code(
    merchant: Merchant, provider: str, number: str, code: str
) -> None:
    body = payment_body(1_000, CURRENCY[provider], card(number), provider=provider)

    payment = await merchant.pay(body)

    assert payment["status"] == "PAYMENT_STATUS_FAILED"
    assert payment["order_status"] == "ORDER_STATUS_FAILED"
    assert payment["provider"] == provider
    assert payment["decline"]["code"] == code
    assert payment["decline"]["provider_code"]  # the provider's own word is kept
    assert minor(payment["amount_authorized"]) == 0
    [attempt] = payment["attempts"]
    assert (attempt["outcome"], attempt["error_code"]) == ("ATTEMPT_OUTCOME_DECLINED", code)
    assert number not in str(payment)  # only the last four ever come back


@pytest.mark.slow  # the retries of the retriable error back off: up to 1.5 s, with jitter
async def test_authorizenets_processing_error_is_retriable_so_the_card_fails_over(
    merchant: Merchant,
) -> None:
    body = payment_body(1_000, "USD", card(PROCESSING), provider="authorizenet")

    payment = await merchant.pay(body)

    # Authorize.net's "error" response (code 3) is a processing failure, not the card's
    # refusal: safe to fail over, and Stripe then declines the same test card.
    outcomes = [(a["provider"], a["outcome"]) for a in payment["attempts"]]
    assert outcomes == [
        ("authorizenet", "ATTEMPT_OUTCOME_RETRIABLE_ERROR"),
        ("stripe", "ATTEMPT_OUTCOME_DECLINED"),
    ]
    assert (payment["provider"], payment["decline"]["code"]) == ("stripe", "processing_error")
