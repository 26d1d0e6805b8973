"""PayPal's wire conventions, shared by every simulated endpoint: ids, errors, money, links.

Error bodies follow PayPal's REST error schema (``error_400`` ... ``error_422`` in the public
OpenAPI specs, paypal/paypal-rest-api-specifications)::

    {"name": "UNPROCESSABLE_ENTITY", "message": "...", "debug_id": "90957fca61718",
     "details": [{"field": "...", "value": "...", "location": "body",
                  "issue": "REFUND_AMOUNT_EXCEEDED", "description": "..."}],
     "links": [{"href": ".../errors/#REFUND_AMOUNT_EXCEEDED", "rel": "information_link"}]}

while OAuth failures use the RFC 6749 shape PayPal's token service answers with
(``{"error": "invalid_client", "error_description": "..."}``). Every reply carries the
``Paypal-Debug-Id`` header, as PayPal's do.

Money is a decimal string in major units (``"10.50"``). PayPal's own precision differs from
ISO 4217 for a few currencies (HUF and TWD take no decimals at PayPal although ISO gives them
two), so the simulator keeps its amounts as integers of PayPal's smallest unit (cents for USD,
yen for JPY, whole forints for HUF) and converts to ISO minor units only for ``snapshot()``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from sandbox.core import SimResponse
from svc_kit.currencies import exponent

_TWO_DECIMALS = (
    "AUD BRL CAD CNY CZK DKK EUR HKD ILS MYR MXN NZD NOK PHP PLN GBP RUB SGD SEK CHF THB USD"
)
PAYPAL_DECIMALS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS.split(" "), 2),
    # PayPal's currency-codes page: "This currency does not support decimals".
    **dict.fromkeys(("HUF", "JPY", "TWD"), 0),
}
"""The currencies PayPal's REST APIs accept and how many decimals each value may carry."""

