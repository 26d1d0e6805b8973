"""Authorize.net's words: response codes, response reason codes and API message codes.

Every transaction reply carries three levels of result, and the simulator must say all three
the way the real gateway does (developer.authorize.net/api/reference/responseCodes.html):

- ``messages.resultCode`` (Ok | Error) with ``messages.message[].code``: I00001 for success,
  E00027 "The transaction was unsuccessful." for every declined or errored transaction, and
  E000xx codes for requests refused before any transaction exists (E00003 schema, E00007
  credentials);
- ``transactionResponse.responseCode``: "1" approved, "2" declined, "3" error, "4" held for
  review, "5" waiting for the payer (PayPal's "Need payer consent.", reused here for 3DS);
- the response reason code (``messages[].code`` when approved, ``errors[].errorCode``
  otherwise), whose number, not its text, callers are told to rely on.

The reason texts below are Authorize.net's published wording; several declines share the
text "This transaction has been declined." and differ only by number, as in the real API.
"""

from __future__ import annotations

from typing import Final

APPROVED: Final = 1
DECLINED: Final = 2
ERROR: Final = 3
HELD: Final = 4
PAYER_CONSENT: Final = 5

_DECLINED_TEXT = "This transaction has been declined."
_TRY_AGAIN_5 = "An error occurred during processing. Please try again in 5 minutes."

REASONS: Final[dict[int, tuple[int, str]]] = {
    1: (APPROVED, "This transaction has been approved."),
    2: (DECLINED, _DECLINED_TEXT),
    3: (DECLINED, _DECLINED_TEXT),
    4: (DECLINED, _DECLINED_TEXT),
    5: (ERROR, "A valid amount is required."),
    6: (ERROR, "The credit card number is invalid."),
    7: (ERROR, "The credit card expiration date is invalid."),
    8: (ERROR, "The credit card has expired."),
    11: (ERROR, "A duplicate transaction has been submitted."),
    16: (ERROR, "The transaction cannot be found."),
    17: (ERROR, "The merchant does not accept this type of credit card."),
    19: (ERROR, _TRY_AGAIN_5),
    20: (ERROR, _TRY_AGAIN_5),
    21: (ERROR, _TRY_AGAIN_5),
    22: (ERROR, _TRY_AGAIN_5),
    23: (ERROR, _TRY_AGAIN_5),
    27: (DECLINED, "The transaction has been declined because of an AVS mismatch."),
    33: (ERROR, "{field} cannot be left blank."),
    35: (ERROR, "An error occurred during processing. Call Merchant Service Provider."),
    39: (
        ERROR,
        "The supplied currency code is either invalid, not supported, not allowed for this"
        " merchant or doesn't have an exchange rate.",
    ),
    44: (DECLINED, _DECLINED_TEXT),
    45: (DECLINED, _DECLINED_TEXT),
    47: (
        ERROR,
        "The amount requested for settlement cannot be greater than the original amount"
        " authorized.",
    ),
    54: (ERROR, "The referenced transaction does not meet the criteria for issuing a credit."),
    55: (
        ERROR,
        "The sum of credits against the referenced transaction would exceed original debit amount.",
    ),
    65: (DECLINED, _DECLINED_TEXT),
    78: (ERROR, "The Card Code (CVV2/CVC2/CID) is invalid."),
    250: (DECLINED, _DECLINED_TEXT),
    251: (DECLINED, _DECLINED_TEXT),
    252: (HELD, "Your order has been received. Thank you for your business!"),
    253: (HELD, "Your order has been received. Thank you for your business!"),
    254: (DECLINED, _DECLINED_TEXT),
    310: (ERROR, "This transaction has already been voided."),
    311: (ERROR, "This transaction has already been captured."),
    2000: (PAYER_CONSENT, "Need payer consent."),
}
"""Reason code -> (response code, reason text)."""

DETAIL_DESCRIPTIONS: Final[dict[int, str]] = {1: "Approval"}
"""getTransactionDetails says "Approval" where createTransaction says the long text."""

OK: Final = ("I00001", "Successful.")
GENERAL_ERROR: Final = ("E00001", "An error occurred during processing. Please try again.")
SCHEMA_ERROR: Final = "E00003"
METHOD_INVALID: Final = ("E00004", "The name of the requested API method is invalid.")
AUTH_FAILED: Final = ("E00007", "User authentication failed due to invalid authentication values.")
UNSUCCESSFUL: Final = ("E00027", "The transaction was unsuccessful.")
NOT_FOUND: Final = ("E00040", "The record cannot be found.")

NAMESPACE: Final = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
"""The XML namespace every E00003 text names (the JSON API is a front for the XSD)."""


def reason_text(code: int, **fields: str) -> str:
    """The published text for ``code``, with ``{field}`` placeholders filled in."""
    text = REASONS[code][1]
    return text.format(**fields) if fields else text


def response_code_of(reason: int) -> int:
    """The response code (1-5) a reason code is reported under."""
    return REASONS[reason][0]
