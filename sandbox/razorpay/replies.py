"""Razorpay's reply bodies: its entities' JSON and its one error shape.

Every Razorpay error is ``{"error": {"code", "description", "source", "step", "reason",
"metadata", "field"}}`` (razorpay.com/docs/errors): ``code`` is BAD_REQUEST_ERROR,
GATEWAY_ERROR or SERVER_ERROR, ``reason`` is the machine-readable cause (``card_declined``,
``input_validation_failed``) and ``metadata`` names the payment and order a card failure
belongs to. Errors that are not about a payment carry ``"NA"`` for source, step and reason,
as the real API does.

Statuses follow the real API too: validation failures, unknown ids and unknown URLs are all
400 (Razorpay does not use 404), bad credentials 401, an idempotency conflict 409.
Descriptions are Razorpay's documented wording where the docs give it, else Laravel-style
validation text in the same voice ("The amount field is required."), since Razorpay's API
is a Laravel application.
"""

from __future__ import annotations

import json
import math

from sandbox.core import SimResponse

BAD_REQUEST = "BAD_REQUEST_ERROR"
GATEWAY_ERROR = "GATEWAY_ERROR"
SERVER_ERROR = "SERVER_ERROR"

_JSON_HEADERS = {"content-type": "application/json; charset=UTF-8"}
_NA = "NA"


def json_reply(status: int, payload: object) -> SimResponse:
    """A compact JSON reply, the content type Razorpay sends."""
    return SimResponse(status, json.dumps(payload, separators=(",", ":")).encode(), _JSON_HEADERS)


def error_body(
    description: str,
    *,
    code: str = BAD_REQUEST,
    field: str | None = None,
    source: str = _NA,
    step: str = _NA,
    reason: str = _NA,
    metadata: dict[str, str] | None = None,
) -> dict[str, object]:
    """Razorpay's error object, keys in the order its docs print them."""
    error: dict[str, object] = {
        "code": code,
        "description": description,
        "source": source,
        "step": step,
        "reason": reason,
        "metadata": metadata or {},
    }
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_reply(status: int, description: str, **kwargs: object) -> SimResponse:
    """One error reply; ``kwargs`` as for ``error_body``."""
    return json_reply(status, error_body(description, **kwargs))  # type: ignore[arg-type]


def invalid(description: str, field: str | None = None) -> SimResponse:
    """A 400 for a request field Razorpay's validation refuses."""
    return error_reply(
        400,
        description,
        field=field,
        source="business",
        step="payment_initiation",
        reason="input_validation_failed",
    )


def refused(description: str) -> SimResponse:
    """A 400 for a request that is well formed but not allowed now (a state rule)."""
    return error_reply(400, description)


def unknown_id() -> SimResponse:
    """An id that names nothing: Razorpay answers 400, not 404."""
    return error_reply(400, "The id provided does not exist")


def unknown_url() -> SimResponse:
    """A path or method Razorpay does not serve: also a 400."""
    return error_reply(400, "The requested URL was not found on the server.")


def unauthorized(description: str) -> SimResponse:
    """401 for missing or wrong Basic credentials."""
    return error_reply(401, description)


def fault(status: int, retry_after_s: float | None) -> SimResponse:
    """Razorpay's body for a scripted 429 or 5xx, with Retry-After when given."""
    if status == 429:
        body = error_body("Too many requests")
    elif status == 502:
        body = error_body(
            "Payment processing failed due to error at bank or wallet gateway", code=GATEWAY_ERROR
        )
    elif status >= 500:
        body = error_body(
            "The server encountered an error. The incident has been reported to admins.",
            code=SERVER_ERROR,
        )
    else:
        body = error_body("invalid request sent")
    headers = dict(_JSON_HEADERS)
    if retry_after_s is not None:
        # Retry-After is whole seconds; rounding up never asks a client to come back early.
        headers["retry-after"] = str(max(0, math.ceil(retry_after_s)))
    return SimResponse(status, json.dumps(body, separators=(",", ":")).encode(), headers)
