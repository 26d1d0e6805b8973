"""Shape checks for ``POST /v2/checkout/orders``, answered the way PayPal answers them.

Schema violations are 400 ``INVALID_REQUEST`` with the JSON-pointer-like ``field`` PayPal
uses (``/purchase_units/@reference_id=='default'/amount/value``); business rules (an expired
card, too many decimals, a currency PayPal does not take) are 422 ``UNPROCESSABLE_ENTITY``.
The simulator supports one purchase unit per order (PayPal allows ten); more are refused as
``INVALID_ARRAY_MAX_ITEMS``, a documented limit of the sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.cards import BY_TOKEN, brand_of
from sandbox.core import SimRequest, SimResponse
from sandbox.paypal.model import Processor
from sandbox.paypal.outcomes import approved, card_outcome
from sandbox.paypal.wire import PAYPAL_DECIMALS, error, parse_units, unprocessable

_EXPIRY = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_LIMITS = {"reference_id": 256, "custom_id": 127, "invoice_id": 127, "description": 127}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A create-order request that passed every check."""

    intent: str
    currency: str
    units: int
    texts: dict[str, str]
    """reference_id, custom_id, invoice_id, description ("" when absent)."""
    source: dict[str, object]
    """The payment source as PayPal echoes it (card brand and last digits only)."""
    processor: Processor | None
    has_source: bool
    """False when no payment_source was given: the payer approves on PayPal's site."""


def bad(issue: str, field: str, description: str, value: str | None = None) -> SimResponse:
    """A 400 naming the offending field."""
    return error("INVALID_REQUEST", issue, description, field=field, value=value)


def json_object(request: SimRequest) -> dict[str, object] | SimResponse:
    """The optional JSON object a call takes (an empty body means ``{}``), or PayPal's 400."""
    if not request.body.strip():
        return {}
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return bad("MALFORMED_REQUEST_JSON", "/", "The request JSON is not well formed.")
    return body


def missing(field: str) -> SimResponse:
    return bad("MISSING_REQUIRED_PARAMETER", field, "A required field / parameter is missing.")


def invalid(field: str, value: str | None = None) -> SimResponse:
    return bad("INVALID_PARAMETER_VALUE", field, "The value of a field is invalid.", value)


def parse_order(body: object) -> OrderRequest | SimResponse:
    """The request, or PayPal's refusal naming the first offending field."""
    if not isinstance(body, dict):
        return bad("MALFORMED_REQUEST_JSON", "/", "The request JSON is not well formed.")
    intent = body.get("intent")
    if intent is None:
        return missing("/intent")
    if intent not in ("CAPTURE", "AUTHORIZE"):
        return invalid("/intent", str(intent))
    units = body.get("purchase_units")
    if not isinstance(units, list) or not units:
        return missing("/purchase_units")
    if len(units) > 1:
        return bad(
            "INVALID_ARRAY_MAX_ITEMS",
            "/purchase_units",
            "The number of items in an array parameter is too large.",
        )
    unit = units[0]
    if not isinstance(unit, dict):
        return invalid("/purchase_units/0")
    texts = _texts(unit)
    if isinstance(texts, SimResponse):
        return texts
    amount = _amount(unit.get("amount"), f"/purchase_units/@reference_id=='{texts['ref']}'")
    if isinstance(amount, SimResponse):
        return amount
    source = _source(body.get("payment_source"))
    if isinstance(source, SimResponse):
        return source
    echo, processor = source
    del texts["ref"]
    return OrderRequest(intent, amount[0], amount[1], texts, echo, processor, bool(echo))


def _texts(unit: dict[str, object]) -> dict[str, str] | SimResponse:
    texts: dict[str, str] = {}
    ref = unit.get("reference_id") or "default"
    for key, limit in _LIMITS.items():
        value = unit.get(key, "")
        path = f"/purchase_units/@reference_id=='{ref}'/{key}"
        if not isinstance(value, str):
            return invalid(path)
        if len(value) > limit:
            return bad(
                "INVALID_STRING_LENGTH",
                path,
                "The value of a field is either too short or too long.",
            )
        texts[key] = value
    texts["reference_id"] = texts["reference_id"] or "default"
    texts["ref"] = str(ref)
    return texts