_VALUE = re.compile(r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$")
"""PayPal's ``money.value`` pattern, from the Orders v2 spec."""

MESSAGES: dict[str, str] = {
    "INVALID_REQUEST": "Request is not well-formed, syntactically incorrect, or violates schema.",
    "VALIDATION_ERROR": "Invalid data provided",
    "AUTHENTICATION_FAILURE": (
        "Authentication failed due to invalid authentication credentials or a missing"
        " Authorization header."
    ),
    "NOT_AUTHORIZED": "Authorization failed due to insufficient permissions.",
    "RESOURCE_NOT_FOUND": "The specified resource does not exist.",
    "UNPROCESSABLE_ENTITY": (
        "The requested action could not be performed, semantically incorrect, or failed"
        " business validation."
    ),
    "RATE_LIMIT_REACHED": "Too many requests. Blocked due to rate limiting.",
    "INTERNAL_SERVER_ERROR": "An internal server error has occurred.",
    "SERVICE_UNAVAILABLE": "Service Unavailable.",
}

_STATUS_OF_NAME = {
    "INVALID_REQUEST": 400,
    "VALIDATION_ERROR": 400,
    "AUTHENTICATION_FAILURE": 401,
    "NOT_AUTHORIZED": 403,
    "RESOURCE_NOT_FOUND": 404,
    "UNPROCESSABLE_ENTITY": 422,
    "RATE_LIMIT_REACHED": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}

_POW10 = (1, 10, 100, 1000, 10_000)

_DOCS = "https://developer.paypal.com/api/rest/reference/orders/v2/errors/"


def new_id() -> str:
    """A PayPal-style resource id: 17 upper-case letters and digits (``5T710786T06567114``)."""
    return base64.b32encode(os.urandom(11)).decode("ascii")[:17]


def debug_id() -> str:
    """PayPal's per-request correlation id (13 hex characters)."""
    return os.urandom(7).hex()[:13]


def now_iso() -> str:
    """PayPal's timestamp format: UTC, whole seconds, ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reply(
    status: int, payload: object | None, headers: dict[str, str] | None = None
) -> SimResponse:
    """A JSON reply (or an empty one for ``payload=None``) with PayPal's debug-id header."""
    merged = {"paypal-debug-id": debug_id(), **(headers or {})}
    if payload is None:
        return SimResponse(status, b"", merged)
    return SimResponse.of_json(status, payload, merged)


def error(
    name: str,
    issue: str = "",
    description: str = "",
    *,
    field: str = "",
    value: str | None = None,
    location: str = "body",
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> SimResponse:
    """PayPal's error reply for ``name`` (its HTTP status follows unless given), with one
    detail if ``issue`` is given."""
    dbg = debug_id()
    payload: dict[str, object] = {"name": name, "message": MESSAGES[name], "debug_id": dbg}
    if issue:
        detail: dict[str, str] = {"issue": issue, "description": description or issue}
        if field:
            detail["field"] = field
            detail["location"] = location
        if value is not None:
            detail["value"] = value
        payload["details"] = [detail]
        payload["links"] = [
            {"href": f"{_DOCS}#{issue}", "rel": "information_link", "method": "GET"}
        ]
    merged = {"paypal-debug-id": dbg, **(headers or {})}
    return SimResponse.of_json(status or _STATUS_OF_NAME[name], payload, merged)


def oauth_error(status: int, code: str, description: str) -> SimResponse:
    """The token service's (and the token checker's) RFC 6749 error body."""
    body = {"error": code, "error_description": description}
    return SimResponse.of_json(status, body, {"paypal-debug-id": debug_id()})


def unprocessable(issue: str, description: str, field: str = "") -> SimResponse:
    """The 422 every business-rule refusal uses."""
    return error("UNPROCESSABLE_ENTITY", issue, description, field=field)


def not_found(field: str, value: str) -> SimResponse:
    """404 for an unknown order, authorization, capture or refund id."""
    return error(
        "RESOURCE_NOT_FOUND",
        "INVALID_RESOURCE_ID",
        "Specified resource ID does not exist. Please check the resource ID and try again.",
        field=field,
        value=value,
        location="path",
    )


def parse_units(value: object, currency: str) -> int | str:
    """PayPal's ``value`` string as an integer of its smallest unit, or the issue refusing it.

    Returns ``"INVALID_PARAMETER_SYNTAX"`` (400) for a malformed string and
    ``"DECIMAL_PRECISION"`` (422) for more decimals than PayPal allows in ``currency``.
    """
    if not isinstance(value, str) or len(value) > 32 or not _VALUE.match(value):
        return "INVALID_PARAMETER_SYNTAX"
    whole, _, frac = value.partition(".")
    decimals = PAYPAL_DECIMALS[currency]
    if len(frac.rstrip("0")) > decimals:
        return "DECIMAL_PRECISION"
    frac = (frac + "0" * decimals)[:decimals]
    sign = -1 if whole.startswith("-") else 1
    return sign * int((whole.lstrip("-") or "0") + frac)


def format_units(units: int, currency: str) -> str:
    """An integer of PayPal's smallest unit as PayPal's ``value`` string."""
    decimals = PAYPAL_DECIMALS[currency]
    if decimals == 0:
        return str(units)
    text = str(units).rjust(decimals + 1, "0")
    return f"{text[:-decimals]}.{text[-decimals:]}"


def money(units: int, currency: str) -> dict[str, str]:
    """PayPal's ``money`` object."""
    return {"currency_code": currency, "value": format_units(units, currency)}


def iso_minor(units: int, currency: str) -> int:
    """PayPal units as ISO 4217 minor units (100 HUF at PayPal is 10000 HUF minor units)."""
    shift = exponent(currency) - PAYPAL_DECIMALS[currency]
    assert shift >= 0, "PayPal never allows more decimals than ISO 4217"
    return units * _POW10[shift]


def wants_full(headers: Mapping[str, str]) -> bool:
    """True for ``Prefer: return=representation``; PayPal's default is a minimal reply."""
    return "return=representation" in headers.get("prefer", "")


def link(href: str, rel: str, method: str = "GET") -> dict[str, str]:
    """One HATEOAS link."""
    return {"href": href, "rel": rel, "method": method}


def canonical(body: bytes) -> str:
    """A JSON body in one spelling (sorted keys), to compare two requests' parameters."""
    try:
        return json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return body.decode("utf-8", "replace")
