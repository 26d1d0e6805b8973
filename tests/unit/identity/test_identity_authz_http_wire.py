"""The HTTP ext_authz listener's framing and replies, byte by byte, without sockets."""

from __future__ import annotations

import asyncio
import json

import pytest

from identity_svc.domain import errors as e
from identity_svc.entrypoints.authz import check_response
from identity_svc.entrypoints.authz_http import start_eagerly
from identity_svc.entrypoints.authz_http_wire import (
    MAX_HEAD_BYTES,
    Malformed,
    Request,
    RequestFramer,
    allow_reply,
    closing,
    denial_reply,
    malformed_reply,
    without_body,
)
from identity_svc.service_layer.authorizer import Decision

CHECK = b"GET /check/v1/me?x=1 HTTP/1.1\r\nHost: identity\r\nAuthorization: Bearer k\r\n\r\n"


def requests(items: list[Request | Malformed]) -> list[Request]:
    """``items``, asserting that none is a framing error."""
    assert all(isinstance(item, Request) for item in items), items
    return [item for item in items if isinstance(item, Request)]


def error_of(items: list[Request | Malformed]) -> Malformed:
    """The framing error that ends ``items``."""
    last = items[-1]
    assert isinstance(last, Malformed), items
    return last


def test_a_request_head_is_framed_with_lower_case_names() -> None:
    (request,) = requests(RequestFramer().feed(CHECK))

    assert (request.method, request.target) == ("GET", "/check/v1/me?x=1")
    assert request.headers == {"host": "identity", "authorization": "Bearer k"}
    assert request.keep_alive


def test_a_head_split_across_every_byte_is_framed_once_complete() -> None:
    framer = RequestFramer()

    early = [framer.feed(CHECK[i : i + 1]) for i in range(len(CHECK) - 1)]
    (request,) = requests(framer.feed(CHECK[-1:]))

    assert early == [[]] * (len(CHECK) - 1)
    assert request.target == "/check/v1/me?x=1"


def test_pipelined_requests_come_out_in_order() -> None:
    stream = CHECK + CHECK.replace(b"/v1/me", b"/v1/merchants") + b"GET /healthz HTTP/1.1\r\n\r\n"

    got = requests(RequestFramer().feed(stream))

    assert [r.target for r in got] == ["/check/v1/me?x=1", "/check/v1/merchants?x=1", "/healthz"]


def test_a_body_is_skipped_by_content_length_across_reads() -> None:
    framer = RequestFramer()
    head = b"POST /check/v1/merchants HTTP/1.1\r\nContent-Length: 10\r\n\r\n"

    first = requests(framer.feed(head + b"0123"))
    middle = framer.feed(b"456")
    last = requests(framer.feed(b"789" + CHECK))

    assert [r.method for r in first] == ["POST"]
    assert middle == []
    assert [r.target for r in last] == ["/check/v1/me?x=1"]


def test_a_body_longer_than_one_read_is_dropped_without_being_kept() -> None:
    framer = RequestFramer()
    framer.feed(b"POST /check/x HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")

    for _ in range(99):
        assert framer.feed(b"x" * 1000) == []
    (request,) = requests(framer.feed(b"x" * 1000 + CHECK))

    assert request.target == "/check/v1/me?x=1"


def test_repeated_headers_are_joined_with_commas() -> None:
    head = (
        b"GET /check/a HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for:  10.0.0.2 \r\n\r\n"
    )

    (request,) = requests(RequestFramer().feed(head))

    assert request.headers["x-forwarded-for"] == "10.0.0.1,10.0.0.2"


def test_connection_close_and_http_1_0_end_the_connection_after_the_reply() -> None:
    closes = b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
    old = b"GET /healthz HTTP/1.0\r\n\r\n"
    old_kept = b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"

    flags = [requests(RequestFramer().feed(h))[0].keep_alive for h in (closes, old, old_kept)]

    assert flags == [False, False, True]


def test_a_head_of_exactly_the_limit_is_accepted() -> None:
    prefix = b"GET /check/a HTTP/1.1\r\nx-pad: "
    head = prefix + b"p" * (MAX_HEAD_BYTES - len(prefix) - 4) + b"\r\n\r\n"
    assert len(head) == MAX_HEAD_BYTES

    (request,) = requests(RequestFramer().feed(head))

    assert request.target == "/check/a"


def test_a_head_over_the_limit_is_431_even_before_it_ends() -> None:
    framer = RequestFramer()
    framer.feed(b"GET /check/a HTTP/1.1\r\nx-pad: ")

    error = error_of(framer.feed(b"p" * MAX_HEAD_BYTES))

    assert error.status == 431
    assert framer.feed(CHECK) == []  # the stream is never framed again


def test_a_complete_head_over_the_limit_is_431() -> None:
    head = b"GET /check/a HTTP/1.1\r\nx-pad: " + b"p" * MAX_HEAD_BYTES + b"\r\n\r\n"

    assert error_of(RequestFramer().feed(head)).status == 431


