"""ProviderWebhookService over gRPC: a provider's callback in, the use case's receipt out.

The route is public (no API key, no principal): the provider's signature over the raw bytes
is the credential, checked by the use case (``service_layer.provider_callbacks``). Envoy
hands the body over untouched as a ``google.api.HttpBody`` and the request's HTTP headers as
gRPC metadata with lower-case names; this servicer only passes the path's provider, the
bytes and those headers on. No try/except: the error interceptor maps the use case's errors
(``entrypoints.errors``: 401 signature, 400 payload, 404 provider, 503 when the provider
should retry).
"""

from __future__ import annotations

from gateway_svc.service_layer.provider_callbacks import ProviderCallbacks
from paymesh.gateway.v1 import webhooks_pb2 as pb
from paymesh.gateway.v1 import webhooks_pb2_grpc

from .metadata import Ctx, Metadata

CONTENT_TYPE = "content-type"


def callback_headers(metadata: Metadata) -> dict[str, str]:
    """The call's metadata as HTTP headers (first value of a repeated one; binary ``-bin``
    entries, which no provider sends, left out)."""
    headers: dict[str, str] = {}
    for key, value in metadata:
        if isinstance(value, str):
            headers.setdefault(key.lower(), value)
    return headers


class ProviderWebhookServicer(webhooks_pb2_grpc.ProviderWebhookServiceServicer):
    """The gRPC face of ``ProviderCallbacks``."""

    def __init__(self, callbacks: ProviderCallbacks) -> None:
        self.callbacks = callbacks

    async def ReceiveProviderWebhook(
        self, request: pb.ReceiveProviderWebhookRequest, context: Ctx
    ) -> pb.ReceiveProviderWebhookResponse:
        headers = callback_headers(context.invocation_metadata() or ())
        # The HTTP request's content type travels in the HttpBody (gRPC's own is application/grpc).
        headers[CONTENT_TYPE] = request.body.content_type
        receipt = await self.callbacks.receive(request.provider, headers, request.body.data)
        return pb.ReceiveProviderWebhookResponse(
            event_id=receipt.event_id, duplicate=receipt.duplicate
        )
