"""HTTP/1.1 over asyncio with h11: keep-alive, Content-Length and chunked request bodies.

One ``HttpConnection`` (an asyncio.Protocol, no streams and no thread) per TCP or TLS
connection. It frames requests with h11, hands each complete one to the dispatcher, and does
what the dispatcher's ``Action`` says: send a reply, reset the connection, or hold it open in
silence (the fault kinds of ``sandbox.faults``). Requests on one connection are served one at
a time, as HTTP/1.1 requires; pipelined bytes wait in h11's buffer meanwhile.

A request h11 cannot parse is answered 400 (431 for an oversized head) and the connection is
closed: after a framing error the next request's first byte cannot be found.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import h11

from sandbox.core import SimResponse

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024
# SO_LINGER on with a zero timeout makes close() send RST instead of FIN: the "connection
# reset by peer" a gateway sees when a provider's load balancer drops it.
_LINGER_RST = struct.pack("ii", 1, 0)
_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this response."""

    response: SimResponse


@dataclass(frozen=True, slots=True)
class Abort:
    """Reset the connection (RST) instead of replying."""


@dataclass(frozen=True, slots=True)
class Hold:
    """Say nothing until the client closes the connection, or reset it after ``cap_s``."""

    cap_s: float


Action = Reply | Abort | Hold
Dispatch = Callable[[str, str, dict[str, str], bytes], Awaitable[Action]]
"""(method, request target, lower-cased headers, body) -> what to do."""

_CRASHED = SimResponse.of_json(500, {"error": "sandbox: the simulator raised; see its log"})


class HttpConnection(asyncio.Protocol):
    """One client connection; ``live`` is the server's set of open connections."""

    def __init__(self, dispatch: Dispatch, live: set[HttpConnection]) -> None:
        self._dispatch = dispatch
        self._live = live
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._task: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        self._lost = asyncio.get_running_loop().create_future()
        self._live.add(self)

    def data_received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        if self._task is None:
            self._advance()

    def eof_received(self) -> None:
        # Returning None lets the transport close: a client that half-closes has given up on
        # any reply still owed (and a held connection is released, as intended).
        self._h11.receive_data(b"")
        if self._task is None:
            self._advance()

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        self._live.discard(self)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        # A request being handled is not cancelled: a real provider finishes what it started
        # when the client hangs up, and the simulator's state must say so too.

    def close(self, *, abort: bool = False) -> None:
        """Close the connection (server shutdown); ``abort`` resets it instead."""
        if self._transport is None or self._transport.is_closing():
            return
        if abort:
            self._reset()
        else:
            self._transport.close()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The request being handled or held, if any (the server cancels it at shutdown)."""
        return self._task

    def _advance(self) -> None:
        """Feed h11's events on until a request is complete or more bytes are needed."""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(exc.error_status_hint, str(exc))
                return
            kind = type(event)
            if kind is h11.Data:
                if not self._take_body(event.data):  # type: ignore[union-attr]
                    return
            elif kind is h11.Request:
                self._start(event)  # type: ignore[arg-type]
            elif kind is h11.EndOfMessage:
                self._task = asyncio.get_running_loop().create_task(self._serve())
                return
            elif event is h11.NEED_DATA or event is h11.PAUSED:
                return
            elif kind is h11.ConnectionClosed:
                self.close()
                return

    def _start(self, request: h11.Request) -> None:
        self._request = request
        self._body = []
        self._body_size = 0
        if self._h11.they_are_waiting_for_100_continue:
            self._write(self._h11.send(h11.InformationalResponse(status_code=100, headers=[])))

    def _take_body(self, data: bytes) -> bool:
        self._body_size += len(data)
        if self._body_size > MAX_BODY_BYTES:
            self._refuse(413, f"request body over {MAX_BODY_BYTES} bytes")
            return False
        self._body.append(data)
        return True

    async def _serve(self) -> None:
        request = self._request
        assert request is not None
        method = request.method.decode("ascii")
        try:
            action = await self._dispatch(
                method, request.target.decode("latin-1"), _headers(request), b"".join(self._body)
            )
        except Exception:
            log.exception("sandbox: %s %r raised", method, request.target)
            action = Reply(_CRASHED)
        self._request, self._body = None, []
        if self._transport is None or self._transport.is_closing():
            self._task = None
            return
        await self._act(action, head=method == "HEAD")
        self._task = None
        self._after_reply()

    async def _act(self, action: Action, *, head: bool) -> None:
        if isinstance(action, Reply):
            try:
                self._write(self._response_bytes(action.response, head=head))
            except h11.LocalProtocolError:
                log.exception("sandbox: the reply could not be framed; resetting")
                self._reset()
        elif isinstance(action, Abort):
            self._reset()
        else:
            assert self._lost is not None
            await asyncio.wait([self._lost], timeout=action.cap_s)
            self._reset()

    def _after_reply(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            self._advance()  # a pipelined request may already be buffered
        else:
            transport.close()  # "connection: close" either way, or an error state

    def _response_bytes(self, response: SimResponse, *, head: bool) -> bytes:
        status = response.status
        headers = [
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in _FRAMING_HEADERS
        ]
        has_body = status >= 200 and status not in _NO_BODY_STATUSES
        if has_body:
            headers.append(("content-length", str(len(response.body))))
        out = self._h11.send(
            h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b""))
        )
        assert out is not None
        if has_body and response.body and not head:
            out += self._h11.send(h11.Data(data=response.body)) or b""
        return out + (self._h11.send(h11.EndOfMessage()) or b"")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer a request that cannot be framed, then close (written raw: h11 is in ERROR)."""
        body = SimResponse.of_json(status, {"error": f"bad request: {reason}"}).body
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, b'').decode()}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self._write(head.encode("latin-1") + body)
        if self._transport is not None:
            self._transport.close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _reset(self) -> None:
        transport = self._transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        transport.abort()


def _headers(request: h11.Request) -> dict[str, str]:
    """Lower-cased names (h11 already lower-cases them); repeats joined with ", "."""
    out: dict[str, str] = {}
    for raw_name, raw_value in request.headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out
