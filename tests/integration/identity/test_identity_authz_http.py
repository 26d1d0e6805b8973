"""identity's ext_authz over HTTP/1.1: real service, real sockets, real mTLS, port 0.

Asked as Envoy's ``http_service`` asks (``path_prefix: /check``, Envoy's certificate), the
listener gives the answers the gRPC Check gives, byte for byte where a client sees them.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from sqlalchemy.engine import make_url

from identity_svc.app import create_app
from identity_svc.settings import IdentitySettings
from paymesh.identity.v1 import identity_pb2 as pb
from svc_kit.pki import cert_info, rotate_dev_pki
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal
from tests.integration.identity.authz_http_support import (
    CheckConnection,
    Served,
    check_bytes,
    client_tls,
    served_identity,
)
from tests.integration.identity.support import bearer
from tests.integration.identity.test_identity_key_lifecycle import new_key, new_merchant

REMOVE = "x-envoy-auth-headers-to-remove"


@pytest_asyncio.fixture
async def served(sqlite_database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with served_identity(tmp_path, sqlite_database_url) as running:
        yield running


async def test_an_allowed_check_sets_the_principal_and_removes_the_key(served: Served) -> None:
    merchant_id = await new_merchant(served.edge)
    key_id, secret = await new_key(served.edge, merchant_id, pb.ROLE_VIEWER)
    connection = await served.connect()

    reply = await connection.check(
        "GET", "/v1/me", {**bearer(secret), "x-forwarded-for": "198.51.100.1, 203.0.113.9"}
    )

    assert (reply.status, reply.body) == (200, b"")
    principal = EdgePrincipal.from_header(reply.headers[PRINCIPAL_HEADER])
    assert principal is not None
    assert (principal.merchant_id, principal.key_id, principal.role) == (
        merchant_id,
        key_id,
        "viewer",
    )
    assert principal.source_address == "203.0.113.9"  # the entry Envoy appended
    assert reply.headers[REMOVE] == "authorization,x-api-key"
    assert "x-request-id" not in reply.headers  # Envoy's own id is kept
    assert reply.headers["content-length"] == "0"


async def test_a_check_without_a_key_is_the_grpc_checks_exact_401(served: Served) -> None:
    connection = await served.connect()

    reply = await connection.check("GET", "/v1/merchants")
    grpc_denied = (await served.edge.check("GET", "/v1/merchants", {})).denied_response

    assert reply.status == int(grpc_denied.status.code) == 401
    assert reply.body.decode() == grpc_denied.body
    assert reply.reason == "API_KEY_MISSING"
    sent = {name: value for name, value in reply.headers.items() if name != "content-length"}
    assert sent == {h.header.key: h.header.value for h in grpc_denied.headers}
    assert reply.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_route_with_a_valid_key_is_404(served: Served) -> None:
    connection = await served.connect()

    reply = await connection.check("GET", "/v1/nothing-here", bearer(served.edge.admin_token))

    assert (reply.status, reply.reason) == (404, "ROUTE_NOT_FOUND")


@pytest.mark.parametrize("target", ["/v1/me", "/checkout/v1/me", "/check", "/healthz/x"])
async def test_a_path_outside_check_is_404_and_never_an_allow(served: Served, target: str) -> None:
    connection = await served.connect()
    headers = bearer(served.edge.admin_token)
    request = (
        f"GET {target} HTTP/1.1\r\nhost: identity\r\nauthorization: {headers['authorization']}"
    )

    await connection.send(f"{request}\r\n\r\n".encode())
    reply = await connection.reply()

    assert (reply.status, reply.reason) == (404, "AUTHZ_PATH_UNKNOWN")
    assert PRINCIPAL_HEADER not in reply.headers and REMOVE not in reply.headers


async def test_a_revoked_key_is_refused_within_one_second(served: Served) -> None:
    merchant_id = await new_merchant(served.edge)
    key_id, secret = await new_key(served.edge, merchant_id)
    connection = await served.connect()
    assert (await connection.check("GET", "/v1/me", bearer(secret))).status == 200

    await served.edge.call(
        "RevokeApiKey",
        pb.RevokeApiKeyRequest(key_id=key_id),
        "POST",
        f"/v1/api-keys/{key_id}:revoke",
        served.edge.admin_token,
    )
    started = time.monotonic()
    while (reply := await connection.check("GET", "/v1/me", bearer(secret))).status == 200:
        assert time.monotonic() - started < 2.0, "the revoked key still works"
        await asyncio.sleep(0.02)

    assert time.monotonic() - started < 1.0
    assert (reply.status, reply.reason) == (401, "API_KEY_REVOKED")


async def test_a_key_past_its_burst_gets_429_with_retry_after(served: Served) -> None:
    merchant_id = await new_merchant(served.edge)
    _, secret = await new_key(
        served.edge, merchant_id, rate_limit=pb.RateLimit(requests_per_second=1, burst=3)
    )
    connection = await served.connect()

    replies = [await connection.check("GET", "/v1/me", bearer(secret)) for _ in range(4)]

    assert [r.status for r in replies] == [200, 200, 200, 429]
    assert replies[3].reason == "RATE_LIMITED"
    assert int(replies[3].headers["retry-after"]) >= 1


async def test_healthz_says_serving(served: Served) -> None:
    connection = await served.connect()

    await connection.send(
        b"GET /healthz HTTP/1.1\r\nhost: identity\r\nuser-agent: Envoy/HC\r\n\r\n"
    )
    reply = await connection.reply()

    assert (reply.status, reply.body) == (200, b"SERVING")


async def test_pipelined_requests_are_answered_in_order_when_the_first_waits(
    served: Served,
) -> None:
    merchant_id = await new_merchant(served.edge)
    _, secret = await new_key(served.edge, merchant_id)  # never used: its check loads it
    connection = await served.connect()

    await connection.send(
        check_bytes("GET", "/v1/me", bearer(secret))
        + check_bytes("GET", "/v1/me", {})
        + b"GET /healthz HTTP/1.1\r\nhost: identity\r\n\r\n"
    )
    replies = [await connection.reply() for _ in range(3)]

    assert [r.status for r in replies] == [200, 401, 200]
    assert PRINCIPAL_HEADER in replies[0].headers
    assert replies[2].body == b"SERVING"


async def test_a_head_check_gets_no_body_and_the_connection_stays_usable(served: Served) -> None:
    connection = await served.connect()

    await connection.send(check_bytes("HEAD", "/v1/me", {}))
    async with asyncio.timeout(5):
        head = await connection.reader.readuntil(b"\r\n\r\n")
    after = await connection.check("GET", "/v1/me", bearer(served.edge.admin_token))

    assert head.startswith(b"HTTP/1.1 401 ") and b"content-length: " in head
    assert after.status == 200  # no stray body bytes were read as this reply


async def test_an_oversized_head_is_431_and_closes(served: Served) -> None:
    connection = await served.connect()

    await connection.send(check_bytes("GET", "/v1/me", {"x-pad": "p" * 17_000}))
    reply = await connection.reply()

    assert (reply.status, reply.reason) == (431, "HTTP_HEAD_TOO_LARGE")
    assert await connection.closed_by_server()


async def test_garbage_is_400_and_closes(served: Served) -> None:
    connection = await served.connect()

    await connection.send(b"\x16\x03\x01 hello there\r\n\r\n")
    reply = await connection.reply()

    assert (reply.status, reply.reason) == (400, "HTTP_REQUEST_MALFORMED")
    assert reply.headers["connection"] == "close"
    assert await connection.closed_by_server()


async def test_another_workload_of_our_ca_is_refused_403_and_closed(served: Served) -> None:
    connection = await served.connect("client")

    reply = await connection.check("GET", "/v1/me", bearer(served.edge.admin_token))

    assert (reply.status, reply.reason) == (403, "PEER_NOT_ALLOWED")
    assert reply.json()["details"][0]["metadata"] == {"peer": "spiffe://paymesh.local/client"}
    assert await connection.closed_by_server()


async def test_a_client_without_a_certificate_gets_no_answer(served: Served) -> None:
    async def ask() -> None:
        connection = await CheckConnection.open(served.port, client_tls(served.pki, None))
        try:
            await connection.check("GET", "/v1/me", bearer(served.edge.admin_token))
        finally:
            await connection.close()

    # TLS 1.3: the client finishes its side before the server checks the certificate; the
    # server's alert then ends the connection before any HTTP.
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        await ask()


async def test_a_tls_1_2_client_fails_the_handshake(served: Served) -> None:
    context = client_tls(served.pki, maximum=ssl.TLSVersion.TLSv1_2)

    # The server ends the handshake at the ClientHello (an alert, or just the reset).
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await CheckConnection.open(served.port, context)
    assert (await served.connect()).writer.get_extra_info("ssl_object").version() == "TLSv1.3"


async def test_the_ports_file_publishes_the_listener_as_authz_http(served: Served) -> None:
    published = json.loads(served.ports_file.read_text())

    assert published["authz_http"] == served.port
    assert published["grpc"] == served.host.port
    assert published["pid"] == os.getpid()


async def test_a_rotated_certificate_is_served_to_new_connections(served: Served) -> None:
    before = await served.connect()
    old_serial = cert_info((served.pki / "identity.pem").read_bytes()).serial

    rotate_dev_pki(served.pki)
    after = await served.connect()

    new_serial = cert_info((served.pki / "identity.pem").read_bytes()).serial
    assert new_serial != old_serial
    assert _served_serial(after) == new_serial
    assert _served_serial(before) == old_serial
    assert (await before.check("GET", "/v1/me", bearer(served.edge.admin_token))).status == 200
    assert (await after.check("GET", "/v1/me", bearer(served.edge.admin_token))).status == 200


def _served_serial(connection: CheckConnection) -> int:
    tls = connection.writer.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True)
    return cert_info(ssl.DER_cert_to_PEM_cert(der).encode()).serial


async def test_the_listener_is_off_by_default_and_published_as_null(
    sqlite_database_url: str, tmp_path: Path
) -> None:
    ports_file = tmp_path / "ports.json"
    settings = IdentitySettings(
        plaintext=True,
        listen_addr="127.0.0.1:0",
        database_url=sqlite_database_url,
        key_pepper_file=str(tmp_path / "pepper"),
        ports_file=str(ports_file),
    )
    host = await create_app(settings)
    await host.start()
    try:
        published = json.loads(ports_file.read_text())
    finally:
        await host.stop(0)

    assert settings.authz_http_listen_addr == ""
    assert published["authz_http"] is None
    assert host.side_ports == {"authz_http": None}


def test_a_plaintext_check_listener_must_be_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        IdentitySettings(
            plaintext=True, listen_addr="127.0.0.1:0", authz_http_listen_addr="0.0.0.0:50064"
        )


def _allow_connections(admin: psycopg.Connection[tuple[object, ...]], name: str, on: bool) -> None:
    statement = "ALTER DATABASE {} ALLOW_CONNECTIONS " + ("true" if on else "false")
    admin.execute(sql.SQL(statement).format(sql.Identifier(name)))


async def test_when_the_store_is_down_a_check_is_503_and_health_not_serving(
    pg_database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    name = str(make_url(pg_database_url).database)
    async with served_identity(tmp_path, pg_database_url, health_probe_interval_s=0.1) as served:
        merchant_id = await new_merchant(served.edge)
        _, secret = await new_key(served.edge, merchant_id)  # not cached: its check loads it
        connection = await served.connect()
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            # No new connection to the database from anyone (superusers included), and the
            # open ones are ended: the store is really down.
            _allow_connections(admin, name, on=False)
            try:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                down = await connection.check("GET", "/v1/me", bearer(secret))
                await asyncio.sleep(0.5)  # a few health probes
                await connection.send(b"GET /healthz HTTP/1.1\r\nhost: identity\r\n\r\n")
                health = await connection.reply()
            finally:
                _allow_connections(admin, name, on=True)

    assert down.status == 503
    assert (down.json()["code"], down.reason) == (14, "AUTHZ_STORE_UNAVAILABLE")
    assert (health.status, health.body) == (503, b"NOT_SERVING")
