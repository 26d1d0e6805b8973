"""The webhook sender against a real local HTTPS receiver (TLS from a throwaway CA).

The receiver is an asyncio server speaking HTTP/1.1 through h11, on 127.0.0.1 port 0. It
records every connection, the SNI name of each handshake, and every request, and answers by
path: 200, 500, 410, 429 with Retry-After (seconds or an HTTP date), a redirect, a slow
answer, a large body. The reference receiver (``standardwebhooks``) verifies what arrived.
The last tests drive the pinning transport alone: it never resolves a name, and connects only
to the addresses pinned for it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import h11
import httpx
import pytest
import pytest_asyncio
from standardwebhooks import Webhook

from gateway_svc.adapters.webhook_sender import EXCERPT_BYTES, WebhookSender
from gateway_svc.adapters.webhook_transport import PinnedTransport, pinned
from gateway_svc.domain import webhooks as wh
from gateway_svc.domain.webhooks import Outcome, SendFailure
from svc_kit.pki import generate_ca, issue_cert

SECRET = wh.new_secret(bytes(range(32)))
SLOW_S = 3.0
SENDER_TIMEOUT_S = 0.5


@dataclass
class Received:
    """One request as the receiver read it."""

    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """The receiver's address and what it saw."""

    port: int
    ca_pem: bytes
    connections: int = 0
    sni: list[str | None] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"


def answer(path: str, port: int) -> tuple[int, list[tuple[str, str]], bytes]:
    """The receiver's reply for ``path``: status, headers, body."""
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    replies: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {
        "/ok": (200, [], b"thanks"),
        "/fail": (500, [], b"receiver broke"),
        "/gone": (410, [], b"unsubscribed"),
        "/busy": (429, [("retry-after", "120")], b"slow down"),
        "/busy-date": (503, [("retry-after", in_two_minutes)], b""),
        "/redirect": (302, [("location", f"https://localhost:{port}/ok")], b""),
        # 600 two-byte characters: the excerpt's 512 bytes end inside the 256th one.
        "/big": (200, [("content-type", "text/plain; charset=utf-8")], "é".encode() * 600),
    }
    return replies.get(path, (404, [], b"no such hook"))


