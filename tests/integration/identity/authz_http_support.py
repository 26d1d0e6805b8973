"""identity over mTLS with its HTTP ext_authz listener on, and a client that talks to the
listener the way Envoy's ext_authz HTTP client does: one keep-alive HTTP/1.1 connection,
``<method> /check<path>``, Envoy's certificate.

``served_identity`` starts the real service (create_app, a dev PKI and SQLite under the
test's directory, every port 0) and bootstraps an admin key. Its ``edge`` is the gRPC face
(tests.integration.identity.support.Edge over mTLS as Envoy): the gRPC Check to compare
with, and IdentityService to create merchants and keys through.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc.aio

from identity_svc.adapters.pepper import load_pepper
from identity_svc.app import create_app
from identity_svc.service_layer.identity import Identity
from identity_svc.settings import IdentitySettings
from svc_kit import db
from svc_kit.pki import write_dev_pki
from svc_kit.server import ServiceHost
from svc_kit.tls import channel_credentials
from tests.integration.identity.support import ENVOY_REQUEST_ID, Edge

TIMEOUT_S = 5.0


@dataclass
class HttpReply:
    """One HTTP response as the client read it."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as JSON."""
        value: dict[str, Any] = json.loads(self.body)
        return value

    @property
    def reason(self) -> str:
        """The ErrorInfo reason of a JSON error body."""
        return str(self.json()["details"][0]["reason"])


def client_tls(
    pki: Path, workload: str | None = "envoy", *, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client context trusting ``pki``'s CA, presenting ``workload``'s certificate."""
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if workload is not None:
        context.load_cert_chain(pki / f"{workload}.pem", pki / f"{workload}-key.pem")
    context.set_alpn_protocols(["http/1.1"])
    if maximum is not None:
        context.maximum_version = maximum
    return context


@dataclass
class CheckConnection:
    """One connection to the listener."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext | None) -> CheckConnection:
        """Connect (and, with ``context``, complete the TLS handshake)."""
        async with asyncio.timeout(TIMEOUT_S):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                port,
                ssl=context,
                server_hostname="localhost" if context is not None else None,
            )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> HttpReply:
        """Read one response: its head, then Content-Length bytes of body."""
        async with asyncio.timeout(TIMEOUT_S):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines)
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return HttpReply(int(status_line.split(" ")[1]), headers, body)

    async def check(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> HttpReply:
        """One check, as Envoy asks it: original method, "/check" + original path."""
        await self.send(check_bytes(method, path, headers or {}))
        return await self.reply()

    async def closed_by_server(self) -> bool:
        """True when the server closes the connection (EOF) with nothing more to read."""
        async with asyncio.timeout(TIMEOUT_S):
            try:
                return await self.reader.read() == b""
            except (ConnectionError, ssl.SSLError):
                return True

    async def close(self) -> None:
        """Close our side."""
        self.writer.close()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass  # the server may have closed first


def check_bytes(method: str, path: str, headers: dict[str, str]) -> bytes:
    """The request Envoy's ext_authz HTTP client sends for ``method path``."""
    sent = {
        "host": "identity",
        "content-length": "0",
        "x-request-id": ENVOY_REQUEST_ID,
        "x-forwarded-for": "203.0.113.7",
        **headers,
    }
    lines = "".join(f"{name}: {value}\r\n" for name, value in sent.items())
    return f"{method} /check{path} HTTP/1.1\r\n{lines}\r\n".encode()


@dataclass
class Served:
    """The running service, its PKI and where it listens."""

    host: ServiceHost
    edge: Edge
    pki: Path
    ports_file: Path
    port: int
    """The HTTP check listener's."""
    opened: list[CheckConnection] = field(default_factory=list)

    async def connect(self, workload: str | None = "envoy") -> CheckConnection:
        """A new connection to the check listener with ``workload``'s certificate."""
        connection = await CheckConnection.open(self.port, client_tls(self.pki, workload))
        self.opened.append(connection)
        return connection


def settings_for(tmp: Path, database_url: str, **overrides: Any) -> IdentitySettings:
    """mTLS with identity's certificate from ``tmp``/pki; every listener on port 0."""
    pki = tmp / "pki"
    values: dict[str, Any] = {
        "listen_addr": "127.0.0.1:0",
        "authz_http_listen_addr": "127.0.0.1:0",
        "database_url": database_url,
        "key_pepper_file": str(tmp / "pepper"),
        "ports_file": str(tmp / "run" / "identity.json"),
        "tls_cert_file": str(pki / "identity.pem"),
        "tls_key_file": str(pki / "identity-key.pem"),
        "tls_ca_file": str(pki / "ca.pem"),
        "cache_refresh_interval_s": 0.1,
        "usage_flush_interval_s": 0.2,
        **overrides,
    }
    return IdentitySettings(**values)


@asynccontextmanager
async def served_identity(tmp: Path, database_url: str, **overrides: Any) -> AsyncIterator[Served]:
    """identity over mTLS with the HTTP check listener on, and a bootstrapped admin key."""
    write_dev_pki(tmp / "pki")
    settings = settings_for(tmp, database_url, **overrides)
    host = await create_app(settings)
    grpc_port = await host.start()
    engine = db.make_engine(database_url)
    identity = Identity(engine, pepper=load_pepper(settings.key_pepper_file, environment="test"))
    pki = tmp / "pki"
    credentials = channel_credentials(
        str(pki / "envoy.pem"), str(pki / "envoy-key.pem"), str(pki / "ca.pem")
    )
    port = host.side_ports["authz_http"]
    assert port is not None
    served: Served | None = None
    try:
        _, _, admin_token = await identity.bootstrap_admin()
        async with grpc.aio.secure_channel(f"localhost:{grpc_port}", credentials) as channel:
            edge = Edge(channel, identity, engine, admin_token)
            served = Served(host, edge, pki, Path(settings.ports_file), port)
            yield served
    finally:
        for connection in served.opened if served is not None else ():
            await connection.close()
        await engine.dispose()
        await host.stop(0)
