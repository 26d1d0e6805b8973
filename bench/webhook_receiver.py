"""A merchant's webhook receiver on 127.0.0.1: what the webhook bench sends to, and what the
webhook tests verify every delivery with.

Each request is checked by the reference receiver, the ``standardwebhooks`` package from PyPI
(``Webhook(secret).verify``: the signature over ``id.timestamp.body`` and the timestamp's
5 minute tolerance), against each secret registered for its path; it is recorded with the
secrets that verified it. A request no secret verifies is answered 401 and kept apart
(``refused``). Replies can be scripted per path (500 for a while, a 410, a 429 with
Retry-After); the default is 200. ``hold`` parks a path's requests unanswered until released
(a delivery in flight); ``delays`` slows a path's answers down.

HTTP/1.1 with keep-alive through h11, over TLS when given a server context (the tests' own CA)
or plain HTTP (the gateway's development setting allows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import h11
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

Reply = tuple[int, Mapping[str, str], bytes]
OK: Reply = (200, {}, b"ok")


@dataclass(frozen=True)
class Received:
    """One verified delivery."""

    path: str
    event_id: str
    event_type: str
    headers: Mapping[str, str]
    body: bytes
    verified_by: tuple[int, ...]
    """Which of the path's secrets (their indexes) verified it."""
    status: int
    """What the receiver answered."""


@dataclass
class WebhookReceiver:
    """The receiver's state; ``start`` it, ``url`` an endpoint path, ``stop`` it."""

    secrets: dict[str, list[str]] = field(default_factory=dict)
    """Path -> the secrets a delivery to it may be signed with (any one must verify)."""
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of each request the reference receiver did not verify."""
    scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    holds: dict[str, asyncio.Event] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    """Path -> seconds to think before each answer (a slower receiver)."""
    requested: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a verified request comes in (before any hold): a delivery is in flight."""
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> int:
        """Listen on 127.0.0.1, port 0; the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop every connection (held requests are let go first)."""
        if self._server is not None:
            self._server.close()
        for held in self.holds.values():
            held.set()
        # Closing the transports ends each connection's handler by itself: a cancelled
        # handler would make asyncio log its CancelledError as an unhandled exception.
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def url(self, path: str, host: str = "localhost") -> str:
        """The endpoint URL of ``path`` (``https`` when serving TLS)."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def expect(self, path: str, *secrets: str) -> None:
        """Accept deliveries to ``path`` signed with any of ``secrets``."""
        self.secrets[path] = list(secrets)

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order, then 200."""
        self.scripts[path].extend(replies)

    def hold(self, path: str) -> asyncio.Event:
        """Park requests to ``path`` unanswered until the returned event is set."""
        return self.holds.setdefault(path, asyncio.Event())

    def ids(self, path: str | None = None, status: int | None = 200) -> list[str]:
        """Event ids received (at ``path``, answered ``status``), in arrival order."""
        return [
            r.event_id
            for r in self.received
            if (path is None or r.path == path) and (status is None or r.status == status)
        ]

    def _verify(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, ...]:
        ok: list[int] = []
        for index, secret in enumerate(self.secrets.get(path, [])):
            with contextlib.suppress(WebhookVerificationError):
                Webhook(secret).verify(body, dict(headers))
                ok.append(index)
        return tuple(ok)

    async def _answer(self, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        verified = self._verify(path, headers, body)
        if not verified:
            self.refused.append((path, f"no secret of {path} verifies it"))
            return (401, {}, b"signature not verified")
        self.requested.set()
        held = self.holds.get(path)
        if held is not None:
            await held.wait()
        if path in self.delays:
            await asyncio.sleep(self.delays[path])
        queued = self.scripts.get(path)
        reply = queued.popleft() if queued else OK
        event = Webhook(self.secrets[path][verified[0]]).verify(body, dict(headers))
        self.received.append(
            Received(path, headers["webhook-id"], event["type"], headers, body, verified, reply[0])
        )
        return reply

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive HTTP/1.1 connection."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        conn = h11.Connection(h11.SERVER)
        path, headers, body = "", {}, bytearray()
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    path = event.target.decode()
                    headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                    body = bytearray()
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    status, extra, content = await self._answer(path, headers, bytes(body))
                    pairs = [*extra.items(), ("content-length", str(len(content)))]
                    writer.write(conn.send(h11.Response(status_code=status, headers=pairs)))
                    writer.write(conn.send(h11.Data(data=content)) + conn.send(h11.EndOfMessage()))
                    await writer.drain()
                    conn.start_next_cycle()
                else:  # the peer closed, or vanished mid-request
                    return
        except (h11.ProtocolError, ConnectionError, ssl.SSLError):
            return
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()


def ids_in_order(received: Sequence[Received]) -> dict[str, list[str]]:
    """Each path's delivered (2xx) event ids, in arrival order."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in received:
        if 200 <= r.status < 300:
            out[r.path].append(r.event_id)
    return dict(out)
