"""HTTP/1.1 for identity's ext_authz listener: request framing and reply bytes, no I/O.

Envoy's ext_authz HTTP client (``http_service``) sends one request head at a time per
keep-alive connection: ``<original method> /check<original path and query>``, Host,
``Content-Length: 0`` (bodies only with ``with_request_body``, which paymesh does not set),
Authorization and the ``allowed_headers``. It reads the status: 200 allows, and the headers
named in ``allowed_upstream_headers`` go upstream while those listed in
``x-envoy-auth-headers-to-remove`` are dropped; anything else goes to the client.

``RequestFramer`` turns the byte stream into requests. It never reorders and never guesses:
whatever it cannot frame ends the connection (RFC 9112 §11.2, request smuggling), so each of
these is answered once and then the connection is closed:

- a head (request line, headers, blank line) over ``MAX_HEAD_BYTES``: 431;
- a request line that is not ``<token> <target> HTTP/1.x``, a header line that is not
  ``<token>:<value>`` (whitespace before the colon, obs-fold, bare LF, control characters),
  a Content-Length that is not one decimal number, any Transfer-Encoding: 400.

Header names are lower-cased, and repeated headers are joined with "," (RFC 9110 §5.3).
Bodies are skipped by Content-Length, across as many reads as they take.

Replies are whole byte strings, built here. The ones that never change are built once, and
``Answers`` reuses allow replies per principal header (``authz.AllowMemo``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

import grpc

from identity_svc.domain import errors as e
from identity_svc.entrypoints.authz import DECISIONS, AllowMemo, denial, status_json
from identity_svc.service_layer.authorizer import Authorizer, Decision
from identity_svc.service_layer.key_cache import StoreUnavailable

_log = logging.getLogger(__name__)
_ALLOWED = DECISIONS.labels("allow")  # the gRPC Check's own child: one count per outcome
MAX_HEAD_BYTES = 16 * 1024
CHECK_PREFIX = "/check"
"""Envoy's ``http_service.path_prefix``: every check's target starts ``/check/``."""
HEALTH_PATH = "/healthz"
REMOVE_HEADER = "x-envoy-auth-headers-to-remove"
_END = b"\r\n\r\n"
# RFC 9110 §5.6.2: a token (method, field name) is one or more tchar.
_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# RFC 9112 §3: method SP request-target SP HTTP-version. Targets are visible ASCII.
_REQUEST_LINE = re.compile(rf"({_TCHARS}) ([\x21-\x7e]+) HTTP/1\.([01])")
# RFC 9110 §5.5: field values are visible characters, SP and HTAB (obs-text allowed).
# One match for every header line at once: each line ends in CRLF, the head's last one too.
_HEADER_LINES = re.compile(rf"(?:{_TCHARS}:[\t\x20-\x7e\x80-\xff]*\r\n)*")


@dataclass(frozen=True, slots=True)
class Request:
    """One framed request head."""

    method: str
    target: str
    """As sent: path and query."""
    headers: dict[str, str]
    """Names lower-cased, values stripped, repeats joined with ","."""
    keep_alive: bool
    """False when the client asked to close after this reply (or spoke HTTP/1.0)."""


class Malformed(Exception):
    """The stream cannot be framed past this point: answer ``status``, then close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RequestFramer:
    """Cuts one connection's byte stream into ``Request``s; feed it every read, in order."""

    __slots__ = ("_buffer", "_failed", "_skip")

    def __init__(self) -> None:
        self._buffer = b""
        self._skip = 0  # body bytes still to drop before the next head
        self._failed = False

    def feed(self, data: bytes) -> list[Request | Malformed]:
        """The requests ``data`` completes, in order; a ``Malformed`` is always last, and
        after one the framer ignores everything."""
        if self._failed:
            return []
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return []
            data = data[self._skip :]
            self._skip = 0
        buffer = self._buffer + data if self._buffer else data
        out: list[Request | Malformed] = []
        start = 0
        while start < len(buffer):
            end = buffer.find(_END, start)
            if end < 0 or end + 4 - start > MAX_HEAD_BYTES:
                if end >= 0 or len(buffer) - start >= MAX_HEAD_BYTES:
                    return self._fail(out, Malformed(431, "the request head exceeds 16 KiB"))
                break  # the rest of this head has not arrived yet
            try:
                request, length = parse_head(buffer[start:end])
            except Malformed as exc:
                return self._fail(out, exc)
            out.append(request)
            start = end + 4 + length
        if start > len(buffer):
            self._skip = start - len(buffer)
        self._buffer = buffer[start:]
        return out

    def _fail(self, out: list[Request | Malformed], error: Malformed) -> list[Request | Malformed]:
        self._failed = True
        self._buffer = b""
        out.append(error)
        return out


