"""What a card does in the Razorpay simulator: succeed, ask for 3DS, or fail with a reason.

Two tables feed it:

- Razorpay's own documented test cards (razorpay.com/docs/payments/payments/test-card-details):
  the Indian success cards and the "error scenario" cards, each failing with the reason
  Razorpay documents for it (``payment_timed_out``, ``insufficient_funds``, ``card_declined``
  ...). In real test mode these fail only after the payer presses "Failure" on a mock bank
  page; the simulator fails them at once, which is what that button produces.
- The shared table every simulator honours (``sandbox.cards``), mapped onto the nearest
  reason Razorpay documents for card payments (razorpay.com/docs/errors/payments/cards).
  Razorpay does not tell a lost card from a stolen one: a card its issuer blocked comes back
  ``debit_instrument_blocked`` and an issuer's fraud refusal ``payment_risk_check_failed``,
  so the shared "lost" card gives the first and the "stolen" card the second. Descriptions
are Razorpay's where its test-card page prints one, else written in the same voice.

Razorpay's docs print ``insufficient_fund`` on the test-card page and ``insufficient_funds``
in the error reference; the simulator sends the latter, the adapter accepts both.

Cards that need no 3DS are authorized frictionlessly here. In real test mode every Indian
card goes through a mock bank page; the simulator keeps that step only for the shared 3DS
card, so the gateway's plain authorization path can be exercised without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.cards import Outcome, brand_of, outcome_of
from sandbox.razorpay.replies import BAD_REQUEST, GATEWAY_ERROR


@dataclass(frozen=True, slots=True)
class CardFailure:
    """How Razorpay reports one failed card payment (the payment's ``error_*`` fields)."""

    reason: str
    description: str
    code: str = BAD_REQUEST
    source: str = "issuer_bank"
    step: str = "payment_authorization"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What authorizing a card does: ``failure`` set, or ``needs_3ds``, or plain success."""

    failure: CardFailure | None = None
    needs_3ds: bool = False


_TIMED_OUT = CardFailure(
    "payment_timed_out",
    "Your payment could not be completed due to a temporary issue. Try again later.",
    source="customer",
    step="payment_authentication",
)
_INSUFFICIENT = CardFailure(
    "insufficient_funds",
    "Your payment could not be completed due to insufficient account balance."
    " Try another card or payment method.",
)
_CANCELLED = CardFailure(
    "payment_cancelled",
    "Your payment has been cancelled. Try again or complete the payment later.",
    source="customer",
    step="payment_authentication",
)
_DECLINED = CardFailure(
    "card_declined",
    "Your payment did not go through as it was declined by the bank."
    " Try another payment method or contact your bank.",
)
_NOT_ONLINE = CardFailure(
    "card_disabled_for_online_payments",
    "Your card is disabled for online payments. Please reach to your bank or try with"
    " another card.",
)
_BAD_NUMBER = CardFailure(
    "card_number_invalid",
    "You have entered an incorrect card number. Try again.",
    source="customer",
    step="payment_initiation",
)
_GATEWAY = CardFailure(
    "gateway_technical_error",
    "Your payment did not go through due to a temporary issue. Any debited amount will be"
    " refunded in 4-5 business days.",
    code=GATEWAY_ERROR,
    source="gateway",
)
AUTHENTICATION_FAILED = CardFailure(
    "authentication_failed",
    "Your payment could not be completed due to incorrect OTP or verification details."
    " Try another payment method or contact your bank for details.",
    code=GATEWAY_ERROR,
    source="customer",
    step="payment_authentication",
)
_BLOCKED = CardFailure(
    "debit_instrument_blocked",
    "Your payment could not be completed as this card is blocked. Try another card or"
    " contact your bank.",
)
_RISK = CardFailure(
    "payment_risk_check_failed",
    "Your payment has been declined by the bank on suspicion of fraud. Try another card.",
)
_EXPIRED = CardFailure(
    "card_expired",
    "Your payment could not be completed as this card has expired. Try another card.",
    source="customer",
)
_CVV = CardFailure(
    "incorrect_cvv",
    "Your payment could not be completed as the CVV entered is incorrect. Try again.",
    source="customer",
)

RAZORPAY_TEST_CARDS: dict[str, CardFailure | None] = {
    # Indian success cards (Visa, Mastercard, RuPay, Diners, Amex) and international ones.
    "4100280000001007": None,
    "5500670000001002": None,
    "6527658900001005": None,
    "36082800091007": None,
    "340256000401007": None,
    "4012888888881881": None,
    "5105105105105100": None,
    "5104060000000008": None,
    # Error scenario cards, Visa then Mastercard for each reason.
    "4100280000090000": _TIMED_OUT,
    "5305620000060000": _TIMED_OUT,
    "4100280000080001": _INSUFFICIENT,
    "5305620000050001": _INSUFFICIENT,
    "4100280000070002": _CANCELLED,
    "5305620000040002": _CANCELLED,
    "4100280000060003": _DECLINED,
    "5305620000030003": _DECLINED,
    "4100280000050004": _DECLINED,
    "5305620000020004": _DECLINED,
    "4100280000040005": _DECLINED,
    "5305620000010005": _DECLINED,
    "4100280000030006": _NOT_ONLINE,
    "5305620000000006": _NOT_ONLINE,
    "4100280000010008": _BAD_NUMBER,
    "5305620000080008": _BAD_NUMBER,
    "4100280000020007": _GATEWAY,
    "5305620000090007": _GATEWAY,
    "4100280000000009": AUTHENTICATION_FAILED,
    "5305620000070009": AUTHENTICATION_FAILED,
}

SHARED_OUTCOMES: dict[Outcome, CardFailure | None] = {
    Outcome.SUCCESS: None,
    Outcome.GENERIC_DECLINE: _DECLINED,
    Outcome.INSUFFICIENT_FUNDS: _INSUFFICIENT,
    Outcome.LOST_CARD: _BLOCKED,
    Outcome.STOLEN_CARD: _RISK,
    Outcome.EXPIRED_CARD: _EXPIRED,
    Outcome.INCORRECT_CVC: _CVV,
    Outcome.PROCESSING_ERROR: _GATEWAY,
    Outcome.INCORRECT_NUMBER: _BAD_NUMBER,
}

_SUCCESS = Verdict()
_THREE_DS = Verdict(needs_3ds=True)


def verdict_of(number: str) -> Verdict:
    """What authorizing ``number`` does (Razorpay's own test cards take precedence)."""
    if number in RAZORPAY_TEST_CARDS:
        failure = RAZORPAY_TEST_CARDS[number]
    else:
        outcome = outcome_of(number)
        if outcome is Outcome.REQUIRES_3DS:
            return _THREE_DS
        failure = SHARED_OUTCOMES[outcome]
    return _SUCCESS if failure is None else Verdict(failure=failure)


_NETWORKS = {"visa": "Visa", "mastercard": "MasterCard", "amex": "American Express"}


def network_of(number: str) -> str:
    """Razorpay's card ``network`` word for a number."""
    if number.startswith(("60", "65", "81", "82", "508")):
        return "RuPay"
    if number.startswith(("36", "38", "300", "301", "302", "303", "304", "305")):
        return "Diners Club"
    return _NETWORKS.get(brand_of(number), "Unknown")
