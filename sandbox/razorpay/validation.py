"""Request-shape checks in Razorpay's voice: each failure is a 400 naming the field.

A check that fails raises ``Refusal`` carrying the reply, so handlers read as straight-line
code and the simulator turns the exception into the response in one place.

Razorpay refuses fields it does not expect ("extra_field is/are not required and should not
be sent"), so every handler lists the fields it accepts; that catches an adapter sending a
misspelt or invented field. Nested card fields are named with dots (``card.number``): the
docs do not show how Razorpay names them in an error, so that spelling is a choice.
Messages never echo a card number or CVV.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.core import SimRequest, SimResponse
from sandbox.razorpay.replies import invalid
from svc_kit.currencies import exponent, is_currency

MIN_AMOUNT = 100
"""Razorpay's minimum order, payment and refund: 100 of the currency's smallest unit
(INR 1.00); applied to every currency here."""
MAX_NOTES = 15
MAX_NOTE_CHARS = 256


class Refusal(Exception):
    """A request Razorpay refuses; ``reply`` is the answer to send."""

    def __init__(self, reply: SimResponse) -> None:
        super().__init__(reply.status)
        self.reply = reply


def refuse(description: str, field: str | None = None) -> Refusal:
    """A validation refusal to raise."""
    return Refusal(invalid(description, field))


def json_object(request: SimRequest) -> dict[str, object]:
    """The body as a JSON object; an empty body is an empty object."""
    if not request.body:
        return {}
    try:
        value = request.json()
    except ValueError:
        raise refuse("The request body must be a valid JSON object.") from None
    if not isinstance(value, dict):
        raise refuse("The request body must be a valid JSON object.")
    return value


def no_extra(body: Mapping[str, object], allowed: frozenset[str]) -> None:
    """Refuse fields the endpoint does not take."""
    extra = [key for key in body if key not in allowed]
    if extra:
        raise refuse(f"{', '.join(extra)} is/are not required and should not be sent", extra[0])


def currency(body: Mapping[str, object]) -> str:
    """The ISO 4217 ``currency`` field (upper case, as Razorpay writes it)."""
    value = body.get("currency")
    if value is None:
        raise refuse("The currency field is required.", "currency")
    if not isinstance(value, str) or not is_currency(value):
        raise refuse("Currency is not supported", "currency")
    return value


def amount(
    body: Mapping[str, object], currency_code: str, *, key: str = "amount", required: bool = True
) -> int | None:
    """An amount in the currency's smallest unit, at least MIN_AMOUNT.

    Three-decimal currencies (KWD, BHD, OMR ...) must end in 0: Razorpay's docs ask for
    99.991 KWD to be sent as 99990.
    """
    value = body.get(key)
    if value is None:
        if required:
            raise refuse(f"The {key} field is required.", key)
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise refuse(f"The {key} must be an integer.", key)
    if value < MIN_AMOUNT:
        raise refuse(f"The {key} must be at least {_minimum_text(currency_code)}.", key)
    if exponent(currency_code) == 3 and value % 10:
        raise refuse(f"The {key} must end with 0 for three decimal currencies.", key)
    return value


def _minimum_text(currency_code: str) -> str:
    places = exponent(currency_code)
    whole, part = divmod(MIN_AMOUNT, 10**places) if places else (MIN_AMOUNT, 0)
    return f"{currency_code} {whole}.{part:0{places}d}" if places else f"{currency_code} {whole}"


def text(
    body: Mapping[str, object], key: str, *, required: bool = False, max_chars: int = 255
) -> str | None:
    """A string field of at most ``max_chars``."""
    value = body.get(key)
    if value is None:
        if required:
            raise refuse(f"The {key} field is required.", key)
        return None
    if not isinstance(value, str) or (required and not value):
        raise refuse(f"The {key} must be a string.", key)
    if len(value) > max_chars:
        raise refuse(f"The {key} may not be greater than {max_chars} characters.", key)
    return value


def notes(body: Mapping[str, object]) -> dict[str, str]:
    """``notes``: at most 15 pairs of at most 256 characters each; numbers become strings."""
    value = body.get("notes")
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise refuse("The notes must be an object.", "notes")
    if len(value) > MAX_NOTES:
        raise refuse(
            f"Number of fields in notes should be less than or equal to {MAX_NOTES}", "notes"
        )
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise refuse("Notes values must be strings or numbers.", "notes")
        note = str(item)
        if len(note) > MAX_NOTE_CHARS or len(key) > MAX_NOTE_CHARS:
            raise refuse(
                f"Notes value should be less than or equal to {MAX_NOTE_CHARS} characters",
                "notes",
            )
        out[key] = note
    return out


def email(body: Mapping[str, object]) -> str:
    """The payer's ``email`` (at most 40 characters, as the S2S docs say)."""
    value = text(body, "email", required=True, max_chars=40)
    assert value is not None
    local, at, domain = value.partition("@")
    if not (local and at and "." in domain):
        raise refuse("The email must be a valid email address.", "email")
    return value


def contact(body: Mapping[str, object]) -> str:
    """The payer's phone ``contact``: 8 to 15 digits with an optional leading +."""
    value = text(body, "contact", required=True, max_chars=15)
    assert value is not None
    digits = value[1:] if value.startswith("+") else value
    if not (digits.isdigit() and 8 <= len(digits) <= 15):
        raise refuse("The contact format is invalid.", "contact")
    return value


CARD_FIELDS = frozenset({"number", "name", "expiry_month", "expiry_year", "cvv"})


def card_number(body: Mapping[str, object]) -> str:
    """The ``card`` object's number after its shape is checked (never echoed)."""
    card = body.get("card")
    if card is None:
        raise refuse("The card field is required.", "card")
    if not isinstance(card, dict):
        raise refuse("The card must be an object.", "card")
    extra = [key for key in card if key not in CARD_FIELDS]
    if extra:
        raise refuse(f"card.{extra[0]} is/are not required and should not be sent", "card")
    number = card.get("number")
    if not isinstance(number, str) or not number.isdigit() or not 12 <= len(number) <= 19:
        raise refuse("The card.number must be a number of 12 to 19 digits.", "card.number")
    _expiry(card)
    cvv = card.get("cvv")
    if not isinstance(cvv, str) or not cvv.isdigit() or len(cvv) not in (3, 4):
        raise refuse("The card.cvv must be 3 or 4 digits.", "card.cvv")
    name = card.get("name")
    if name is not None and not isinstance(name, str):
        raise refuse("The card.name must be a string.", "card.name")
    return number


def _expiry(card: Mapping[str, object]) -> None:
    month = card.get("expiry_month")
    if not isinstance(month, str | int) or not str(month).isdigit() or not 1 <= int(month) <= 12:
        raise refuse("The card.expiry_month is invalid.", "card.expiry_month")
    year = card.get("expiry_year")
    if not isinstance(year, str | int) or not str(year).isdigit() or len(str(year)) not in (2, 4):
        raise refuse("The card.expiry_year is invalid.", "card.expiry_year")