def _amount(amount: object, prefix: str) -> tuple[str, int] | SimResponse:
    if not isinstance(amount, dict):
        return missing(f"{prefix}/amount")
    currency = amount.get("currency_code")
    if currency is None:
        return missing(f"{prefix}/amount/currency_code")
    if not isinstance(currency, str) or len(currency) != 3:
        return invalid(f"{prefix}/amount/currency_code", str(currency))
    if currency not in PAYPAL_DECIMALS:
        return unprocessable(
            "CURRENCY_NOT_SUPPORTED",
            "Currency code is unsupported.",
            f"{prefix}/amount/currency_code",
        )
    if "value" not in amount:
        return missing(f"{prefix}/amount/value")
    units = parse_units(amount["value"], currency)
    if units == "DECIMAL_PRECISION":
        return unprocessable(
            "DECIMAL_PRECISION",
            "If the currency supports decimals, only two decimal place precision is supported.",
            f"{prefix}/amount/value",
        )
    if isinstance(units, str):
        return bad(
            "INVALID_PARAMETER_SYNTAX",
            f"{prefix}/amount/value",
            "The value of a field does not conform to the expected format.",
            str(amount["value"]),
        )
    if units <= 0:
        return unprocessable(
            "CANNOT_BE_ZERO_OR_NEGATIVE",
            "Must be greater than zero.",
            f"{prefix}/amount/value",
        )
    return currency, units


def _source(source: object) -> tuple[dict[str, object], Processor | None] | SimResponse:
    if source is None:
        return {}, approved()
    if not isinstance(source, dict) or len(source) != 1:
        return invalid("/payment_source")
    kind, value = next(iter(source.items()))
    if not isinstance(value, dict):
        return invalid(f"/payment_source/{kind}")
    if kind == "card" and "vault_id" not in value:
        return _card(value)
    if kind in ("card", "paypal"):
        vault_id = value.get("vault_id")
        if not isinstance(vault_id, str) or not vault_id:
            return missing(f"/payment_source/{kind}/vault_id")
        return _vaulted(kind, vault_id)
    if kind == "token":
        token_id = value.get("id")
        if not isinstance(token_id, str) or not token_id:
            return missing("/payment_source/token/id")
        if value.get("type") not in ("BILLING_AGREEMENT", "PAYMENT_METHOD_TOKEN"):
            return invalid("/payment_source/token/type", str(value.get("type")))
        return _vaulted("token", token_id)
    return invalid("/payment_source", kind)


def _vaulted(kind: str, vault_id: str) -> tuple[dict[str, object], Processor | None]:
    """A vaulted instrument succeeds, unless its id is a shared test token with an outcome."""
    card = BY_TOKEN.get(vault_id)
    processor = card_outcome(card.number, "") if card else approved()
    vault = {"vault": {"id": vault_id, "status": "VAULTED"}}
    if kind == "paypal":
        echo: dict[str, object] = {
            "paypal": {"email_address": "payer@paymesh.example", "attributes": vault}
        }
    elif kind == "card":
        last = card.number[-4:] if card else "1111"
        echo = {"card": {"last_digits": last, "type": "CREDIT", "attributes": vault}}
    else:
        echo = {"token": {"id": vault_id, "type": "PAYMENT_METHOD_TOKEN"}}
    return echo, processor


def _card(card: dict[str, object]) -> tuple[dict[str, object], Processor | None] | SimResponse:
    number, expiry = card.get("number"), card.get("expiry")
    if number is None:
        return missing("/payment_source/card/number")
    if not isinstance(number, str) or not number.isdigit() or not 13 <= len(number) <= 19:
        return invalid("/payment_source/card/number")  # never echo a card number back
    if expiry is None:
        return missing("/payment_source/card/expiry")
    if not isinstance(expiry, str) or not _EXPIRY.match(expiry):
        return bad(
            "INVALID_PARAMETER_SYNTAX",
            "/payment_source/card/expiry",
            "The value of a field does not conform to the expected format.",
            str(expiry),
        )
    if expiry < datetime.now(UTC).strftime("%Y-%m"):
        return unprocessable("CARD_EXPIRED", "The card is expired.", "/payment_source/card/expiry")
    brand = brand_of(number)
    code = card.get("security_code")
    if code is not None:
        want = 4 if brand == "amex" else 3
        if not isinstance(code, str) or not code.isdigit() or len(code) != want:
            return unprocessable(
                "INVALID_SECURITY_CODE_LENGTH",
                "The CVC code length is invalid for the specified card type.",
                "/payment_source/card/security_code",
            )
    name = card.get("name", "")
    if not isinstance(name, str) or len(name) > 300:
        return invalid("/payment_source/card/name")
    echo: dict[str, object] = {
        "last_digits": number[-4:],
        "expiry": expiry,
        "brand": brand.upper() if brand != "unknown" else "UNKNOWN",
        "type": "CREDIT",
    }
    if name:
        echo["name"] = name
    return {"card": echo}, card_outcome(number, name)
