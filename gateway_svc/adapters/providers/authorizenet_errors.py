"""Authorize.net's result codes in the gateway's terms: one table each, applied in one place.

Authorize.net answers every request with HTTP 200 and reports failures at two levels:

- API message codes (``messages.message[].code``, E000xx) when the request was refused as a
  whole, before any transaction existed: schema (E00003), credentials (E00007), unknown
  record (E00040) ... -> ``MESSAGES``;
- response reason codes (``transactionResponse.errors[].errorCode``) when a transaction was
  attempted: declines (response code 2) and errors (response code 3) -> ``REASONS``.

Each maps to a ``DeclineCode`` and an ``ErrorKind``; ``ErrorKind.DECLINED`` rows come back as a
declined charge, every other row is raised as ``ProviderError``. Decisions worth knowing:

- Authorize.net tells less than Stripe: insufficient funds is a general decline (2), and lost
  and stolen cards share 4 ("pick up card"), normalized to LOST_CARD. Expired (8) and invalid
  card numbers (6, 37) arrive as response code 3 "errors" but are the card's fault, so they
  are declines here.
- 19-23, 25, 26 and 57-63 say "Please try again in 5 minutes": the processor did not act, so
  RETRIABLE. 120-122 mean the processor timed out and the gateway's automatic void failed:
  the authorization may stand, so UNKNOWN.
- 11 (duplicate) is UNKNOWN on its own; the adapter resolves it by finding the earlier
  transaction (it proves one exists). 310/311 (already voided / captured) are resolved the
  same way for void and capture retries.
- E00001 ("An error occurred during processing") may follow a commit: UNKNOWN. E00104
  (server in maintenance) did nothing: RETRIABLE.

Texts from the provider can echo request values (an E00003 quotes the offending value, which
may be a card number), so messages here are the gateway's own, and ``scrub`` blanks quoted
values and long digit runs before any provider text is kept.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from gateway_svc.domain.providers import DeclineCode, ErrorKind


class Translation(NamedTuple):
    """What one Authorize.net code means to the gateway."""

    code: DeclineCode
    kind: ErrorKind
    message: str
    """Safe to show a merchant: no card data, no credentials."""


_D, _R, _U, _I = ErrorKind.DECLINED, ErrorKind.RETRIABLE, ErrorKind.UNKNOWN, ErrorKind.INVALID
_TRY_LATER = Translation(
    DeclineCode.PROCESSING_ERROR, _R, "The processor could not process the card; try again later."
)
_MERCHANT_SETUP = Translation(
    DeclineCode.PROVIDER_REJECTED, _I, "The merchant account is not set up for this request."
)

DUPLICATE: Final = "11"
ALREADY_VOIDED: Final = "310"
ALREADY_CAPTURED: Final = "311"

REASONS: Final[dict[str, Translation]] = {
    "2": Translation(DeclineCode.GENERIC_DECLINE, _D, "The card was declined."),
    "3": Translation(DeclineCode.GENERIC_DECLINE, _D, "The card was declined (call the issuer)."),
    "4": Translation(DeclineCode.LOST_CARD, _D, "The card was reported lost or stolen."),
    "5": Translation(DeclineCode.AMOUNT_INVALID, _I, "The amount is not valid."),
    "6": Translation(DeclineCode.INCORRECT_NUMBER, _D, "The card number is invalid."),
    "7": Translation(DeclineCode.EXPIRED_CARD, _D, "The card's expiration date is invalid."),
    "8": Translation(DeclineCode.EXPIRED_CARD, _D, "The card has expired."),
    DUPLICATE: Translation(
        DeclineCode.UNKNOWN_OUTCOME, _U, "An identical transaction was submitted moments ago."
    ),
    "13": Translation(DeclineCode.PROVIDER_REJECTED, _I, "The API login id is invalid."),
    "16": Translation(DeclineCode.PROVIDER_REJECTED, _I, "The transaction cannot be found."),
    "17": Translation(
        DeclineCode.PROVIDER_REJECTED, _I, "The merchant does not accept this card type."
    ),
    "19": _TRY_LATER,
    "20": _TRY_LATER,
    "21": _TRY_LATER,
    "22": _TRY_LATER,
    "23": _TRY_LATER,
    "24": _MERCHANT_SETUP,
    "25": _TRY_LATER,
    "26": _TRY_LATER,
    "27": Translation(DeclineCode.GENERIC_DECLINE, _D, "The billing address does not match."),
    "28": Translation(
        DeclineCode.PROVIDER_REJECTED, _I, "The merchant does not accept this card type."
    ),
    "29": _MERCHANT_SETUP,
    "30": _MERCHANT_SETUP,
    "31": _MERCHANT_SETUP,
    "33": Translation(DeclineCode.PROVIDER_REJECTED, _I, "A required field was left blank."),
    "34": _MERCHANT_SETUP,
    "35": _MERCHANT_SETUP,
    "37": Translation(DeclineCode.INCORRECT_NUMBER, _D, "The card number is invalid."),
    "39": Translation(
        DeclineCode.CURRENCY_NOT_SUPPORTED, _I, "The merchant does not process this currency."
    ),
    "44": Translation(DeclineCode.INCORRECT_CVC, _D, "The card code was declined."),
    "45": Translation(DeclineCode.INCORRECT_CVC, _D, "The card code and address do not match."),
    "47": Translation(DeclineCode.AMOUNT_INVALID, _I, "The capture exceeds the amount authorized."),
    "48": Translation(DeclineCode.AMOUNT_INVALID, _I, "The processor refuses partial reversals."),
    "49": Translation(DeclineCode.AMOUNT_INVALID, _I, "The amount exceeds the maximum allowed."),
    "50": Translation(
        DeclineCode.PROVIDER_REJECTED,
        _I,
        "The transaction awaits settlement; it cannot be refunded.",
    ),
    "51": Translation(
        DeclineCode.AMOUNT_INVALID, _I, "The refunds exceed the original transaction."
    ),
    "54": Translation(
        DeclineCode.PROVIDER_REJECTED, _I, "The transaction does not qualify for a refund."
    ),
    "55": Translation(
        DeclineCode.AMOUNT_INVALID, _I, "The refunds would exceed the amount captured."
    ),
    **dict.fromkeys(("57", "58", "59", "60", "61", "62", "63"), _TRY_LATER),
    "65": Translation(DeclineCode.INCORRECT_CVC, _D, "The card code does not match."),
    "78": Translation(DeclineCode.INCORRECT_CVC, _D, "The card code is invalid."),
    **dict.fromkeys(
        ("120", "121", "122"),
        Translation(
            DeclineCode.UNKNOWN_OUTCOME, _U, "The processor timed out; the outcome is unknown."
        ),
    ),
    "127": Translation(DeclineCode.GENERIC_DECLINE, _D, "The billing address does not match."),
    "141": Translation(DeclineCode.FRAUD_SUSPECTED, _D, "The card was declined as suspect."),
    "145": Translation(DeclineCode.FRAUD_SUSPECTED, _D, "The card was declined as suspect."),
    **dict.fromkeys(
        ("250", "251", "254"),
        Translation(DeclineCode.FRAUD_SUSPECTED, _D, "The fraud filters declined the payment."),
    ),
    ALREADY_VOIDED: Translation(
        DeclineCode.PROVIDER_REJECTED, _I, "The transaction has already been voided."
    ),
    ALREADY_CAPTURED: Translation(
        DeclineCode.PROVIDER_REJECTED, _I, "The transaction has already been captured."
    ),
}
"""Response reason code -> translation, for response codes 2 (declined) and 3 (error)."""

UNLISTED_DECLINE: Final = Translation(DeclineCode.GENERIC_DECLINE, _D, "The card was declined.")
UNLISTED_ERROR: Final = Translation(
    DeclineCode.PROVIDER_REJECTED, _I, "Authorize.net refused the transaction."
)

_REJECTED = Translation(DeclineCode.PROVIDER_REJECTED, _I, "Authorize.net refused the request.")
_BAD_CREDENTIALS = Translation(
    DeclineCode.PROVIDER_REJECTED, _I, "Authorize.net refused the API login id or key."
)
MESSAGES: Final[dict[str, Translation]] = {
    "E00001": Translation(
        DeclineCode.UNKNOWN_OUTCOME, _U, "Authorize.net failed while processing the request."
    ),
    "E00002": _REJECTED,
    "E00003": Translation(
        DeclineCode.PROVIDER_REJECTED, _I, "Authorize.net refused the request's shape."
    ),
    "E00004": _REJECTED,
    "E00005": _BAD_CREDENTIALS,
    "E00006": _BAD_CREDENTIALS,
    "E00007": _BAD_CREDENTIALS,
    "E00008": _BAD_CREDENTIALS,
    "E00009": _REJECTED,
    "E00027": UNLISTED_ERROR,
    "E00040": Translation(DeclineCode.PROVIDER_REJECTED, _I, "Authorize.net has no such record."),
    "E00104": Translation(DeclineCode.PROVIDER_UNAVAILABLE, _R, "Authorize.net is in maintenance."),
}
"""API message code (E000xx) -> translation, for requests refused as a whole."""


def for_reason(reason: str, response_code: str) -> Translation:
    """The translation of a transaction's reason code (declined = "2", error = "3")."""
    found = REASONS.get(reason)
    if found is not None:
        return found
    return UNLISTED_DECLINE if response_code == "2" else UNLISTED_ERROR


def for_message(code: str) -> Translation:
    """The translation of an API message code; an unknown E-code is a refusal."""
    return MESSAGES.get(code, _REJECTED)


_QUOTED_VALUE = re.compile(r"value '[^']*'")
_DIGIT_RUN = re.compile(r"\d{6,}")


def scrub(text: str) -> str:
    """A provider text with quoted values and long digit runs (card numbers) blanked."""
    return _DIGIT_RUN.sub("[digits]", _QUOTED_VALUE.sub("value '[redacted]'", text))[:300]
