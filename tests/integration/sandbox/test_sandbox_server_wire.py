"""HTTP/1.1 framing and TLS: keep-alive, chunked bodies, malformed requests, concurrency."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox.config import SandboxConfig
from sandbox.testing import ECHO, EchoSim, SandboxHandle, running_sandbox


@pytest.fixture
def sandbox_providers() -> list[str]:
    """The echo simulator only: these tests are about the host, not any provider."""
    return []


async def _raw_exchange(sandbox: SandboxHandle, data: bytes) -> bytes:
    """Send ``data`` on a fresh TLS connection and read until the server closes it."""
    context = sandbox.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", sandbox.running.port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), timeout=2)
    finally:
        writer.close()


async def test_keep_alive_serves_many_requests_on_one_connection(
    sandbox_server: SandboxHandle,
) -> None:
    async with sandbox_server.client("echo") as client:
        statuses = [(await client.get(f"/{i}")).status_code for i in range(5)]
    assert statuses == [200] * 5
    assert sandbox_server.running.sandbox.connections_accepted == 1


async def test_a_chunked_request_body_is_reassembled(sandbox_server: SandboxHandle) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"amount=", b"1099", b"&currency=usd"):
            yield part

    async with sandbox_server.client("echo") as client:
        reply = await client.post("/v1/charges", content=chunks())
    assert reply.request.headers["transfer-encoding"] == "chunked"
    assert reply.json()["body"] == "amount=1099&currency=usd"


async def test_a_head_request_gets_headers_and_no_body(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client("echo") as client:
        head = await client.head("/x")
        after = await client.get("/y")  # the connection is still in step
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert after.json()["path"] == "/y"


async def test_a_malformed_request_is_answered_400_and_closed(
    sandbox_server: SandboxHandle,
) -> None:
    answer = await _raw_exchange(sandbox_server, b"GARBAGE\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in head
    assert body.startswith(b'{"error":"bad request')
    assert b"HTTP/1.1 200" not in answer  # nothing after the bad request was served


async def test_an_oversized_head_is_answered_431(sandbox_server: SandboxHandle) -> None:
    # Unfinished: h11 bounds a head it is still waiting for the end of.
    huge = b"GET /echo/x HTTP/1.1\r\nhost: a\r\nx-big: " + b"a" * 70_000
    answer = await _raw_exchange(sandbox_server, huge)
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_pipelined_requests_are_answered_in_order(sandbox_server: SandboxHandle) -> None:
    requests = b"".join(
        f"GET /echo/slow?ms={ms} HTTP/1.1\r\nhost: a\r\n\r\n".encode() for ms in (50, 0)
    )
    answer = await _raw_exchange(
        sandbox_server,
        requests + b"GET /echo/last HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    )
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.index(b'"ms":"50"') < answer.index(b'"ms":"0"') < answer.index(b"/last")


async def test_connection_close_from_the_client_is_honoured(sandbox_server: SandboxHandle) -> None:
    answer = await _raw_exchange(
        sandbox_server, b"GET /healthz HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 OK")  # and read() returned: the server closed


async def test_many_connections_are_served_concurrently(sandbox_server: SandboxHandle) -> None:
    limits = httpx.Limits(max_connections=40)
    async with sandbox_server.client("echo", limits=limits) as client:
        started = time.perf_counter()
        replies = await asyncio.gather(*(client.get("/slow?ms=200") for _ in range(40)))
        elapsed_s = time.perf_counter() - started
    assert [r.status_code for r in replies] == [200] * 40
    assert elapsed_s < 1.5  # serially it would take 8 s
    assert sandbox_server.running.sandbox.connections_accepted == 40


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tls_1_2_clients_are_served_and_older_ones_refused(
    sandbox_server: SandboxHandle,
) -> None:
    context = sandbox_server.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with httpx.AsyncClient(verify=context) as client:
        reply = await client.get(f"{sandbox_server.url}/healthz")
    assert reply.status_code == 200
    old = sandbox_server.ssl_context()
    assert isinstance(old, ssl.SSLContext)
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    async with httpx.AsyncClient(verify=old) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{sandbox_server.url}/healthz")


async def test_a_client_that_does_not_trust_the_dev_ca_is_refused(
    sandbox_server: SandboxHandle,
) -> None:
    async with httpx.AsyncClient() as client:  # the system's CAs
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"{sandbox_server.url}/healthz")


async def test_the_plaintext_variant_serves_http(sandbox_plain: SandboxHandle) -> None:
    assert sandbox_plain.url.startswith("http://127.0.0.1:")
    assert sandbox_plain.config.public_url == sandbox_plain.url
    async with sandbox_plain.client("echo") as client:
        assert (await client.get("/x")).json()["path"] == "/x"


async def test_a_held_connection_is_reset_after_the_cap() -> None:
    async with running_sandbox({ECHO: EchoSim}, SandboxConfig(), hold_cap_s=0.2) as sandbox:
        await sandbox.control.add_fault(provider="echo", kind="commit_then_timeout")
        async with sandbox.client("echo", timeout=5) as client:
            started = time.perf_counter()
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await client.post("/charges")
            elapsed_s = time.perf_counter() - started
    assert 0.2 <= elapsed_s < 1.0


async def test_closing_the_server_resets_a_held_connection() -> None:
    async with running_sandbox({ECHO: EchoSim}, SandboxConfig()) as sandbox:
        await sandbox.control.add_fault(provider="echo", kind="commit_then_timeout")
        client = sandbox.client("echo", timeout=5)
        pending = asyncio.create_task(client.post("/charges"))
        for _ in range(200):  # until the request is being held
            if sandbox.running.sandbox.faults.fired:
                break
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        await sandbox.running.close()
        elapsed_s = time.perf_counter() - started
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await pending
        await client.aclose()
    assert elapsed_s < 1.0
