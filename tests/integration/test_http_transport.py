"""The gateway's httpx transport (asyncio streams under httpcore's pool) against real local
TLS servers: what it sends and reuses, and which httpx error each socket failure becomes,
since ``providers.http.send`` decides "never sent" (failover is safe) or "may have arrived"
(UNKNOWN) from that error alone."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from gateway_svc.adapters.http_transport import CoreTransport
from svc_kit.pki import generate_ca, issue_cert

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"


@dataclass
class Server:
    port: int
    connections: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path, Path]:
    ca_pem, ca_key = generate_ca("transport test CA")
    cert_pem, key_pem = issue_cert(ca_pem, ca_key, "provider")
    where = tmp_path_factory.mktemp("pki")
    (where / "cert.pem").write_bytes(cert_pem)
    (where / "key.pem").write_bytes(key_pem)
    return ca_pem, where / "cert.pem", where / "key.pem"


@pytest_asyncio.fixture
async def start(pki) -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    """Starts a TLS server for 127.0.0.1 running ``handler`` per connection."""
    _, cert, key = pki
    servers: list[asyncio.Server] = []

    async def starting(handler: Handler) -> Server:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        state = Server(port=0)

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections.append(writer.get_extra_info("peername")[1])
            try:
                await handler(reader, writer)
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        state.port = server.sockets[0].getsockname()[1]
        return state

    yield starting
    for server in servers:
        server.close()


def client(pki, timeout_s: float = 2.0, ca_pem: bytes | None = None) -> httpx.AsyncClient:
    trust = ssl.create_default_context(cadata=(ca_pem or pki[0]).decode())
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30)
    return httpx.AsyncClient(
        transport=CoreTransport(ssl_context=trust, limits=limits), timeout=timeout_s
    )


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
    return head + await reader.readexactly(length)


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()


async def test_requests_go_over_tls_and_reuse_one_kept_alive_connection(pki, start) -> None:
    server = await start(keep_alive)
    async with client(pki) as http:
        replies = [await http.post(f"https://127.0.0.1:{server.port}/x", content=b"a=1")
                   for _ in range(3)]  # fmt: skip
    assert [(r.status_code, r.content) for r in replies] == [(200, b"hello")] * 3
    assert len(server.connections) == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused(pki, start) -> None:
    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await read_request(reader)
        writer.write(OK)  # no "connection: close": the client thinks it may keep it
        await writer.drain()

    server = await start(answer_then_close)
    async with client(pki) as http:
        first = await http.get(f"https://127.0.0.1:{server.port}/a")
        await asyncio.sleep(0.2)  # the server's close has arrived
        second = await http.get(f"https://127.0.0.1:{server.port}/b")
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(server.connections) == 2


async def test_a_refused_connect_is_a_connect_error(pki, start) -> None:
    server = await start(keep_alive)
    port = server.port
    async with client(pki) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("https://127.0.0.1:1/")  # nothing listens on port 1
        assert (await http.get(f"https://127.0.0.1:{port}/")).status_code == 200


async def test_a_certificate_from_another_ca_is_a_connect_error(pki, start) -> None:
    server = await start(keep_alive)
    other_ca, _ = generate_ca("someone else")
    async with client(pki, ca_pem=other_ca) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://127.0.0.1:{server.port}/")


async def test_no_answer_in_time_is_a_read_timeout(pki, start) -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await read_request(reader)
        await asyncio.sleep(5)

    server = await start(never_answers)
    async with client(pki, timeout_s=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"https://127.0.0.1:{server.port}/charge", content=b"amount=1")
    assert len(server.connections) == 1


async def test_a_connection_dropped_after_the_request_is_not_a_connect_error(pki, start) -> None:
    """The request reached the server: the error must not read as "never sent"."""

    async def read_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await read_request(reader)
        writer.transport.abort()

    server = await start(read_then_drop)
    async with client(pki) as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.post(f"https://127.0.0.1:{server.port}/charge", content=b"amount=1")
    assert isinstance(caught.value, httpx.ReadError | httpx.RemoteProtocolError)
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)


async def test_a_body_larger_than_the_socket_buffers_is_sent_whole(pki, start) -> None:
    """The socket cannot take 8 MiB at once: the write waits for it to drain."""
    received: list[int] = []

    async def count_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        received.append(len(await read_request(reader)))
        writer.write(OK)
        await writer.drain()

    server = await start(count_body)
    body = b"x" * (8 * 1024 * 1024)
    async with client(pki) as http:
        reply = await http.post(f"https://127.0.0.1:{server.port}/upload", content=body)
    assert reply.status_code == 200
    assert received and received[0] > len(body)  # the head, then every byte of the body
