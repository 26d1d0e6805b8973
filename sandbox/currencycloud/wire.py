"""Currencycloud's wire conventions shared by every simulated endpoint: bodies, errors, money.

Requests are form bodies (``application/x-www-form-urlencoded`` or ``multipart/form-data``;
the API reference documents multipart, the official SDKs send urlencoded) and query strings.
Replies are JSON with an ``X-Request-Id`` header (a 19-digit number, as Currencycloud's are).
Every error has Currencycloud's shape, recorded in the official SDKs' test cassettes::

    {"error_code": "beneficiary_not_valid",
     "error_messages": {"account_number": [{"code": "account_number_is_missing",
                                            "message": "Account number is missing",
                                            "params": {}}]}}

``error_code`` names the whole failure (``auth_failed``, ``conversion_create_failed`` ...);
each key of ``error_messages`` is a field (or ``base``) with one or more reasons.

Money: amounts are decimal strings in major units. Currencycloud's own replies show two
decimals for two-decimal currencies (``"1000.00"``); the simulator writes every amount with
its currency's ISO 4217 exponent (``"10000"`` JPY, ``"100.000"`` KWD) and accepts input with
at most that many decimals.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from urllib.parse import parse_qsl

from sandbox.core import SimRequest, SimResponse
from svc_kit.currencies import exponent, is_currency

Reason = tuple[str, str, Mapping[str, object]]
"""One entry of ``error_messages[field]``: (code, message, params)."""
Problems = dict[str, list[Reason]]

_REQUEST_IDS = itertools.count(3_316_292_201_415_934_524)
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_JSON_TYPE = "application/json;charset=utf-8"
MAX_AMOUNT = Decimal(10) ** 12


class CcError(Exception):
    """A refusal to answer with Currencycloud's error body (raised by endpoint code)."""

    def __init__(self, status: int, error_code: str, problems: Problems) -> None:
        super().__init__(error_code)
        self.status = status
        self.error_code = error_code
        self.problems = problems

    def reply(self, headers: Mapping[str, str] | None = None) -> SimResponse:
        """The error as Currencycloud sends it."""
        return error_reply(self.status, self.error_code, self.problems, headers)


def problem(field: str, code: str, message: str, **params: object) -> Problems:
    """One field's one reason, as a Problems mapping."""
    return {field: [(code, message, params)]}


def add(problems: Problems, field: str, code: str, message: str, **params: object) -> None:
    """Record one more reason against ``field``."""
    problems.setdefault(field, []).append((code, message, params))


def request_id() -> str:
    """A fresh X-Request-Id value."""
    return str(next(_REQUEST_IDS))


def reply(status: int, payload: object, headers: Mapping[str, str] | None = None) -> SimResponse:
    """A JSON reply with Currencycloud's content type and a fresh X-Request-Id."""
    merged = {"content-type": _JSON_TYPE, "x-request-id": request_id(), **(headers or {})}
    return SimResponse(status, json.dumps(payload, separators=(",", ":")).encode(), merged)


def error_reply(
    status: int, error_code: str, problems: Problems, headers: Mapping[str, str] | None = None
) -> SimResponse:
    """Currencycloud's error body for ``problems``."""
    messages = {
        field: [{"code": c, "message": m, "params": dict(p)} for c, m, p in reasons]
        for field, reasons in problems.items()
    }
    return reply(status, {"error_code": error_code, "error_messages": messages}, headers)


def auth_failed() -> CcError:
    """The 401 every refused token or login gets (verbatim from the SDKs' cassettes)."""
    return CcError(
        401,
        "auth_failed",
        problem(
            "username",
            "invalid_supplied_credentials",
            "Authentication failed with the supplied credentials",
        ),
    )


def not_found(kind: str) -> CcError:
    """``<kind>_not_found`` (404), as for an unknown beneficiary id."""
    code = f"{kind}_not_found"
    return CcError(404, code, problem("id", code, f"{kind.capitalize()} was not found for this id"))


