"""Currencycloud's failures in the gateway's terms: one table of codes, one classifier.

An error reply is ``{"error_code": "<whole failure>", "error_messages": {"<field>":
[{"code", "message", "params"}]}}`` (a single object instead of the list has been recorded
too, and is read the same). How a reply is classified, first match wins:

1. HTTP 429, 503 and other 5xx: the shared meaning (``http.shared_status_error``): 429 and
   503 RETRIABLE with Retry-After, other 5xx UNKNOWN (Currencycloud may have acted).
2. HTTP 404 (``beneficiary_not_found``, ``payment_not_found`` ...): ``ProviderNotFound``.
3. Every reason becomes a ``FieldViolation`` (field renamed by ``FIELDS``, Currencycloud's
   code and message kept). The kind and code come from the reasons' codes in ``CODES``
   (a temporary refusal anywhere makes the whole error RETRIABLE, else the first specific
   code wins), then from ``error_code`` in ``CODES``, then from the status: 400, 401, 403 and
   422 are INVALID (our request or credentials are wrong; retrying cannot help), anything
   else UNKNOWN. With violations the error is a ``ProviderValidationError``.

A 401 reaching here is a refusal that survived re-login (``currencycloud_transport``), so it
means our credentials, and is INVALID.

``duplicate_request`` (a used ``unique_request_id`` with other terms, or possibly the same
ones: see ``sandbox.currencycloud.conversions``) is INVALID here; the client checks for it
(``is_duplicate_request``) and recovers by finding what the id created.

Messages are Currencycloud's English texts, capped in length; it never echoes credentials or
tokens in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import httpx

from gateway_svc.adapters.providers.http import retry_after_s, shared_status_error
from gateway_svc.domain.fx_provider import FieldViolation, ProviderNotFound, ProviderValidationError
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

_E, _D = ErrorKind, DeclineCode
_REJECTED = (_E.INVALID, _D.PROVIDER_REJECTED)
_CURRENCY = (_E.INVALID, _D.CURRENCY_NOT_SUPPORTED)
_AMOUNT = (_E.INVALID, _D.AMOUNT_INVALID)
_LATER = (_E.RETRIABLE, _D.PROVIDER_UNAVAILABLE)

CODES: Final[dict[str, tuple[ErrorKind, DeclineCode]]] = {
    # error_code values: the whole failure
    "auth_failed": _REJECTED,
    "auth_invalid_user_login_details": _REJECTED,
    "permission_denied": _REJECTED,
    "beneficiary_not_valid": _REJECTED,
    "beneficiary_create_failed": _REJECTED,
    "conversion_create_failed": _REJECTED,
    "payment_create_failed": _REJECTED,
    "payment_delete_failed": _REJECTED,
    "invalid_extra_parameters": _REJECTED,
    "too_many_requests": (_E.RETRIABLE, _D.RATE_LIMITED),
    "service_unavailable": _LATER,
    "internal_server_error": (_E.UNKNOWN, _D.UNKNOWN_OUTCOME),
    # reason codes that say more than "rejected"
    "duplicate_request": _REJECTED,
    "rate_could_not_be_retrieved": _LATER,
    "currency_pair_not_available_for_weekend": _LATER,
    "cannot_retrieve_bank_data": _LATER,
    "ccy_pair_is_not_tradeable": _CURRENCY,
    "invalid_buy_currency": _CURRENCY,
    "invalid_sell_currency": _CURRENCY,
    "invalid_currency": _CURRENCY,
    "buy_currency_is_in_invalid_format": _CURRENCY,
    "sell_currency_is_in_invalid_format": _CURRENCY,
    "currency_is_in_invalid_format": _CURRENCY,
    "unique_value_parameters": _CURRENCY,
    "amount_is_required": _AMOUNT,
    "amount_type_is_wrong": _AMOUNT,
    "amount_is_too_small": _AMOUNT,
    "amount_is_too_large": _AMOUNT,
    "amount_is_in_invalid_format": _AMOUNT,
    "conversion_above_limit": _AMOUNT,
    "conversion_below_limit": _AMOUNT,
    "payment_above_limit": _AMOUNT,
}
"""Currencycloud's codes (``error_code`` or a reason's ``code``) -> kind and DeclineCode."""

FIELDS: Final[dict[str, str]] = {
    "base": "",
    "username": "",
    "routing_code": "routing_code_value_1",
    "type": "payment_type",
    "duplicate_request": "request_id",
    "unique_request_id": "request_id",
    "beneficiary_external_reference": "request_id",
    "invalid_currency_pair": "",
    "currency_pair_not_available_for_weekend": "",
}
"""``error_messages`` keys that are not the request field of the same name -> our field
("" for the request as a whole). Every other key is already the field's name."""

