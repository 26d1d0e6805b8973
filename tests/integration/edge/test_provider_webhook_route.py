"""Issue 7's webhook contracts at the edge: the public provider callback route, WebhookService.

The config tests read identity's route table and the rendered bootstrap: every REST route of
the issue's WebhookService table resolves to its RPC and ``webhooks:manage``, the provider
callback route is public, and Envoy gives it 15 s.

The wire tests run the real Envoy and the real identity (ext_authz) in front of a stand-in
gateway (stand_in_support.py) with the shared error mapping, serving a recording
ProviderWebhookService and WebhookService.UpdateWebhookEndpoint. They prove what a
provider's callback turns into on its way in: the exact raw bytes (not JSON, a UTF-8 BOM) and
content type as a google.api.HttpBody, its signature headers as gRPC metadata, no API key
needed; and that a refusal from the gateway reaches the provider as the JSON error body with
the HTTP status it means. WebhookService's routes, by contrast, need a key with the permission.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from identity_svc.domain.permissions import Permission, Role
from identity_svc.entrypoints.routes import RouteTable
from identity_svc.service_layer.authorizer import PUBLIC
from paymesh.gateway.v1 import webhooks_pb2
from scripts import envoy_config as ec
from svc_kit.faults import DomainError
from svc_kit.grpc_errors import ErrorMapper
from svc_kit.principal import PRINCIPAL_HEADER
from svc_kit.server import ServiceBinding
from tests.e2e.stack_fixture import Edge, Services
from tests.integration.edge.config_support import hcm
from tests.integration.edge.stand_in_support import GATEWAY_DOMAIN, gateway_stand_in, unary_binding

WEBHOOKS = "paymesh.gateway.v1.WebhookService"
PROVIDER_WEBHOOKS = "paymesh.gateway.v1.ProviderWebhookService"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
PROVIDERS = ("stripe", "authorizenet", "razorpay", "paypal", "currencycloud")
# The issue's WebhookService table, with sample ids.
CONTRACT = [
    ("POST", "/v1/webhook-endpoints", "CreateWebhookEndpoint"),
    ("GET", "/v1/webhook-endpoints", "ListWebhookEndpoints"),
    ("GET", "/v1/webhook-endpoints/we_1", "GetWebhookEndpoint"),
    ("PATCH", "/v1/webhook-endpoints/we_1", "UpdateWebhookEndpoint"),
    ("DELETE", "/v1/webhook-endpoints/we_1", "DeleteWebhookEndpoint"),
    ("POST", "/v1/webhook-endpoints/we_1:rotateSecret", "RotateWebhookSecret"),
    ("GET", "/v1/events", "ListEvents"),
    ("GET", "/v1/events/evt_1", "GetEvent"),
    ("GET", "/v1/events/evt_1/attempts", "ListDeliveryAttempts"),
    ("POST", "/v1/events/evt_1:redeliver", "RedeliverEvent"),
]
# Authorize.net prefixes its JSON with a UTF-8 BOM; a signature covers those bytes too.
BOM_JSON = b'\xef\xbb\xbf{"notificationId":"n-1","eventType":"net.authorize.payment.void.created"}'
NOT_JSON = b"t=1&v=\x00\xff\xfe not JSON, not UTF-8\r\n"


# --- the contract in the descriptors and the rendered config -----------------------------


@pytest.mark.parametrize(("method", "path", "rpc"), CONTRACT)
def test_every_webhook_service_route_of_the_issue_needs_webhooks_manage(
    method: str, path: str, rpc: str
) -> None:
    route = RouteTable.for_paymesh().lookup(method, path)

    assert route is not None
    assert (route.full_method, route.access) == (f"/{WEBHOOKS}/{rpc}", Permission.WEBHOOKS_MANAGE)


def test_the_provider_callback_route_is_public_for_every_provider() -> None:
    table = RouteTable.for_paymesh()
    routes = {table.lookup("POST", f"/v1/provider-webhooks/{p}") for p in PROVIDERS}

    (route,) = routes
    assert route is not None
    assert (route.full_method, route.access) == (
        f"/{PROVIDER_WEBHOOKS}/ReceiveProviderWebhook",
        PUBLIC,
    )


def test_envoy_waits_15_s_for_the_gateway_on_provider_callbacks(config: dict[str, Any]) -> None:
    (host,) = hcm(config, ec.REST_LISTENER)["route_config"]["virtual_hosts"]
    route = next(r for r in host["routes"] if r["match"]["prefix"] == f"/{PROVIDER_WEBHOOKS}/")

    assert ec.ROUTE_TIMEOUTS[PROVIDER_WEBHOOKS] == "15s"
    assert (route["route"]["cluster"], route["route"]["timeout"]) == ("gateway", "15s")


# --- the wire ----------------------------------------------------------------------------


class _SignatureInvalid(DomainError):
    """The stand-in's signature refusal, mapped like the gateway's (UNAUTHENTICATED)."""

    reason: ClassVar[str] = "WEBHOOK_SIGNATURE_INVALID"


class _PayloadInvalid(DomainError):
    """The stand-in's unparsable-body refusal (INVALID_ARGUMENT)."""

    reason: ClassVar[str] = "WEBHOOK_PAYLOAD_INVALID"


