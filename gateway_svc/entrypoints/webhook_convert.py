"""WebhookService requests in: protobuf -> the webhook commands. Protobuf stops here.

Nothing is judged here that the domain judges (``domain.webhook_endpoints``: the URL, the
description, the event types, the update mask, the rotation's overlap). Conversion refuses
only what the proto allows but the service cannot mean: a missing id, and a delivery status
this service does not know.
"""

from __future__ import annotations

from datetime import timedelta

from gateway_svc.adapters.webhook_records import EventStatus
from gateway_svc.domain.webhook_endpoints import EndpointSettings
from gateway_svc.service_layer.webhook_commands import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    ListDeliveryAttempts,
    ListEvents,
    RedeliverEvent,
    RotateWebhookSecret,
    UpdateWebhookEndpoint,
)
from paymesh.gateway.v1 import webhooks_pb2 as pb
from svc_kit.principal import EdgePrincipal

from .convert import invalid, require_id
from .fx_common import time_in

EVENT_STATUSES: dict[pb.EventDeliveryStatus.ValueType, EventStatus] = {
    pb.EVENT_DELIVERY_STATUS_PENDING: EventStatus.PENDING,
    pb.EVENT_DELIVERY_STATUS_DELIVERED: EventStatus.DELIVERED,
    pb.EVENT_DELIVERY_STATUS_FAILING: EventStatus.FAILING,
    pb.EVENT_DELIVERY_STATUS_DEAD_LETTER: EventStatus.DEAD_LETTER,
}


def endpoint_settings(e: pb.WebhookEndpoint) -> EndpointSettings:
    """What the merchant sets on an endpoint; output-only fields are ignored (the proto)."""
    return EndpointSettings(
        url=e.url,
        description=e.description,
        enabled_events=tuple(e.enabled_events),
        enabled=e.enabled,
    )


def create_endpoint(
    req: pb.CreateWebhookEndpointRequest, principal: EdgePrincipal, request_id: str
) -> CreateWebhookEndpoint:
    """CreateWebhookEndpoint; a missing endpoint is an empty one (the domain wants a URL)."""
    return CreateWebhookEndpoint(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        settings=endpoint_settings(req.webhook_endpoint),
        request_id=request_id,
    )


def update_endpoint(
    req: pb.UpdateWebhookEndpointRequest, principal: EdgePrincipal
) -> UpdateWebhookEndpoint:
    """UpdateWebhookEndpoint: the endpoint's id, its fields, and the mask's paths."""
    return UpdateWebhookEndpoint(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        endpoint_id=require_id(req.webhook_endpoint.id, "webhook_endpoint.id"),
        settings=endpoint_settings(req.webhook_endpoint),
        mask=tuple(req.update_mask.paths),
    )


def delete_endpoint(
    req: pb.DeleteWebhookEndpointRequest, principal: EdgePrincipal
) -> DeleteWebhookEndpoint:
    """DeleteWebhookEndpoint."""
    return DeleteWebhookEndpoint(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        endpoint_id=require_id(req.endpoint_id, "endpoint_id"),
    )


def rotate_secret(
    req: pb.RotateWebhookSecretRequest, principal: EdgePrincipal, request_id: str
) -> RotateWebhookSecret:
    """RotateWebhookSecret; an unset overlap is the default (the domain's 24 h)."""
    overlap: timedelta | None = None
    if req.HasField("overlap"):
        overlap = req.overlap.ToTimedelta()
    return RotateWebhookSecret(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        endpoint_id=require_id(req.endpoint_id, "endpoint_id"),
        overlap=overlap,
        request_id=request_id,
    )


def list_events(req: pb.ListEventsRequest, merchant_id: str) -> ListEvents:
    """ListEvents; UNSPECIFIED status and an empty type match every event."""
    status: EventStatus | None = None
    if req.delivery_status != pb.EVENT_DELIVERY_STATUS_UNSPECIFIED:
        status = EVENT_STATUSES.get(req.delivery_status)
        if status is None:
            raise invalid("delivery_status", "is not an EventDeliveryStatus this service knows")
    return ListEvents(
        merchant_id=merchant_id,
        type=req.type,
        status=status,
        since=time_in(req, "start_time"),
        until=time_in(req, "end_time"),
        page_size=req.page_size,
        page_token=req.page_token,
    )


def list_attempts(req: pb.ListDeliveryAttemptsRequest, merchant_id: str) -> ListDeliveryAttempts:
    """ListDeliveryAttempts; an empty endpoint_id: every endpoint's attempts."""
    return ListDeliveryAttempts(
        merchant_id=merchant_id,
        event_id=require_id(req.event_id, "event_id"),
        endpoint_id=optional_id(req.endpoint_id, "endpoint_id"),
        page_size=req.page_size,
        page_token=req.page_token,
    )


def redeliver(req: pb.RedeliverEventRequest, principal: EdgePrincipal) -> RedeliverEvent:
    """RedeliverEvent; an empty endpoint_id: every endpoint the event was sent to."""
    return RedeliverEvent(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        event_id=require_id(req.event_id, "event_id"),
        endpoint_id=optional_id(req.endpoint_id, "endpoint_id"),
    )


def optional_id(value: str, path: str) -> str:
    """An optional id field: empty, or of sane length."""
    return require_id(value, path) if value else ""
