"""What PayPal's card processing answers for each test card, in PayPal's own codes.

PayPal reports a card decline not as an HTTP error but as a completed order whose capture is
``DECLINED`` (or whose authorization is ``DENIED``) with a ``processor_response.response_code``
(the Payments v2 spec lists them: 0500 DO_NOT_HONOR, 5120 INSUFFICIENT_FUNDS, 5400
EXPIRED_CARD ...). Recorded sandbox responses show exactly that shape for PayPal's documented
rejection triggers, the ``CCREJECT-*`` values put in the card's name, which this simulator
honours too:

    CCREJECT-REFUSED 0500, CCREJECT-SF 9500, CCREJECT-EC 5400, CCREJECT-IRC 5180,
    CCREJECT-IF 5120, CCREJECT-LS 9520, CCREJECT-IA 1330, CCREJECT-BANK_ERROR 5100,
    CCREJECT-CVV_F 00N7

The shared test cards (``sandbox.cards``) map onto the same codes. Two choices are ours:
PayPal has one code for lost and stolen cards (9520 LOST_OR_STOLEN), so the stolen-card test
number answers 5150 (PICKUP_CARD_SPECIAL_CONDITIONS, the issuer's "pick up this card") to keep
the two outcomes apart; and a number failing the Luhn check answers 5180 (INVALID_OR_RESTRICTED
_CARD), the code PayPal's own "Luhn check fails" trigger returns.
"""

from __future__ import annotations

from sandbox.cards import Outcome, outcome_of
from sandbox.paypal.model import Processor

APPROVED = "0000"

_BY_OUTCOME: dict[Outcome, Processor] = {
    Outcome.SUCCESS: Processor(APPROVED),
    Outcome.GENERIC_DECLINE: Processor("5100", "G", "P"),
    Outcome.INSUFFICIENT_FUNDS: Processor("5120", "G", "P"),
    Outcome.LOST_CARD: Processor("9520", "G", "P"),
    Outcome.STOLEN_CARD: Processor("5150", "G", "P"),
    Outcome.EXPIRED_CARD: Processor("5400", "G", "P"),
    Outcome.INCORRECT_CVC: Processor("00N7", "G", "N"),
    Outcome.PROCESSING_ERROR: Processor("9100", "G", "P"),
    Outcome.INCORRECT_NUMBER: Processor("5180", "G", "P"),
}

TRIGGERS: dict[str, str] = {
    "CCREJECT-REFUSED": "0500",
    "CCREJECT-SF": "9500",
    "CCREJECT-EC": "5400",
    "CCREJECT-IRC": "5180",
    "CCREJECT-IF": "5120",
    "CCREJECT-LS": "9520",
    "CCREJECT-IA": "1330",
    "CCREJECT-BANK_ERROR": "5100",
    "CCREJECT-CVV_F": "00N7",
}


def card_outcome(number: str, name: str) -> Processor | None:
    """The processor answer for a card, or None when it needs 3-D Secure first."""
    trigger = TRIGGERS.get(name.strip().upper())
    if trigger is not None:
        return Processor(trigger, "G", "N" if trigger == "00N7" else "P")
    outcome = outcome_of(number)
    if outcome is Outcome.REQUIRES_3DS:
        return None
    template = _BY_OUTCOME[outcome]
    return Processor(template.response_code, template.avs_code, template.cvv_code)


def approved() -> Processor:
    """The answer for a vaulted instrument or an authenticated (3DS) card."""
    return Processor(APPROVED)