def form(request: SimRequest) -> dict[str, str]:
    """The body's fields (urlencoded or multipart), then the query's for missing keys.

    Raises CcError 400 for a body that is neither form encoding can read.
    """
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            fields = _multipart(content_type, request.body)
        else:
            fields = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise CcError(
            400, "invalid_request", problem("base", "invalid_body", "The body is not a form")
        ) from None
    return {**request.query, **fields}


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("not multipart")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload.decode("utf-8") if isinstance(payload, bytes) else ""
    return fields


def is_uuid(value: str) -> bool:
    """True for a lower-case canonical UUID (Currencycloud's ids)."""
    return bool(_UUID.match(value))


def new_uuid() -> str:
    """A fresh resource id."""
    return str(uuid.uuid4())


def now_iso(moment: datetime | None = None) -> str:
    """``2017-05-15T10:34:26+00:00``, Currencycloud's timestamp format."""
    return (moment or datetime.now(UTC)).replace(microsecond=0).isoformat()


def currency_problems(fields: Mapping[str, str], name: str, problems: Problems) -> str:
    """``fields[name]`` when it is an ISO 4217 code; otherwise records why and returns ""."""
    value = fields.get(name, "")
    if not value:
        add(problems, name, f"{name}_is_required", f"{name} is required")
    elif not is_currency(value):
        add(
            problems,
            name,
            f"{name}_is_in_invalid_format",
            f"{name} is not a valid ISO 4217 currency code",
            type="currency",
        )
    else:
        return value
    return ""


def amount_problems(
    fields: Mapping[str, str], currency: str, problems: Problems, name: str = "amount"
) -> Decimal | None:
    """``fields[name]`` as a positive Decimal within ``currency``'s precision, else None."""
    raw = fields.get(name, "")
    if not raw:
        add(problems, name, f"{name}_is_required", f"{name} is required")
        return None
    if not _DECIMAL.match(raw):
        add(problems, name, f"{name}_type_is_wrong", f"{name} should be of numeric type")
        return None
    value = Decimal(raw)
    if value >= MAX_AMOUNT:
        # Far beyond any real limit, and it keeps every later product inside Decimal's
        # 28 digits of precision.
        add(problems, name, f"{name}_is_too_large", f"{name} can not be larger than {MAX_AMOUNT}")
        return None
    if value < 1:
        add(problems, name, f"{name}_is_too_small", f"{name} can not be smaller than 1", minvalue=1)
        return None
    places = exponent(currency) if currency else 2
    if value != value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR):
        add(
            problems,
            name,
            f"{name}_is_in_invalid_format",
            f"{name} should be of numeric type with {places} dp",
            type="numeric_with_precision",
            precision=places,
        )
        return None
    return value


def money(value: Decimal, currency: str, *, up: bool = False) -> Decimal:
    """``value`` at ``currency``'s precision, rounded down (or up, ``up=True``)."""
    step = Decimal(1).scaleb(-exponent(currency))
    return value.quantize(step, rounding=ROUND_CEILING if up else ROUND_FLOOR)


def amount_text(value: Decimal, currency: str) -> str:
    """An amount as the wire carries it: exactly ``currency``'s number of decimals."""
    return f"{money(value, currency):.{exponent(currency)}f}"


def minor(value: str, currency: str) -> int:
    """A wire amount as ISO minor units (for ``snapshot()``)."""
    return int(Decimal(value).scaleb(exponent(currency)))


def page(items: Sequence[object], key: str) -> dict[str, object]:
    """A find reply: ``{key: items, "pagination": {...}}`` (one page holds everything)."""
    return {
        key: list(items),
        "pagination": {
            "total_entries": len(items),
            "total_pages": 1,
            "current_page": 1,
            "per_page": max(25, len(items)),
            "previous_page": -1,
            "next_page": -1,
            "order": "created_at",
            "order_asc_desc": "asc",
        },
    }