async def serve(receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """One keep-alive HTTP/1.1 connection."""
    receiver.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
    receiver.connections += 1
    conn = h11.Connection(h11.SERVER)
    target, headers, body = "", {}, bytearray()
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                target = event.target.decode()
                headers = {k.decode(): v.decode() for k, v in event.headers}
                body = bytearray()
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                receiver.requests.append(Received(target, headers, bytes(body)))
                if target == "/slow":
                    await asyncio.sleep(SLOW_S)
                status, extra, content = answer(target, receiver.port)
                length = [("content-length", str(len(content)))]
                writer.write(conn.send(h11.Response(status_code=status, headers=extra + length)))
                writer.write(conn.send(h11.Data(data=content)) + conn.send(h11.EndOfMessage()))
                await writer.drain()
                conn.start_next_cycle()
            else:  # ConnectionClosed, or the peer vanished mid-request
                return
    except (h11.RemoteProtocolError, ConnectionError, ssl.SSLError):
        return
    finally:
        writer.close()


@pytest.fixture(scope="module")
def tls_material() -> tuple[bytes, bytes, bytes]:
    """A throwaway CA, and a receiver certificate for localhost and 127.0.0.1."""
    ca_pem, ca_key = generate_ca("webhook test CA")
    cert_pem, key_pem = issue_cert(ca_pem, ca_key, "receiver")
    return ca_pem, cert_pem, key_pem


@pytest_asyncio.fixture
async def receiver(tls_material, tmp_path) -> AsyncIterator[Receiver]:
    ca_pem, cert_pem, key_pem = tls_material
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    state = Receiver(port=0, ca_pem=ca_pem)
    context.sni_callback = lambda _sock, name, _ctx: state.sni.append(name)
    server = await asyncio.start_server(
        lambda r, w: serve(state, r, w), "127.0.0.1", 0, ssl=context
    )
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()
    for task in state.tasks:
        task.cancel()
    await asyncio.gather(*state.tasks, return_exceptions=True)
    await server.wait_closed()


@pytest_asyncio.fixture
async def sender(receiver) -> AsyncIterator[WebhookSender]:
    trust = ssl.create_default_context(cadata=receiver.ca_pem.decode())
    sending = WebhookSender(ssl_context=trust, timeout_s=SENDER_TIMEOUT_S)
    yield sending
    await sending.aclose()


def delivery(body: bytes = b'{"id":"evt_1"}') -> tuple[dict[str, str], bytes]:
    return wh.headers("evt_1", int(time.time()), body, [SECRET]), body


async def test_a_delivery_arrives_signed_as_the_reference_receiver_verifies(receiver, sender):
    body = wh.event_document("evt_01", "payout.completed", datetime.now(UTC), {"payout": "po_1"})
    headers = wh.headers("evt_01", int(time.time()), body, [SECRET])
    result = await sender.send(receiver.url("/ok"), headers, body, allow_private=True)
    assert (result.status_code, result.outcome, result.error) == (200, Outcome.DELIVERED, None)
    assert result.response_excerpt == "thanks"
    assert result.latency_ms >= 0
    (seen,) = receiver.requests
    assert seen.body == body
    assert Webhook(SECRET).verify(seen.body, seen.headers)["type"] == "payout.completed"
    assert seen.headers["host"] == f"localhost:{receiver.port}"
    assert seen.headers["content-type"] == "application/json"
    assert receiver.sni == ["localhost"]


async def test_connections_are_pooled_per_host_name_never_shared_across_names(receiver, sender):
    headers, body = delivery()
    for url in (receiver.url("/ok"), receiver.url("/ok"), receiver.url("/ok", "127.0.0.1")):
        assert (await sender.send(url, headers, body, allow_private=True)).status_code == 200
    # localhost twice on one connection; 127.0.0.1 is the same address but another name,
    # so it gets its own connection and its own certificate check (an IP gets no SNI).
    assert receiver.connections == 2
    assert receiver.sni == ["localhost", None]


@pytest.mark.parametrize(
    ("path", "status", "outcome"),
    [("/fail", 500, Outcome.RETRY), ("/gone", 410, Outcome.GONE), ("/nope", 404, Outcome.RETRY)],
)
async def test_a_receivers_status_decides_the_outcome(receiver, sender, path, status, outcome):
    headers, body = delivery()
    result = await sender.send(receiver.url(path), headers, body, allow_private=True)
    assert (result.status_code, result.outcome, result.error_kind) == (status, outcome, None)
    assert result.retry_after_s is None


async def test_retry_after_in_seconds_is_reported(receiver, sender):
    headers, body = delivery()
    result = await sender.send(receiver.url("/busy"), headers, body, allow_private=True)
    assert (result.status_code, result.outcome, result.retry_after_s) == (429, Outcome.RETRY, 120)
    assert result.response_excerpt == "slow down"


async def test_retry_after_as_an_http_date_is_reported_in_seconds(receiver, sender):
    headers, body = delivery()
    result = await sender.send(receiver.url("/busy-date"), headers, body, allow_private=True)
    assert result.status_code == 503
    assert result.retry_after_s is not None and 115 <= result.retry_after_s <= 121


async def test_a_redirect_is_not_followed(receiver, sender):
    headers, body = delivery()
    result = await sender.send(receiver.url("/redirect"), headers, body, allow_private=True)
    assert (result.status_code, result.outcome) == (302, Outcome.RETRY)
    assert [r.target for r in receiver.requests] == ["/redirect"]


async def test_a_slow_receiver_times_out_within_the_attempts_budget(receiver, sender):
    headers, body = delivery()
    result = await sender.send(receiver.url("/slow"), headers, body, allow_private=True)
    assert (result.status_code, result.error_kind, result.outcome) == (
        None,
        SendFailure.TIMEOUT,
        Outcome.RETRY,
    )
    assert SENDER_TIMEOUT_S * 1000 * 0.9 <= result.latency_ms < SLOW_S * 1000


async def test_the_excerpt_is_the_first_512_bytes_decoded_safely(receiver, sender):
    headers, body = delivery()
    result = await sender.send(receiver.url("/big"), headers, body, allow_private=True)
    assert result.status_code == 200
    assert result.response_excerpt == "é" * (EXCERPT_BYTES // 2)
    assert len(result.response_excerpt.encode()) == EXCERPT_BYTES


async def test_loopback_by_address_is_refused_without_a_connection(receiver, sender):
    headers, body = delivery()
    result = await sender.send(receiver.url("/ok", "127.0.0.1"), headers, body, False)
    assert (result.status_code, result.error_kind) == (None, SendFailure.DESTINATION_REFUSED)
    assert "loopback" in (result.error or "")
    assert receiver.connections == 0


async def test_a_name_resolving_to_loopback_is_refused_without_a_connection(receiver, sender):
    headers, body = delivery()
    result = await sender.send(receiver.url("/ok", "localhost"), headers, body, False)
    assert result.error_kind is SendFailure.DESTINATION_REFUSED
    assert "'localhost' resolves to 127.0.0.1: loopback" in (result.error or "")
    assert receiver.connections == 0 and receiver.requests == []


async def test_http_is_refused_by_a_sender_not_set_to_allow_it(receiver, sender):
    headers, body = delivery()
    url = f"http://localhost:{receiver.port}/ok"
    result = await sender.send(url, headers, body, allow_private=True)
    assert result.error_kind is SendFailure.DESTINATION_REFUSED
    assert receiver.connections == 0


async def test_a_certificate_from_an_unknown_ca_fails_as_tls_and_sends_nothing(receiver):
    untrusting = WebhookSender(timeout_s=SENDER_TIMEOUT_S)  # the public trust store only
    try:
        headers, body = delivery()
        result = await untrusting.send(receiver.url("/ok"), headers, body, allow_private=True)
    finally:
        await untrusting.aclose()
    assert (result.error_kind, result.outcome) == (SendFailure.TLS, Outcome.RETRY)
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert receiver.requests == []


async def test_a_closed_port_fails_as_connect(sender):
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    headers, body = delivery()
    result = await sender.send(f"https://localhost:{port}/ok", headers, body, True)
    assert (result.status_code, result.error_kind) == (None, SendFailure.CONNECT)


async def test_an_unresolvable_host_fails_as_dns(sender):
    headers, body = delivery()
    result = await sender.send("https://no-such-host.invalid/ok", headers, body, True)
    assert (result.status_code, result.error_kind) == (None, SendFailure.DNS)


async def test_a_host_httpx_cannot_encode_is_refused_not_raised(sender):
    headers, body = delivery()
    result = await sender.send("https://xn--zz.example/ok", headers, body, allow_private=True)
    assert result.error_kind is SendFailure.DESTINATION_REFUSED
    assert "invalid URL" in (result.error or "")


# -- the pinning transport on its own --------------------------------------------------------


async def transport_get(receiver: Receiver, pins: list[str] | None) -> httpx.Response:
    trust = ssl.create_default_context(cadata=receiver.ca_pem.decode())
    transport = PinnedTransport(ssl_context=trust, limits=httpx.Limits())
    async with httpx.AsyncClient(transport=transport, timeout=SENDER_TIMEOUT_S) as client:
        if pins is None:
            return await client.get(receiver.url("/ok"))
        with pinned("localhost", receiver.port, pins):
            return await client.get(receiver.url("/ok"))


async def test_the_transport_never_resolves_a_name_itself(receiver):
    with pytest.raises(httpx.ConnectError, match="no checked address"):
        await transport_get(receiver, None)
    assert receiver.connections == 0


async def test_the_transport_connects_to_the_pinned_address_not_the_names(receiver):
    # localhost resolves to 127.0.0.1, where the receiver listens; pinned to 127.0.0.2 (also
    # loopback, nothing listening), the connect goes there and fails: DNS is not asked.
    with pytest.raises(httpx.ConnectError):
        await transport_get(receiver, ["127.0.0.2"])
    assert receiver.connections == 0
    # The first pinned address that accepts is used.
    assert (await transport_get(receiver, ["127.0.0.2", "127.0.0.1"])).status_code == 200
    assert receiver.sni == ["localhost"]