MAX_MESSAGE_LEN = 300


def classify(response: httpx.Response) -> ProviderError:
    """The error for a non-2xx reply (see the module docstring for the order)."""
    error_code, violations = _parse(response)
    shared = shared_status_error(response, raw_code=error_code)
    if shared is not None:
        return shared
    status = response.status_code
    message = _message(violations, error_code, status)
    if status == 404:
        return ProviderNotFound(
            _E.INVALID, _D.PROVIDER_REJECTED, message, raw_code=error_code, http_status=status
        )
    kind, code = _kind(violations, error_code, status)
    if not violations:
        return ProviderError(kind, code, message, raw_code=error_code, http_status=status)
    return ProviderValidationError(
        kind,
        code,
        message,
        tuple(violations),
        raw_code=error_code,
        http_status=status,
        retry_after_s=retry_after_s(response) if kind is _E.RETRIABLE else None,
    )


def is_duplicate_request(error: ProviderError) -> bool:
    """True when Currencycloud refused a create for its already used ``unique_request_id``."""
    return isinstance(error, ProviderValidationError) and any(
        v.code == "duplicate_request" for v in error.violations
    )


def _kind(
    violations: list[FieldViolation], error_code: str, status: int
) -> tuple[ErrorKind, DeclineCode]:
    specific = [CODES[v.code] for v in violations if v.code in CODES]
    for entry in specific:
        if entry[0] is _E.RETRIABLE:
            return entry
    for entry in specific:
        if entry != _REJECTED:
            return entry
    if error_code in CODES:
        return CODES[error_code]
    if status in (400, 401, 403, 422):
        return _REJECTED
    return (_E.UNKNOWN, _D.UNKNOWN_OUTCOME)


def _parse(response: httpx.Response) -> tuple[str, list[FieldViolation]]:
    try:
        body: Any = response.json()
    except ValueError:
        return str(response.status_code), []
    if not isinstance(body, dict):
        return str(response.status_code), []
    error_code = body.get("error_code")
    raw = str(error_code) if isinstance(error_code, str) and error_code else ""
    messages = body.get("error_messages")
    violations = list(_violations(messages)) if isinstance(messages, dict) else []
    return raw or str(response.status_code), violations


def _violations(messages: dict[Any, Any]) -> Iterator[FieldViolation]:
    for key, reasons in messages.items():
        field = FIELDS.get(str(key), str(key))
        for reason in reasons if isinstance(reasons, list) else [reasons]:
            if isinstance(reason, dict):
                code, text = reason.get("code"), reason.get("message")
                yield FieldViolation(field, str(code or ""), str(text or "")[:MAX_MESSAGE_LEN])


def _message(violations: list[FieldViolation], error_code: str, status: int) -> str:
    if violations:
        first = violations[0]
        where = f" ({first.field})" if first.field else ""
        more = f" and {len(violations) - 1} more" if len(violations) > 1 else ""
        return f"Currencycloud refused the request{where}: {first.message}{more}"
    return f"Currencycloud answered HTTP {status} {error_code}"
