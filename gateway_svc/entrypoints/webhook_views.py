"""WebhookService results out: endpoints, events and delivery attempts as protobuf messages.

An endpoint message never carries a secret: only CreateWebhookEndpoint's and
RotateWebhookSecret's responses do, beside it, once (and what their key stored). An event's
``data`` is its document's ``data`` as a Struct: the same JSON every delivery sends.
"""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from gateway_svc.adapters.webhook_records import AttemptOutcome, AttemptRecord, EventStatus
from gateway_svc.service_layer.webhook_commands import EndpointView, EventView, IssuedSecret
from paymesh.gateway.v1 import webhooks_pb2 as pb

from .views import timestamp
from .webhook_convert import EVENT_STATUSES

_STATUS_OUT: dict[EventStatus, pb.EventDeliveryStatus.ValueType] = {
    status: number for number, status in EVENT_STATUSES.items()
}
_OUTCOME_OUT: dict[AttemptOutcome, pb.DeliveryAttemptOutcome.ValueType] = {
    AttemptOutcome.DELIVERED: pb.DELIVERY_ATTEMPT_OUTCOME_DELIVERED,
    AttemptOutcome.RETRY_SCHEDULED: pb.DELIVERY_ATTEMPT_OUTCOME_RETRY_SCHEDULED,
    AttemptOutcome.ENDPOINT_GONE: pb.DELIVERY_ATTEMPT_OUTCOME_ENDPOINT_GONE,
    AttemptOutcome.DEAD_LETTERED: pb.DELIVERY_ATTEMPT_OUTCOME_DEAD_LETTERED,
}


def endpoint(e: EndpointView) -> pb.WebhookEndpoint:
    """A WebhookEndpoint message (no secret in it)."""
    return pb.WebhookEndpoint(
        id=e.id,
        merchant_id=e.merchant_id,
        url=e.url,
        description=e.description,
        enabled_events=list(e.enabled_events),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        previous_secret_expire_time=timestamp(e.previous_secret_expires_at),
        secret_create_time=timestamp(e.secret_created_at),
        create_time=timestamp(e.created_at),
        update_time=timestamp(e.updated_at),
    )


def create_response(issued: IssuedSecret) -> pb.CreateWebhookEndpointResponse:
    """CreateWebhookEndpoint's response: the endpoint and its secret (what its key stores,
    sealed)."""
    return pb.CreateWebhookEndpointResponse(
        webhook_endpoint=endpoint(issued.endpoint), secret=issued.secret
    )


def rotate_response(issued: IssuedSecret) -> pb.RotateWebhookSecretResponse:
    """RotateWebhookSecret's response: the endpoint and its new secret."""
    return pb.RotateWebhookSecretResponse(
        webhook_endpoint=endpoint(issued.endpoint), secret=issued.secret
    )


def event(e: EventView) -> pb.Event:
    """An Event message with its delivery summary."""
    data = json_format.ParseDict(dict(e.data), Struct())
    return pb.Event(
        id=e.id,
        merchant_id=e.merchant_id,
        type=e.type,
        api_version=e.api_version,
        create_time=timestamp(e.created_at),
        data=data,
        delivery_status=_STATUS_OUT[e.status],
        attempt_count=e.attempts,
        next_attempt_time=timestamp(e.next_attempt_at),
        endpoint_ids=list(e.endpoint_ids),
    )


def attempt(event_id: str, a: AttemptRecord) -> pb.DeliveryAttempt:
    """A DeliveryAttempt message; no answer is status 0 with the error saying why."""
    return pb.DeliveryAttempt(
        event_id=event_id,
        endpoint_id=a.endpoint_id,
        attempt_number=a.attempt,
        attempt_time=timestamp(a.started_at),
        http_status=a.status_code or 0,
        latency_ms=a.latency_ms,
        error=a.error or "",
        response_excerpt=a.response_excerpt,
        outcome=_OUTCOME_OUT[a.outcome],
    )
