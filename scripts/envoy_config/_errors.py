"""One error shape on the REST listener: Envoy's own replies become google.rpc.Status JSON.

Errors from the services are already ``{"code", "message", "details"}``: the
transcoder converts their grpc-status (convert_grpc_status). ext_authz denials
carry identity's own JSON body. What is left are the replies Envoy makes up
itself (local replies), which are plain text or empty; the mappers below
rewrite each into the same shape, with the gRPC code that matches the HTTP
status and the original text as the message (``%LOCAL_REPLY_BODY%``).
Mappers apply to local replies only, never to a service's own reply, and the
first match wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERROR_DOMAIN = "edge.paymesh.local"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
# ext_authz's flag (UnauthorizedExternalService): a denial, or a failed Check.
AUTHZ_FLAG = "UAEX"
# ext_authz's status_on_error: identity unreachable or Check failing.
AUTHZ_ERROR_STATUS = 503
UNAVAILABLE = 14
UNKNOWN = 2
# HTTP status of a local reply -> (gRPC code, ErrorInfo reason). The codes are
# the inverse of the transcoder's gRPC -> HTTP table (edge.md), so a client
# that reads either the status or the code draws the same conclusion.
LOCAL_REPLY_CODES: Mapping[int, tuple[int, str]] = {
    400: (3, "INVALID_REQUEST"),  # transcoder: unknown query parameter, bad JSON
    401: (16, "UNAUTHENTICATED"),
    403: (7, "PERMISSION_DENIED"),
    404: (5, "NOT_FOUND"),  # transcoder: no such REST route; the catch-all route
    409: (6, "CONFLICT"),
    # INVALID_ARGUMENT, not RESOURCE_EXHAUSTED: the same body is refused every
    # time, and code 8 reads as 429 ("slow down and retry") to a client that
    # maps codes back to HTTP. A retry can only succeed with a smaller body.
    413: (3, "REQUEST_TOO_LARGE"),
    429: (8, "RATE_LIMITED"),
    500: (13, "INTERNAL"),
    501: (12, "NOT_IMPLEMENTED"),
    502: (14, "BAD_GATEWAY"),
    503: (14, "UPSTREAM_UNAVAILABLE"),  # no healthy replica, connect failure
    504: (4, "UPSTREAM_TIMEOUT"),
}


def status_body(code: int, message: str, reason: str) -> dict[str, Any]:
    """A google.rpc.Status with one ErrorInfo, as an Envoy json_format.

    ErrorInfo.metadata carries Envoy's response code details: the one clue
    when Envoy's own text is empty (a path refused by normalization) and what
    the access log line of the request shows, so a client report can be
    matched to it.
    """
    info = {
        "@type": ERROR_INFO_TYPE,
        "reason": reason,
        "domain": ERROR_DOMAIN,
        "metadata": {"cause": "%RESPONSE_CODE_DETAILS%"},
    }
    return {"code": code, "message": message, "details": [info]}


def _status(op: str, value: int) -> dict[str, Any]:
    # runtime_key is required by the API; no runtime layer ever sets it.
    comparison = {"op": op, "value": {"default_value": value, "runtime_key": "paymesh.unset"}}
    return {"status_code_filter": {"comparison": comparison}}


def _authz(op: str) -> dict[str, Any]:
    flag = {"response_flag_filter": {"flags": [AUTHZ_FLAG]}}
    return {"and_filter": {"filters": [flag, _status(op, AUTHZ_ERROR_STATUS)]}}


def _rewrite(code: int, message: str, reason: str) -> dict[str, Any]:
    return {"json_format": status_body(code, message, reason)}


def local_reply_config() -> dict[str, Any]:
    """The REST listener's mappers; no top-level body_format, so unmatched replies stay as is."""
    mappers: list[dict[str, Any]] = [
        # identity's denials (401/403/404/429) already are the JSON Status, with
        # www-authenticate and retry-after: matched first, and left alone.
        {"filter": _authz("NE")},
        # Fail closed, and say why: Check could not be asked.
        {
            "filter": _authz("EQ"),
            "body_format_override": _rewrite(
                UNAVAILABLE, "authorization service unavailable", "AUTHZ_UNAVAILABLE"
            ),
        },
    ]
    mappers.extend(
        {
            "filter": _status("EQ", status),
            "body_format_override": _rewrite(code, "%LOCAL_REPLY_BODY%", reason),
        }
        for status, (code, reason) in sorted(LOCAL_REPLY_CODES.items())
    )
    # Anything else Envoy may answer (408, 431, ...) still has the one shape.
    mappers.append(
        {
            "filter": _status("GE", 400),
            "body_format_override": _rewrite(UNKNOWN, "%LOCAL_REPLY_BODY%", "EDGE_ERROR"),
        }
    )
    return {"mappers": mappers}
