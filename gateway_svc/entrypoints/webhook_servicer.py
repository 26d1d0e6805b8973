"""WebhookService over gRPC: each method translates, calls one use case, translates back.

As ``servicer.PaymentServicer``: no try/except (the error interceptor maps raised errors);
CreateWebhookEndpoint and RotateWebhookSecret answer from the response stored with their
idempotency key (``responses.send``); every call acts for the merchant of the edge's
principal, which the edge has checked holds ``webhooks:manage``.
"""

from __future__ import annotations

from google.protobuf.empty_pb2 import Empty

from gateway_svc.service_layer.wiring import WebhookApi
from paymesh.gateway.v1 import webhooks_pb2 as pb
from paymesh.gateway.v1 import webhooks_pb2_grpc
from svc_kit.principal import EDGE_SPIFFE_ID

from . import responses
from . import webhook_convert as cv
from . import webhook_views as views
from .convert import require_id
from .fx_common import EdgeServicer, renderer
from .metadata import Ctx

RENDER_CREATE = renderer(views.create_response)
RENDER_ROTATE = renderer(views.rotate_response)


class WebhookServicer(EdgeServicer, webhooks_pb2_grpc.WebhookServiceServicer):
    """The gRPC face of the webhook use cases (``wiring.WebhookApi``)."""

    def __init__(
        self,
        api: WebhookApi,
        *,
        edge_spiffe_id: str = EDGE_SPIFFE_ID,
        trust_plaintext: bool = False,
    ) -> None:
        super().__init__(edge_spiffe_id=edge_spiffe_id, trust_plaintext=trust_plaintext)
        self.endpoints = api.endpoints
        self.events = api.events

    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context: Ctx
    ) -> pb.CreateWebhookEndpointResponse:
        principal = self._caller(context)
        cmd = cv.create_endpoint(request, principal, self._key(request.request_id, context))
        answer = await self.endpoints.create(cmd, RENDER_CREATE)
        return await responses.send(answer, pb.CreateWebhookEndpointResponse.FromString, context)

    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context: Ctx
    ) -> pb.ListWebhookEndpointsResponse:
        principal = self._caller(context)
        page = await self.endpoints.list(
            principal.merchant_id, request.page_size, request.page_token
        )
        return pb.ListWebhookEndpointsResponse(
            webhook_endpoints=[views.endpoint(e) for e in page.items],
            next_page_token=page.next_page_token,
        )

    async def GetWebhookEndpoint(
        self, request: pb.GetWebhookEndpointRequest, context: Ctx
    ) -> pb.GetWebhookEndpointResponse:
        principal = self._caller(context)
        found = await self.endpoints.get(
            principal.merchant_id, require_id(request.endpoint_id, "endpoint_id")
        )
        return pb.GetWebhookEndpointResponse(webhook_endpoint=views.endpoint(found))

    async def UpdateWebhookEndpoint(
        self, request: pb.UpdateWebhookEndpointRequest, context: Ctx
    ) -> pb.UpdateWebhookEndpointResponse:
        principal = self._caller(context)
        changed = await self.endpoints.update(cv.update_endpoint(request, principal))
        return pb.UpdateWebhookEndpointResponse(webhook_endpoint=views.endpoint(changed))

    async def DeleteWebhookEndpoint(
        self, request: pb.DeleteWebhookEndpointRequest, context: Ctx
    ) -> Empty:
        principal = self._caller(context)
        await self.endpoints.delete(cv.delete_endpoint(request, principal))
        return Empty()

    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: Ctx
    ) -> pb.RotateWebhookSecretResponse:
        principal = self._caller(context)
        cmd = cv.rotate_secret(request, principal, self._key(request.request_id, context))
        answer = await self.endpoints.rotate(cmd, RENDER_ROTATE)
        return await responses.send(answer, pb.RotateWebhookSecretResponse.FromString, context)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: Ctx
    ) -> pb.ListEventsResponse:
        principal = self._caller(context)
        page = await self.events.list_events(cv.list_events(request, principal.merchant_id))
        return pb.ListEventsResponse(
            events=[views.event(e) for e in page.items], next_page_token=page.next_page_token
        )

    async def GetEvent(self, request: pb.GetEventRequest, context: Ctx) -> pb.GetEventResponse:
        principal = self._caller(context)
        found = await self.events.get_event(
            principal.merchant_id, require_id(request.event_id, "event_id")
        )
        return pb.GetEventResponse(event=views.event(found))

    async def ListDeliveryAttempts(
        self, request: pb.ListDeliveryAttemptsRequest, context: Ctx
    ) -> pb.ListDeliveryAttemptsResponse:
        principal = self._caller(context)
        query = cv.list_attempts(request, principal.merchant_id)
        page = await self.events.list_attempts(query)
        return pb.ListDeliveryAttemptsResponse(
            delivery_attempts=[views.attempt(query.event_id, a) for a in page.items],
            next_page_token=page.next_page_token,
        )

    async def RedeliverEvent(
        self, request: pb.RedeliverEventRequest, context: Ctx
    ) -> pb.RedeliverEventResponse:
        principal = self._caller(context)
        after = await self.events.redeliver(cv.redeliver(request, principal))
        return pb.RedeliverEventResponse(event=views.event(after))
