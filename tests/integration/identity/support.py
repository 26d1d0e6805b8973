"""A real identity service on loopback, driven the way Envoy drives it.

``Edge.call`` does what the edge proxy does for one REST request: it sends
Check a CheckRequest shaped as Envoy's ext_authz filter sends it, and on allow
calls the RPC with the headers Check told Envoy to set. On deny it raises
``Denied`` with the HTTP status and JSON body Envoy would return. The real
Envoy in front of this is the edge issue's end-to-end suite; here the hop is
simulated, but everything behind it is the production code on a real server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.adapters.pepper import load_pepper
from identity_svc.app import create_app
from identity_svc.service_layer.identity import Identity
from identity_svc.settings import IdentitySettings
from paymesh.identity.v1 import identity_pb2_grpc
from paymesh.third_party.envoy import attribute_context_pb2, external_auth_pb2
from paymesh.third_party.envoy import external_auth_pb2_grpc as authz_grpc
from svc_kit import db

AttributeContext = attribute_context_pb2.AttributeContext
ENVOY_REQUEST_ID = "3f8a2c9e-7d41-4b8e-9a0c-5e2f1b6d8c47"


class Denied(Exception):
    """The edge refused the request: what the REST client would see."""

    def __init__(self, http_status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(f"{http_status}: {body.get('message')}")
        self.http_status = http_status
        self.body = body
        self.headers = headers

    @property
    def reason(self) -> str:
        """The ErrorInfo reason in the JSON body."""
        infos = [d for d in self.body.get("details", []) if d["@type"].endswith("ErrorInfo")]
        return str(infos[0]["reason"]) if infos else ""


def check_request(
    method: str, path: str, headers: dict[str, str], source: str = "203.0.113.7"
) -> external_auth_pb2.CheckRequest:
    """A CheckRequest as Envoy's HTTP ext_authz filter builds it."""
    http = AttributeContext.HttpRequest(
        id="envoy-generated-id",
        method=method,
        path=path,
        host="api.paymesh.local",
        scheme="https",
        protocol="HTTP/1.1",
        # Envoy's connection manager sets x-request-id before ext_authz runs.
        headers={
            ":authority": "api.paymesh.local",
            ":method": method,
            ":path": path,
            "x-request-id": ENVOY_REQUEST_ID,
            **headers,
        },
    )
    attrs = AttributeContext(request=AttributeContext.Request(http=http))
    attrs.source.address.socket_address.address = source
    attrs.source.address.socket_address.port_value = 51234
    return external_auth_pb2.CheckRequest(attributes=attrs)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header a merchant's backend sends."""
    return {"authorization": f"Bearer {token}"}


@dataclass
class Edge:
    """The service's two faces: Check (Envoy's view) and IdentityService (upstream)."""

    channel: grpc.aio.Channel
    identity: Identity
    engine: AsyncEngine
    admin_token: str
    checks: authz_grpc.AuthorizationStub = field(init=False)
    stub: identity_pb2_grpc.IdentityServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.checks = authz_grpc.AuthorizationStub(self.channel)
        self.stub = identity_pb2_grpc.IdentityServiceStub(self.channel)

    async def check(
        self, method: str, path: str, headers: dict[str, str]
    ) -> external_auth_pb2.CheckResponse:
        """One Check, as Envoy sends it."""
        # grpc-stubs types the stub as the sync API; on an aio channel the call is awaitable.
        reply: external_auth_pb2.CheckResponse = await self.checks.Check(  # type: ignore[misc]
            check_request(method, path, headers)
        )
        return reply

    async def call(self, rpc: str, request: Any, method: str, path: str, token: str | None) -> Any:
        """Check, then the RPC with the headers Check set; Denied if Check refused."""
        sent = bearer(token) if token else {}
        response = await self.check(method, path, sent)
        if response.WhichOneof("http_response") == "denied_response":
            denied = response.denied_response
            headers = {h.header.key: h.header.value for h in denied.headers}
            raise Denied(int(denied.status.code), json.loads(denied.body), headers)
        # Upstream gets the request's own headers minus those Check removed, plus those it set.
        ok = response.ok_response
        forwarded = {"x-request-id": ENVOY_REQUEST_ID, **sent}
        for name in ok.headers_to_remove:
            forwarded.pop(name, None)
        forwarded.update({h.header.key: h.header.value for h in ok.headers})
        metadata = tuple(forwarded.items())
        return await getattr(self.stub, rpc)(request, metadata=metadata)


@asynccontextmanager
async def serve_identity(database_url: str, tmp: Path) -> AsyncIterator[Edge]:
    """A started identity service on ``database_url``, with a bootstrapped admin key."""
    settings = IdentitySettings(
        plaintext=True,
        listen_addr="127.0.0.1:0",
        database_url=database_url,
        key_pepper_file=str(tmp / "pepper"),
        cache_refresh_interval_s=0.1,
        usage_flush_interval_s=0.2,
        log_level="DEBUG",
    )
    host = await create_app(settings)
    port = await host.start()
    engine = db.make_engine(database_url)
    identity = Identity(engine, pepper=load_pepper(settings.key_pepper_file, environment="test"))
    try:
        _, _, admin_token = await identity.bootstrap_admin()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Edge(channel, identity, engine, admin_token)
    finally:
        await engine.dispose()
        await host.stop(0)