def parse_head(head: bytes) -> tuple[Request, int]:
    """The request in ``head`` (without its blank line), and its body's length."""
    text = head.decode("latin-1")
    line_end = text.find("\r\n")
    request_line = text if line_end < 0 else text[:line_end]
    match = _REQUEST_LINE.fullmatch(request_line)
    if match is None:
        raise Malformed(400, "malformed request line")
    method, target, minor = match.groups()
    headers: dict[str, str] = {}
    if line_end >= 0:
        lines = text[line_end + 2 :] + "\r\n"
        if _HEADER_LINES.fullmatch(lines) is None:
            raise Malformed(400, "malformed header line")
        for line in lines.split("\r\n")[:-1]:
            name, _, value = line.partition(":")
            name = name.lower()
            value = value.strip(" \t")
            seen = headers.get(name)
            headers[name] = value if seen is None else f"{seen},{value}"
    if "transfer-encoding" in headers:
        raise Malformed(400, "Transfer-Encoding is not accepted; send Content-Length")
    length = headers.get("content-length")
    if length is not None and not (length.isascii() and length.isdigit() and len(length) <= 18):
        raise Malformed(400, "Content-Length must be one decimal number")
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if minor == "1" else "keep-alive" in connection
    return Request(method, target, headers, keep_alive), int(length) if length else 0


def reply(status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> bytes:
    """A whole response: status line, ``headers``, Content-Length, ``body``."""
    lines = [f"HTTP/1.1 {status} {_phrase(status)}"]
    # Values come from the request at times (x-request-id): never let one split the head.
    lines += [f"{k}: {v}" for k, v in headers if "\r" not in v and "\n" not in v]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def allow_reply(decision: Decision) -> bytes:
    """200 with the headers to set upstream and the list Envoy removes from it."""
    headers = list(decision.headers)
    if decision.headers_to_remove:
        headers.append((REMOVE_HEADER, ",".join(decision.headers_to_remove)))
    return reply(200, headers)


def denial_reply(error: e.IdentityError, decision: Decision) -> bytes:
    """The refusal the gRPC Check would put in its denied_response, as an HTTP response."""
    refusal = denial(error, decision)
    return reply(refusal.http_status, refusal.headers, refusal.body.encode())


def error_reply(
    status: int,
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """An HTTP ``status`` with a JSON google.rpc.Status body carrying ErrorInfo ``reason``."""
    _, body = status_json(code, message, reason, metadata or {})
    return reply(status, [("content-type", "application/json")], body.encode())


def without_body(response: bytes) -> bytes:
    """``response`` for a HEAD request: the same head, no body (RFC 9110 §9.3.2)."""
    return response[: response.index(_END) + 4]


def closing(response: bytes) -> bytes:
    """``response`` saying that the connection closes after it."""
    line_end = response.index(b"\r\n") + 2
    return response[:line_end] + b"connection: close\r\n" + response[line_end:]


_TEXT = [("content-type", "text/plain")]
SERVING = reply(200, _TEXT, b"SERVING")
NOT_SERVING = reply(503, _TEXT, b"NOT_SERVING")
NOT_A_CHECK = error_reply(
    404,
    grpc.StatusCode.NOT_FOUND,
    f"this listener answers {CHECK_PREFIX}/... (ext_authz checks) and GET {HEALTH_PATH} only",
    "AUTHZ_PATH_UNKNOWN",
)
STORE_UNAVAILABLE = error_reply(
    503, grpc.StatusCode.UNAVAILABLE, "identity store unavailable", "AUTHZ_STORE_UNAVAILABLE"
)
CHECK_FAILED = error_reply(
    503, grpc.StatusCode.INTERNAL, "authorization check failed", "AUTHZ_CHECK_FAILED"
)


def malformed_reply(error: Malformed) -> bytes:
    """The answer to a stream that cannot be framed; the connection closes after it."""
    reason = "HTTP_HEAD_TOO_LARGE" if error.status == 431 else "HTTP_REQUEST_MALFORMED"
    return closing(
        error_reply(error.status, grpc.StatusCode.INVALID_ARGUMENT, error.message, reason)
    )


class Answers:
    """What every connection of one listener shares: the Authorizer, and the reply to each
    outcome, counted in the gRPC Check's counter with its labels."""

    def __init__(self, authorizer: Authorizer, serving: Callable[[], bool]) -> None:
        self.authorizer = authorizer
        self.serving = serving
        self._allows = AllowMemo(allow_reply)

    def decided(self, decision: Decision) -> bytes:
        """The reply to a decision; counted as the gRPC Check counts it."""
        error = decision.error
        if error is None:
            _ALLOWED.inc()
            return self._allows.get(decision)
        DECISIONS.labels(error.reason).inc()
        return denial_reply(error, decision)

    def failed(self, exc: Exception) -> bytes:
        """The reply when deciding raised: 503, never an allow."""
        if isinstance(exc, StoreUnavailable):
            # Not a denial: "cannot know". Envoy fails closed on a 5xx.
            DECISIONS.labels("STORE_UNAVAILABLE").inc()
            return STORE_UNAVAILABLE
        _log.error("authz check failed", exc_info=exc)
        DECISIONS.labels("INTERNAL").inc()
        return CHECK_FAILED
