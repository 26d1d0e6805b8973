"""Envoy's HTTP ext_authz protocol on a bare asyncio HTTP/1.1 server: the bench's candidates.

Envoy's ext_authz client (``http_service``) sends the request head (method, path, Host,
Content-Length, Authorization and the allowed headers) on a keep-alive HTTP/1.1 connection,
one request at a time per connection, and reads the status: 200 allows (headers named in
``allowed_upstream_headers`` are copied onto the upstream request, and those listed in
``x-envoy-auth-headers-to-remove`` are dropped from it); anything else is sent to the client.

Two answerers share one protocol class:

* ``dict_answers``: a dict lookup of the Authorization value (the protocol's cost alone);
* ``IdentityAnswers``: identity's own ``Authorizer`` (key cache following the change feed,
  permissions, rate limit, usage), as ``identity_svc serve`` builds it, but asked over HTTP:
  what identity's Check would cost if it were served this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

from google.protobuf import json_format
from google.rpc import status_pb2

from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.entrypoints.authz import Authz, build_authz, denial_status
from identity_svc.service_layer.authorizer import AuthzRequest, Decision
from svc_kit import db

PRINCIPAL_HEADER = "x-paymesh-principal"
REMOVE_HEADER = "x-envoy-auth-headers-to-remove"
DENY = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"
Head = tuple[str, str, dict[str, str]]
"""(method, path, headers with lower-case names)."""
Answer = Callable[[Head], bytes | Awaitable[bytes]]


def parse_head(head: bytes) -> tuple[Head, int]:
    """The request line and headers, and the body length to skip."""
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return (method, path, headers), int(headers.get("content-length") or 0)


def dict_answers(tokens: dict[str, str]) -> Answer:
    """200 with the principal for a known Authorization value, 401 for anything else."""
    replies = {
        token: (
            f"HTTP/1.1 200 OK\r\n{PRINCIPAL_HEADER}: {principal}\r\n"
            f"{REMOVE_HEADER}: authorization,x-api-key\r\ncontent-length: 0\r\n\r\n"
        ).encode()
        for token, principal in tokens.items()
    }

    def answer(head: Head) -> bytes:
        return replies.get(head[2].get("authorization", ""), DENY)

    return answer


class HttpCheck(asyncio.Protocol):
    """One keep-alive connection from Envoy's ext_authz HTTP client."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._buffer = b""
        self._transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head, skip = parse_head(self._buffer[:end])
            # The body (Content-Length: 0 for our GETs) is skipped unread.
            self._buffer = self._buffer[end + 4 + skip :]
            reply = self._answer(head)
            if isinstance(reply, bytes):
                self._write(reply)
            else:  # Envoy sends the next request on this connection only after this reply
                task = asyncio.ensure_future(reply)
                task.add_done_callback(lambda done: self._write(done.result()))

    def _write(self, reply: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


class IdentityAnswers:
    """identity's Authorizer behind the HTTP protocol; ``start`` follows the change feed."""

    def __init__(self, database_url: str, pepper: bytes) -> None:
        self._engine = db.make_engine(database_url)
        self._authz: Authz = build_authz(SqlIdentityStore(self._engine), pepper)

    async def start(self) -> None:
        await self._authz.start()

    async def stop(self) -> None:
        await self._authz.stop()
        await self._engine.dispose()

    async def __call__(self, head: Head) -> bytes:
        method, path, headers = head
        # Envoy appends the client's address to x-forwarded-for (use_remote_address).
        source = headers.get("x-forwarded-for", "").rpartition(",")[2].strip()
        request = AuthzRequest(method, path, headers, source, headers.get("x-request-id", ""))
        try:
            decision = await self._authz.authorizer.decide(request)
        except Exception:  # noqa: BLE001 - fail closed, as identity's Check does
            return b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
        return http_reply(decision)


def http_reply(decision: Decision) -> bytes:
    """The HTTP response carrying ``decision`` to Envoy."""
    if decision.error is None:
        lines = [f"{name}: {value}" for name, value in decision.headers]
        if decision.headers_to_remove:
            lines.append(f"{REMOVE_HEADER}: {','.join(decision.headers_to_remove)}")
        return ("HTTP/1.1 200 OK\r\n" + "".join(f"{x}\r\n" for x in lines)
                + "content-length: 0\r\n\r\n").encode()  # fmt: skip
    code, http_status = denial_status(decision.error)
    status = status_pb2.Status(code=code.value[0], message=decision.error.message)
    body = json_format.MessageToJson(status, indent=None).encode()
    return (
        f"HTTP/1.1 {int(http_status)} Denied\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
