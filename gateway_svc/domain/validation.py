"""A create-payment request, checked before anything is stored or sent to a provider.

Every bad field gets its own ``FieldViolation`` (paths as the proto names them), and all of
them are raised together in one ``ValidationFailed``, so a merchant fixes a request in one
round trip. The limits are the tightest of the providers we forward to, so a request we accept
is never refused by a provider for its shape: Stripe's metadata (50 keys, 40-character keys
without brackets, 500-character values), Razorpay's 40-character ``receipt`` for the merchant
reference, Authorize.net's 255-character description.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from svc_kit.currencies import exponent, is_currency
from svc_kit.faults import FieldViolation

from .cards import card_violations, summarize
from .errors import ValidationFailed
from .payments import CaptureMethod, MethodSummary, Payment
from .providers import PaymentMethod

MAX_AMOUNT_MAJOR = 10**9
"""At most a billion major units per payment, whatever the exponent. It keeps every amount
(10^13 minor units at exponent 4) far below the ledger's per-entry cap of 10^15."""

# ISO 4217 fund codes and units of account: listed with exponents, but no card is charged
# in them, so a payment in one is a mistake (X-codes such as XAU are not in the table at all).
FUND_CODES = frozenset({"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"})

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LEN = 40
MAX_METADATA_VALUE_LEN = 500
MAX_REFERENCE_LEN = 40
MAX_DESCRIPTION_LEN = 255
MAX_TOKEN_LEN = 255

_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")
_PRINTABLE_RE = re.compile(r"^[^\x00-\x1f\x7f]*$")


@dataclass(frozen=True)
class NewPayment:
    """What a merchant asks for when creating a payment.

    ``capture_method`` is None when the caller sent a value we do not know; the entrypoint
    maps the proto's UNSPECIFIED to AUTOMATIC (Stripe's default).
    """

    merchant_id: str
    amount_minor: int
    currency: str
    method: PaymentMethod
    capture_method: CaptureMethod | None = CaptureMethod.AUTOMATIC
    merchant_reference: str = ""
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


def check_new_payment(request: NewPayment, today: date) -> None:
    """Raise one ValidationFailed with a violation per bad field, or return."""
    v = amount_violations(request.amount_minor, request.currency, "amount")
    v += method_violations(request.method, today, "payment_method")
    if request.capture_method is None:
        v.append(FieldViolation("capture_method", "must be AUTOMATIC or MANUAL"))
    v += text_violations("merchant_reference", request.merchant_reference, MAX_REFERENCE_LEN)
    v += text_violations("description", request.description, MAX_DESCRIPTION_LEN)
    v += metadata_violations("metadata", request.metadata)
    if v:
        first = v[0]
        more = f" (and {len(v) - 1} more)" if len(v) > 1 else ""
        raise ValidationFailed(
            f"invalid payment: {first.field} {first.description}{more}", violations=v
        )


def open_payment(request: NewPayment, payment_id: str, now: datetime) -> Payment:
    """Validate a request and build its CREATED payment; the card's number stays behind."""
    check_new_payment(request, now.date())
    assert request.capture_method is not None
    card = request.method.card
    token = request.method.token or ""
    summary = MethodSummary(
        card=summarize(card) if card is not None else None,
        token_kind="" if card is not None else token_kind(token),
    )
    return Payment(
        id=payment_id,
        merchant_id=request.merchant_id,
        amount_minor=request.amount_minor,
        currency=request.currency,
        capture_method=request.capture_method,
        method=summary,
        create_time=now,
        update_time=now,
        merchant_reference=request.merchant_reference,
        description=request.description,
        metadata=dict(request.metadata),
    )


def token_kind(token: str) -> str:
    """The prefix naming a token's kind (``pm`` of ``pm_card_visa``): enough for support,
    and never the token itself, which some providers treat as a reusable credential."""
    head, sep, _ = token.partition("_")
    return head if sep and head.isalnum() else "token"


def amount_violations(amount_minor: int, currency: str, path: str) -> list[FieldViolation]:
    """A positive amount within MAX_AMOUNT_MAJOR of a payable ISO 4217 currency."""
    out: list[FieldViolation] = []
    if not is_currency(currency):
        out.append(FieldViolation(f"{path}.currency_code", "must be an ISO 4217 currency code"))
    elif currency in FUND_CODES:
        out.append(FieldViolation(f"{path}.currency_code", "is a fund code, not a currency"))
    limit = MAX_AMOUNT_MAJOR * 10 ** exponent(currency) if is_currency(currency) else None
    if amount_minor <= 0:
        out.append(FieldViolation(f"{path}.minor_units", "must be a positive amount"))
    elif limit is not None and amount_minor > limit:
        out.append(FieldViolation(f"{path}.minor_units", f"must be at most {limit} for {currency}"))
    return out


def method_violations(method: PaymentMethod, today: date, path: str) -> list[FieldViolation]:
    """Exactly one of token and card, each well formed."""
    has_token = bool(method.token)
    if has_token == (method.card is not None):
        return [FieldViolation(path, "exactly one of token and card must be set")]
    if method.card is not None:
        return card_violations(method.card, today, f"{path}.card")
    token = method.token or ""
    if len(token) > MAX_TOKEN_LEN or not _TOKEN_RE.match(token):
        return [FieldViolation(f"{path}.token", "must be 1 to 255 printable ASCII characters")]
    return []


def text_violations(path: str, value: str, max_len: int) -> list[FieldViolation]:
    """At most ``max_len`` characters, no control characters (they break provider forms)."""
    if len(value) > max_len:
        return [FieldViolation(path, f"must be at most {max_len} characters")]
    if not _PRINTABLE_RE.match(value):
        return [FieldViolation(path, "must not contain control characters")]
    return []


def metadata_violations(path: str, metadata: Mapping[str, str]) -> list[FieldViolation]:
    """Stripe's metadata limits, one violation per offending key."""
    out: list[FieldViolation] = []
    if len(metadata) > MAX_METADATA_KEYS:
        out.append(FieldViolation(path, f"must have at most {MAX_METADATA_KEYS} keys"))
    for key, value in sorted(metadata.items()):
        # Stripe encodes metadata as metadata[key]=value: a bracket in a key breaks the form.
        if not 1 <= len(key) <= MAX_METADATA_KEY_LEN or "[" in key or "]" in key:
            out.append(FieldViolation(f"{path}[{key!r}]", "key must be 1 to 40 characters, no []"))
        elif len(value) > MAX_METADATA_VALUE_LEN:
            out.append(FieldViolation(f"{path}[{key!r}]", "value must be at most 500 characters"))
    return out