class _ProviderNotFound(DomainError):
    """The stand-in's unknown-provider refusal (NOT_FOUND)."""

    reason: ClassVar[str] = "WEBHOOK_PROVIDER_NOT_FOUND"


ERRORS = {
    _SignatureInvalid: grpc.StatusCode.UNAUTHENTICATED,
    _PayloadInvalid: grpc.StatusCode.INVALID_ARGUMENT,
    _ProviderNotFound: grpc.StatusCode.NOT_FOUND,
}
# Stripe-Signature values the stand-in refuses, as the gateway would.
REFUSED_SIGNATURES: dict[str, type[DomainError]] = {
    "t=1,v1=forged": _SignatureInvalid,
    "t=1,v1=garbled-body": _PayloadInvalid,
}


@dataclass
class _Recorder:
    """Keeps each call's request and metadata; refuses as ``REFUSED_SIGNATURES`` says."""

    calls: list[tuple[Message, dict[str, str]]] = field(default_factory=list)

    def bindings(self) -> list[ServiceBinding]:
        """ProviderWebhookService, and WebhookService with UpdateWebhookEndpoint only."""
        receive = (webhooks_pb2.ReceiveProviderWebhookRequest, self.receive)
        update = (webhooks_pb2.UpdateWebhookEndpointRequest, self.update)
        return [
            unary_binding(PROVIDER_WEBHOOKS, {"ReceiveProviderWebhook": receive}),
            unary_binding(WEBHOOKS, {"UpdateWebhookEndpoint": update}),
        ]

    def _keep(self, request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        metadata = {str(k): str(v) for k, v in context.invocation_metadata() or ()}
        self.calls.append((request, metadata))

    async def receive(
        self,
        request: webhooks_pb2.ReceiveProviderWebhookRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> webhooks_pb2.ReceiveProviderWebhookResponse:
        self._keep(request, context)
        if request.provider not in PROVIDERS:
            raise _ProviderNotFound(f"no provider {request.provider!r}")
        refusal = REFUSED_SIGNATURES.get(self.calls[-1][1].get("stripe-signature", ""))
        if refusal is not None:
            raise refusal("refused by the stand-in", metadata={"provider": request.provider})
        return webhooks_pb2.ReceiveProviderWebhookResponse(event_id=f"evt_{len(self.calls)}")

    async def update(
        self,
        request: webhooks_pb2.UpdateWebhookEndpointRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> webhooks_pb2.UpdateWebhookEndpointResponse:
        self._keep(request, context)
        return webhooks_pb2.UpdateWebhookEndpointResponse(webhook_endpoint=request.webhook_endpoint)


@dataclass
class _Wire:
    services: Services
    edge: Edge
    recorder: _Recorder

    def since(self, before: int) -> list[tuple[Any, dict[str, str]]]:
        return self.recorder.calls[before:]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wire(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[_Wire]:
    """The real services (identity answers ext_authz); an Envoy whose gateway is the stand-in."""
    recorder = _Recorder()
    mapper = ErrorMapper(ERRORS, GATEWAY_DOMAIN)
    workdir = tmp_path_factory.mktemp("webhook-routes")
    async with gateway_stand_in(workdir, recorder.bindings(), mapper) as running:
        yield _Wire(running.services, running.edge, recorder)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("provider", "content_type", "body", "headers"),
    [
        ("stripe", "application/json", b'{"id":"evt_1"}', {"Stripe-Signature": "t=9,v1=ab"}),
        ("authorizenet", "application/json", BOM_JSON, {"X-ANET-Signature": "sha512=AB12"}),
        (
            "razorpay",
            "application/octet-stream",
            NOT_JSON,
            {"X-Razorpay-Signature": "c0ffee", "X-Razorpay-Event-Id": "evt_Rz1"},
        ),
        ("paypal", "text/plain; charset=utf-8", b"", {"PAYPAL-TRANSMISSION-ID": "tx-1"}),
    ],
)
async def test_a_callback_reaches_the_gateway_byte_identical_with_its_headers_as_metadata(
    wire: _Wire, provider: str, content_type: str, body: bytes, headers: dict[str, str]
) -> None:
    before = len(wire.recorder.calls)
    sent = {**headers, "content-type": content_type}
    async with wire.edge.rest_client() as rest:
        reply = await rest.post(f"/v1/provider-webhooks/{provider}", content=body, headers=sent)

    ((request, metadata),) = wire.since(before)
    # No API key, and no 401: the provider's signature is the credential.
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"event_id": f"evt_{before + 1}", "duplicate": False}
    assert request.provider == provider
    assert (request.body.data, request.body.content_type) == (body, content_type)
    assert {k.lower(): v for k, v in headers.items()}.items() <= metadata.items()
    # Public routes carry no principal: nobody vouched for the caller.
    assert PRINCIPAL_HEADER not in metadata


@pytest.mark.asyncio(loop_scope="module")
async def test_a_providers_own_authorization_header_reaches_the_gateway_untouched(
    wire: _Wire,
) -> None:
    # A provider may sign with HTTP Basic credentials: identity leaves them to the gateway.
    before = len(wire.recorder.calls)
    headers = {"authorization": "Basic cGF5bWVzaDpob29r", "content-type": "application/json"}
    async with wire.edge.rest_client() as rest:
        reply = await rest.post("/v1/provider-webhooks/paypal", content=b"{}", headers=headers)

    ((request, metadata),) = wire.since(before)
    assert reply.status_code == 200, reply.text
    assert request.body.data == b"{}"
    assert metadata["authorization"] == "Basic cGF5bWVzaDpob29r"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("provider", "signature", "status", "code", "reason"),
    [
        ("stripe", "t=1,v1=forged", 401, 16, "WEBHOOK_SIGNATURE_INVALID"),
        ("stripe", "t=1,v1=garbled-body", 400, 3, "WEBHOOK_PAYLOAD_INVALID"),
        ("adyen", "t=1,v1=ab", 404, 5, "WEBHOOK_PROVIDER_NOT_FOUND"),
    ],
)
async def test_the_gateways_refusal_reaches_the_provider_as_json_with_its_http_status(
    wire: _Wire, provider: str, signature: str, status: int, code: int, reason: str
) -> None:
    before = len(wire.recorder.calls)
    headers = {"Stripe-Signature": signature, "content-type": "application/json"}
    async with wire.edge.rest_client() as rest:
        reply = await rest.post(f"/v1/provider-webhooks/{provider}", content=b"{}", headers=headers)

    assert len(wire.since(before)) == 1  # the gateway decided, not the edge
    assert (reply.status_code, reply.headers["content-type"]) == (status, "application/json")
    assert not [name for name in reply.headers if name.startswith("grpc-")]
    body = reply.json()
    (info,) = [d for d in body["details"] if d["@type"] == ERROR_INFO]
    assert (body["code"], info["reason"], info["domain"]) == (code, reason, GATEWAY_DOMAIN)


@pytest.mark.asyncio(loop_scope="module")
async def test_every_webhook_service_route_without_an_api_key_is_refused_401(wire: _Wire) -> None:
    before = len(wire.recorder.calls)
    async with wire.edge.rest_client() as rest:
        replies = {(m, p): await rest.request(m, p, json={}) for m, p, _ in CONTRACT}

    assert len(replies) == 10
    for key, reply in replies.items():
        assert reply.status_code == 401, (key, reply.text)
        assert reply.json()["details"][0]["reason"] == "API_KEY_MISSING", key
    assert wire.since(before) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_a_viewer_key_is_refused_403_on_webhook_service_routes(wire: _Wire) -> None:
    viewer = wire.edge.auth(await wire.services.key(Role.VIEWER))
    before = len(wire.recorder.calls)
    async with wire.edge.rest_client() as rest:
        replies = [await rest.request(m, p, headers=viewer, json={}) for m, p, _ in CONTRACT]

    for reply in replies:
        assert reply.status_code == 403, reply.text
        info = reply.json()["details"][0]
        assert (info["reason"], info["metadata"]["permission"]) == (
            "PERMISSION_MISSING",
            "webhooks:manage",
        )
    assert wire.since(before) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_a_developers_patch_reaches_the_gateway_with_the_path_id_and_the_query_mask(
    wire: _Wire,
) -> None:
    developer = wire.edge.auth(await wire.services.key(Role.DEVELOPER))
    before = len(wire.recorder.calls)
    async with wire.edge.rest_client() as rest:
        reply = await rest.patch(
            "/v1/webhook-endpoints/we_7?update_mask=enabled,enabled_events",
            headers=developer,
            json={"enabled": False, "enabled_events": ["payment.captured"]},
        )

    ((request, metadata),) = wire.since(before)
    assert reply.status_code == 200, reply.text
    assert request.webhook_endpoint.id == "we_7"
    assert list(request.update_mask.paths) == ["enabled", "enabled_events"]
    assert (request.webhook_endpoint.enabled, list(request.webhook_endpoint.enabled_events)) == (
        False,
        ["payment.captured"],
    )
    assert metadata[PRINCIPAL_HEADER] and "authorization" not in metadata
    assert reply.json()["webhook_endpoint"]["id"] == "we_7"
