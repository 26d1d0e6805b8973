"""Envoy's ext_authz over HTTP/1.1 (``http_service``): the fast path to the same Authorizer.

The gRPC Check (``authz.py``) costs about 450 us of Python per request, most of it grpc.aio
itself; the same Authorizer behind a bare asyncio protocol measured about 100 us
(bench/edge_authz_http.py), lifting authenticated REST from 0.55x to 0.91x of unauthenticated
REST. So identity serves this protocol too, on ``IDENTITY_AUTHZ_HTTP_LISTEN_ADDR``, in the same
process and loop as the gRPC servers: one Authorizer, key cache and usage recorder behind both.
Measured on the 2-core machine (identity serve on uvloop, one keep-alive mTLS connection from
another process, 20,000 allowed warm checks): 50 to 100 us of identity's CPU per check, by the
machine's load, against 440 to 500 us for the gRPC Check asked the same way.

What it answers (framing and reply bytes: ``authz_http_wire``):

- ``<method> /check/<path>``: the check of ``<method> /<path>``. 200 allows, with the
  Decision's headers (``x-paymesh-principal``, ``x-request-id`` when identity made one) and
  ``x-envoy-auth-headers-to-remove``. A refusal is the Decision's HTTP status with exactly the
  JSON body and headers the gRPC Check puts in its denied_response (``authz.denial``). When the
  store cannot answer: 503, JSON code 14, ``AUTHZ_STORE_UNAVAILABLE``; any other failure: 503,
  ``AUTHZ_CHECK_FAILED``. Envoy treats a 5xx as a failed check (``status_on_error``).
- ``GET /healthz``: 200 ``SERVING`` while the host's health service says SERVING, else 503
  ``NOT_SERVING`` (Envoy's HTTP health check of the cluster).
- anything else: 404 JSON, ``AUTHZ_PATH_UNKNOWN``. Never an allow.

Callers: TLS 1.3 with a client certificate of the service's CA (``svc_kit.tls``, which also
picks up rotated files for new connections), checked once per connection against
``allowed_peers`` (``svc_kit.peers``): a refused peer's first request gets 403
``PEER_NOT_ALLOWED`` and the connection closes (after ``_REFUSED_GRACE_S`` without a request).
Plaintext settings (tests on loopback) serve plain TCP with no peer check, as gRPC does.

The AuthzRequest is the gRPC Check's: the method, the path after ``/check`` (query included),
the headers, ``x-request-id``, and as source address the last ``x-forwarded-for`` entry (the
client's address as Envoy, with ``use_remote_address``, appended it; no port, unlike gRPC's).
Outcomes are counted in ``paymesh_authz_decisions_total`` with the gRPC Check's labels; a refused
peer counts once per connection.

Order: replies go out in request order. A warm check never suspends (``start_eagerly`` runs it
to completion inside ``data_received``, with no Task); one that waits for the store parks the
connection's later requests until it is answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from functools import partial
from typing import Any, Generic, TypeVar, cast

import grpc

from identity_svc.entrypoints.authz import DECISIONS
from identity_svc.entrypoints.authz_http_wire import (
    CHECK_PREFIX,
    HEALTH_PATH,
    NOT_A_CHECK,
    NOT_SERVING,
    SERVING,
    Answers,
    Malformed,
    Request,
    RequestFramer,
    closing,
    error_reply,
    malformed_reply,
    without_body,
)
from identity_svc.service_layer.authorizer import Authorizer, AuthzRequest, Decision
from svc_kit.peers import PEER_NOT_ALLOWED, PeerAllowList, certificate_uris
from svc_kit.settings import ServiceSettings
from svc_kit.tls import ssl_server_context

_log = logging.getLogger(__name__)
LISTENER_NAME = "authz_http"
"""The ports-file key (svc_kit.server.SideListener.name)."""
_CHECK = CHECK_PREFIX + "/"
_CHECK_CUT = len(CHECK_PREFIX)  # keeps the path's own leading "/"
_MAX_QUEUED = 64  # parked requests per connection before it stops reading
_REFUSED_GRACE_S = 2.0
_CLOSE_WAIT_S = 1.0
_T = TypeVar("_T")


def start_eagerly(coro: Coroutine[Any, Any, _T]) -> _T | asyncio.Task[_T]:
    """Run ``coro`` now, up to its first suspension: its result (or exception) if it finishes
    without one, else a Task that finishes it.

    A warm Authorizer.decide never suspends, so a Task per request (created, scheduled, run
    one loop iteration later, its done-callback scheduled again) would be pure overhead.
    Python 3.12's eager task factory does this; 3.11 has none. Until its first suspension
    ``coro`` runs outside any Task: ``asyncio.current_task()`` is None there, so code before
    the first await must not need one (``asyncio.timeout`` does; it would fail the check
    closed, with a 503, and the cold-key tests would show it).
    """
    try:
        yielded = coro.send(None)
    except StopIteration as done:
        return cast(_T, done.value)
    return asyncio.ensure_future(_finish(coro, yielded))


async def _finish(coro: Coroutine[Any, Any, _T], yielded: Any) -> _T:
    return await _Resumed(coro, yielded)


class _Resumed(Generic[_T]):
    """Awaiting it continues ``coro`` from the suspension ``start_eagerly`` stopped at: the
    future it yielded goes to the Task, and what the Task sends or throws goes back in."""

    def __init__(self, coro: Coroutine[Any, Any, _T], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, _T]:
        coro, yielded = self._coro, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - CancelledError too: pass it in
                try:
                    yielded = coro.throw(exc)
                except StopIteration as done:
                    return cast(_T, done.value)
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as done:
                    return cast(_T, done.value)


class AuthzHttpListener:
    """``svc_kit.server.SideListener`` serving the HTTP ext_authz protocol on ``addr``."""

    def __init__(
        self,
        addr: str,
        authorizer: Authorizer,
        settings: ServiceSettings,
        peers: PeerAllowList | None,
    ) -> None:
        self._addr = addr  # "" = off
        self._authorizer = authorizer
        self._settings = settings
        self._peers = None if settings.plaintext else peers
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._all_closed = asyncio.Event()

    @property
    def name(self) -> str:
        """The ports-file key."""
        return LISTENER_NAME

    async def start(self, serving: Callable[[], bool]) -> int | None:
        """Bind and serve; the bound port, or None when no address is configured."""
        if not self._addr:
            return None
        s = self._settings
        # Built here, not at import or construction: a missing file fails the start, loudly.
        context = (
            None
            if s.plaintext
            else ssl_server_context(s.tls_cert_file, s.tls_key_file, s.tls_ca_file)
        )
        answers = Answers(self._authorizer, serving)
        host, _, port = self._addr.rpartition(":")
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                partial(_Connection, answers, self._peers, self._connections, self._all_closed),
                host.strip("[]") or None,
                int(port),
                ssl=context,
                backlog=1024,
            )
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"identity: cannot listen on {self._addr}: {exc}") from exc
        bound: int = self._server.sockets[0].getsockname()[1]
        _log.info("ext_authz HTTP listener", extra={"port": bound, "tls": context is not None})
        return bound

    async def stop(self) -> None:
        """Stop accepting, close every connection (replies already written still go out)."""
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._connections:
            try:
                async with asyncio.timeout(_CLOSE_WAIT_S):
                    await self._all_closed.wait()
            except TimeoutError:
                _log.info("aborting %d ext_authz HTTP connections", len(self._connections))
                for connection in list(self._connections):
                    connection.abort()
        await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    """One keep-alive connection, from Envoy's ext_authz HTTP client (or its health checker)."""

    def __init__(
        self,
        answers: Answers,
        peers: PeerAllowList | None,
        registry: set[_Connection],
        all_closed: asyncio.Event,
    ) -> None:
        self._answers = answers
        self._peers = peers
        self._registry = registry
        self._all_closed = all_closed
        self._framer = RequestFramer()
        self._queue: deque[Request | Malformed] = deque()
        self._waiting: asyncio.Task[Decision] | None = None
        self._transport: asyncio.Transport | None = None  # None once we start closing
        self._closing: asyncio.Transport | None = None
        self._refused: bytes | None = None  # the 403 a refused peer's first request gets
        self._refused_timer: asyncio.TimerHandle | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        self._registry.add(self)
        self._all_closed.clear()
        if self._peers is not None:
            # The TLS handshake is complete by now: the certificate is known, once.
            peercert = transport.get_extra_info("peercert")
            if not self._peers.admits_certificate(peercert):
                self._refuse(certificate_uris(peercert))

    def _refuse(self, uris: list[str]) -> None:
        assert self._transport is not None
        peer = uris[0] if len(uris) == 1 else ""
        _log.warning(
            "ext_authz HTTP: refused peer %s from %s",
            peer or f"(URI SANs: {uris})",
            self._transport.get_extra_info("peername"),
        )
        DECISIONS.labels(PEER_NOT_ALLOWED).inc()
        message = f"peer {peer or '(no single SPIFFE id)'} is not allowed to call this service"
        self._refused = closing(
            error_reply(
                403, grpc.StatusCode.PERMISSION_DENIED, message, PEER_NOT_ALLOWED, {"peer": peer}
            )
        )
        self._refused_timer = asyncio.get_running_loop().call_later(_REFUSED_GRACE_S, self.close)

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            self._write_and_close(self._refused)
            return
        self._queue.extend(self._framer.feed(data))
        if self._waiting is None:
            self._drain()
        elif len(self._queue) > _MAX_QUEUED and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _drain(self) -> None:
        """Answer parked requests in order until one must wait for the store."""
        queue = self._queue
        while queue and self._waiting is None and self._transport is not None:
            item = queue.popleft()
            if isinstance(item, Malformed):
                self._write_and_close(malformed_reply(item))
                return
            self._serve(item)
        if self._paused and not queue and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def _serve(self, request: Request) -> None:
        target = request.target
        if target.startswith(_CHECK):
            self._check(request)
        elif request.method == "GET" and target.partition("?")[0] == HEALTH_PATH:
            self._send(request, SERVING if self._answers.serving() else NOT_SERVING)
        else:
            self._send(request, NOT_A_CHECK)

    def _check(self, request: Request) -> None:
        headers = request.headers
        # Envoy (use_remote_address) appends the client's address: the last entry is its own.
        forwarded = headers.get("x-forwarded-for")
        source = forwarded.rpartition(",")[2].strip() if forwarded else ""
        asked = AuthzRequest(
            request.method,
            request.target[_CHECK_CUT:],
            headers,
            source,
            headers.get("x-request-id", ""),
        )
        try:
            outcome = start_eagerly(self._answers.authorizer.decide(asked))
        except Exception as exc:  # noqa: BLE001 - fail closed on anything, and log it
            self._send(request, self._answers.failed(exc))
            return
        if isinstance(outcome, asyncio.Task):
            self._waiting = outcome
            outcome.add_done_callback(partial(self._answered, request))
        else:
            self._send(request, self._answers.decided(outcome))

    def _answered(self, request: Request, task: asyncio.Task[Decision]) -> None:
        self._waiting = None
        if task.cancelled() or self._transport is None:
            return
        try:
            response = self._answers.decided(task.result())
        except Exception as exc:  # noqa: BLE001 - fail closed on anything, and log it
            response = self._answers.failed(exc)
        self._send(request, response)
        self._drain()

    def _send(self, request: Request, response: bytes) -> None:
        if request.method == "HEAD":
            # Envoy's codec reads no body after a HEAD: one would corrupt the next reply.
            response = without_body(response)
        if request.keep_alive:
            assert self._transport is not None
            self._transport.write(response)
        else:
            self._write_and_close(closing(response))

    def _write_and_close(self, response: bytes) -> None:
        transport = self._transport
        if transport is not None:
            transport.write(response)
            self.close()

    def close(self) -> None:
        """Close after what is written; a check still waiting is dropped."""
        transport, self._transport = self._transport, None
        self._queue.clear()
        if transport is not None:
            self._closing = transport
            transport.close()

    def abort(self) -> None:
        """Drop the connection now: a TLS peer that never answers our close_notify would
        otherwise hold it for asyncio's 30 s shutdown timeout."""
        transport = self._transport or self._closing
        self.close()
        if transport is not None:
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.clear()
        if self._waiting is not None:
            self._waiting.cancel()
        if self._refused_timer is not None:
            self._refused_timer.cancel()
        self._registry.discard(self)
        if not self._registry:
            self._all_closed.set()
