"""A real Envoy asks identity_svc's Check before every request: the wire contract holds.

Envoy's ext_authz filter calls the Check listener of a real identity service
(SQLite, plaintext loopback); allowed requests reach an echo upstream that
reports the headers it received. This proves the trimmed Envoy protos in
proto_vendor/ are what Envoy 1.40 sends and understands.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from identity_svc.adapters.pepper import load_pepper
from identity_svc.app import create_app
from identity_svc.domain.model import Principal
from identity_svc.domain.permissions import RateLimit, Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from identity_svc.settings import IdentitySettings
from svc_kit import db
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal
from svc_kit.server import ServiceHost
from tests.e2e.envoy_support import socket_address, start_envoy, static_cluster

pytestmark = pytest.mark.asyncio(loop_scope="module")


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with the headers it arrived with, as JSON."""

    def _reply(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on replies, not on stderr."""


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def edge_config(authz_port: int, echo_port: int) -> dict[str, Any]:
    """REST listener: ext_authz (fail closed) in front of the echo upstream."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "rest",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "echo"}}],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.ext_authz",
                "typed_config": {
                    "@type": "type.googleapis.com/"
                    "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
                    "grpc_service": {
                        "envoy_grpc": {"cluster_name": "identity_authz"},
                        "timeout": "1s",
                    },
                    "transport_api_version": "V3",
                    "failure_mode_allow": False,
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    return {
        "admin": {"address": socket_address(0)},
        "static_resources": {
            "listeners": [
                {
                    "name": "rest",
                    "address": socket_address(0),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": hcm,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                static_cluster("identity_authz", authz_port, http2=True),
                static_cluster("echo", echo_port, http2=False),
            ],
        },
    }


@dataclass
class Edge:
    rest: httpx.AsyncClient
    admin_token: str
    host: ServiceHost
    identity: Identity
    admin: Principal

    async def key(self, role: Role, limit: RateLimit | None = None) -> str:
        """A new key of a new merchant, issued by the admin."""
        ctx = CallContext(self.admin)
        merchant = await self.identity.create_merchant(
            ctx, display_name="m", default_currency="EUR", metadata={}, status=None, request_id=""
        )
        _, token = await self.identity.create_api_key(
            ctx,
            merchant.merchant_id,
            display_name="k",
            description="",
            role=role,
            expire_time=None,
            rate_limit=limit,
            request_id="",
        )
        return token


@asynccontextmanager
async def _serve(workdir: Path, echo_port: int) -> AsyncIterator[Edge]:
    """identity (SQLite under ``workdir``, plaintext loopback) behind Envoy, to the echo."""
    database_url = f"sqlite+aiosqlite:///{workdir / 'identity.db'}"
    settings = IdentitySettings(
        plaintext=True,
        listen_addr="127.0.0.1:0",
        authz_listen_addr="127.0.0.1:0",
        database_url=database_url,
        key_pepper_file=str(workdir / "pepper"),
        cache_refresh_interval_s=0.1,
    )
    host = await create_app(settings)
    await host.start()
    engine = db.make_engine(database_url)
    identity = Identity(engine, pepper=load_pepper(settings.key_pepper_file, environment="test"))
    _, admin_key, admin_token = await identity.bootstrap_admin()
    admin = Principal(admin_key.merchant_id, admin_key.key_id, Role.ADMIN, "test")
    assert host.hot_port is not None
    try:
        async with start_envoy(edge_config(host.hot_port, echo_port), workdir) as envoy:
            base = f"http://127.0.0.1:{envoy.ports['rest']}"
            async with httpx.AsyncClient(base_url=base, timeout=5.0) as client:
                yield Edge(client, admin_token, host, identity, admin)
    finally:
        await engine.dispose()
        await host.stop(0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge(tmp_path_factory: pytest.TempPathFactory, echo: int) -> AsyncIterator[Edge]:
    """Shared by the module's tests: each makes its own keys."""
    async with _serve(tmp_path_factory.mktemp("ext-authz"), echo) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def own_edge(tmp_path: Path, echo: int) -> AsyncIterator[Edge]:
    """For a test that stops identity."""
    async with _serve(tmp_path, echo) as running:
        yield running


async def test_envoy_refuses_a_request_without_a_key_with_identitys_json_401(edge: Edge) -> None:
    reply = await edge.rest.get("/v1/me")

    body = reply.json()
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert body["code"] == 16
    assert body["details"][0]["reason"] == "API_KEY_MISSING"


async def test_envoy_forwards_an_allowed_request_with_the_principal_and_without_the_key(
    edge: Edge,
) -> None:
    forged = EdgePrincipal("mer_x", "k", "owner", "test").to_header()

    reply = await edge.rest.get(
        "/v1/me",
        headers={"authorization": f"Bearer {edge.admin_token}", PRINCIPAL_HEADER: forged},
    )

    seen = reply.json()
    principal = EdgePrincipal.from_header(seen[PRINCIPAL_HEADER])
    assert reply.status_code == 200
    assert principal is not None and principal.role == "admin"
    assert principal.source_address.startswith("127.0.0.1:")
    assert "authorization" not in seen
    assert seen["x-request-id"]


async def test_envoy_lets_public_routes_through_without_a_forged_principal(edge: Edge) -> None:
    forged = EdgePrincipal("mer_x", "k", "admin", "test").to_header()

    reply = await edge.rest.post("/v1/provider-webhooks/stripe", headers={PRINCIPAL_HEADER: forged})

    assert reply.status_code == 200
    assert PRINCIPAL_HEADER not in reply.json()


async def test_envoy_answers_403_404_and_429_as_identity_decides(edge: Edge) -> None:
    viewer = await edge.key(Role.VIEWER)
    limited = await edge.key(Role.OWNER, RateLimit(requests_per_second=1, burst=1))

    forbidden = await edge.rest.post("/v1/merchants", headers={"authorization": f"Bearer {viewer}"})
    unknown = await edge.rest.get("/v1/nowhere", headers={"authorization": f"Bearer {viewer}"})
    first = await edge.rest.get("/v1/me", headers={"authorization": f"Bearer {limited}"})
    throttled = await edge.rest.get("/v1/me", headers={"authorization": f"Bearer {limited}"})

    assert (forbidden.status_code, forbidden.json()["details"][0]["reason"]) == (
        403,
        "PERMISSION_MISSING",
    )
    assert (unknown.status_code, unknown.json()["details"][0]["reason"]) == (
        404,
        "ROUTE_NOT_FOUND",
    )
    assert first.status_code == 200
    assert (throttled.status_code, throttled.json()["details"][0]["reason"]) == (
        429,
        "RATE_LIMITED",
    )
    assert int(throttled.headers["retry-after"]) >= 1


async def test_envoy_fails_closed_when_identity_is_down(own_edge: Edge) -> None:
    await own_edge.host.stop(0)

    reply = await own_edge.rest.get(
        "/v1/me", headers={"authorization": f"Bearer {own_edge.admin_token}"}
    )

    assert reply.status_code == 403