@pytest.mark.parametrize(
    "head",
    [
        b"garbage\r\n\r\n",
        b"GET /check/a\r\n\r\n",
        b"GET /check/a HTTP/2.0\r\n\r\n",
        b"GET  /check/a HTTP/1.1\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nbad name: v\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nname : v\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nx: a\r\n folded\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nx: a\nsmuggled: b\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nx: a\x00b\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /check/a HTTP/1.1\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n",
        b"POST /check/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
)
def test_a_malformed_head_is_400_and_ends_the_stream(head: bytes) -> None:
    framer = RequestFramer()

    error = error_of(framer.feed(head + CHECK))

    assert error.status == 400
    assert framer.feed(CHECK) == []


def test_requests_before_a_malformed_one_are_still_framed() -> None:
    items = RequestFramer().feed(CHECK + b"garbage\r\n\r\n" + CHECK)

    assert [type(item) for item in items] == [Request, Malformed]


def test_an_allow_reply_sets_the_decision_headers_and_names_the_removals() -> None:
    decision = Decision(
        "rid",
        headers=(("x-paymesh-principal", "merchant_id=m"),),
        headers_to_remove=("authorization", "x-api-key"),
    )

    assert allow_reply(decision) == (
        b"HTTP/1.1 200 OK\r\nx-paymesh-principal: merchant_id=m\r\n"
        b"x-envoy-auth-headers-to-remove: authorization,x-api-key\r\ncontent-length: 0\r\n\r\n"
    )


def _split(reply: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), body


@pytest.mark.parametrize(
    ("error", "status_line", "extra"),
    [
        (e.CredentialsMissing("no key"), "HTTP/1.1 401 Unauthorized", "www-authenticate"),
        (e.RateLimited("slow down"), "HTTP/1.1 429 Too Many Requests", "retry-after"),
        (e.PermissionMissing("no"), "HTTP/1.1 403 Forbidden", None),
    ],
)
def test_a_denial_is_the_grpc_checks_denied_response_as_http(
    error: e.IdentityError, status_line: str, extra: str | None
) -> None:
    decision = Decision("rid-1", error=error, retry_after_s=3)
    denied = check_response(decision).denied_response

    status, headers, body = _split(denial_reply(error, decision))

    assert status == status_line
    assert body.decode() == denied.body
    assert int(headers.pop("content-length")) == len(body)
    assert headers == {h.header.key: h.header.value for h in denied.headers}
    assert extra is None or extra in headers
    assert json.loads(body)["details"][0]["reason"] == error.reason


def test_a_header_value_with_a_line_break_never_reaches_the_reply() -> None:
    decision = Decision("a\r\nx-evil: 1", error=e.CredentialsMissing("no key"))

    _, headers, _ = _split(denial_reply(decision.error or e.CredentialsMissing(""), decision))

    assert "x-evil" not in headers and "x-request-id" not in headers


def test_a_head_reply_keeps_its_length_but_drops_its_body() -> None:
    full = denial_reply(
        e.CredentialsMissing("no key"), Decision("r", error=e.CredentialsMissing(""))
    )

    head = without_body(full)

    assert full.startswith(head) and head.endswith(b"\r\n\r\n")
    assert b"content-length: " in head and b"{" not in head


def test_closing_and_malformed_replies_say_connection_close() -> None:
    status, headers, body = _split(malformed_reply(Malformed(431, "too big")))

    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["connection"] == "close"
    assert json.loads(body)["details"][0]["reason"] == "HTTP_HEAD_TOO_LARGE"
    assert closing(b"HTTP/1.1 200 OK\r\n\r\n") == b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"


async def _now(value: str) -> str:
    return value


async def _later(value: str) -> str:
    await asyncio.sleep(0.01)
    return value


async def _fails_later() -> str:
    await asyncio.sleep(0)
    raise LookupError("from the store")


async def test_a_coroutine_that_never_suspends_is_answered_without_a_task() -> None:
    assert start_eagerly(_now("done")) == "done"


async def test_a_coroutine_that_suspends_is_finished_by_a_task() -> None:
    pending = start_eagerly(_later("done"))

    assert isinstance(pending, asyncio.Task)
    assert await pending == "done"


async def test_an_exception_after_suspending_reaches_the_task() -> None:
    pending = start_eagerly(_fails_later())

    assert isinstance(pending, asyncio.Task)
    with pytest.raises(LookupError, match="from the store"):
        await pending


async def test_cancelling_the_task_cancels_the_coroutine_inside() -> None:
    cancelled: list[bool] = []

    async def waits() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "never"

    pending = start_eagerly(waits())
    assert isinstance(pending, asyncio.Task)
    await asyncio.sleep(0)
    pending.cancel()

    with pytest.raises(asyncio.CancelledError):
        await pending
    assert cancelled == [True]
