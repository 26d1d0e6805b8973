"""What the entrypoint hands the webhook use cases, what it gets back, and their one port.

Plain values only, as ``commands`` for payments: the entrypoint converts protobuf into these
and back. The keyed mutations (CreateWebhookEndpoint, RotateWebhookSecret) answer an
``Answer`` whose response the entrypoint's ``render`` made and the key stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from gateway_svc.adapters.webhook_records import EventStatus
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.webhook_endpoints import EndpointSettings


class HostResolver(Protocol):
    """Resolves a webhook URL's host name, so the SSRF guard can judge every address before
    an endpoint is saved (``adapters.webhook_resolver``)."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """Every address ``host`` resolves to for a TCP connect; empty when it resolves to
        none (no such name, or the resolver failed)."""
        ...


@dataclass(frozen=True)
class CreateWebhookEndpoint:
    """CreateWebhookEndpoint: the endpoint's settings (``enabled`` is ignored: always true)."""

    merchant_id: str
    actor_key_id: str
    settings: EndpointSettings
    request_id: str = ""


@dataclass(frozen=True)
class UpdateWebhookEndpoint:
    """UpdateWebhookEndpoint: the fields named in ``mask`` are taken from ``settings``."""

    merchant_id: str
    actor_key_id: str
    endpoint_id: str
    settings: EndpointSettings
    mask: tuple[str, ...]


@dataclass(frozen=True)
class DeleteWebhookEndpoint:
    """DeleteWebhookEndpoint."""

    merchant_id: str
    actor_key_id: str
    endpoint_id: str


@dataclass(frozen=True)
class RotateWebhookSecret:
    """RotateWebhookSecret; ``overlap`` None: the default (24 h)."""

    merchant_id: str
    actor_key_id: str
    endpoint_id: str
    overlap: timedelta | None = None
    request_id: str = ""


@dataclass(frozen=True)
class ListEvents:
    """ListEvents: filters ('' / None match all; [since, until)), page size and token."""

    merchant_id: str
    type: str = ""
    status: EventStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ListDeliveryAttempts:
    """ListDeliveryAttempts: one event's attempts, to one endpoint ('' : every one)."""

    merchant_id: str
    event_id: str
    endpoint_id: str = ""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class RedeliverEvent:
    """RedeliverEvent: to one endpoint, or ('') to every one it was sent to."""

    merchant_id: str
    actor_key_id: str
    event_id: str
    endpoint_id: str = ""


@dataclass(frozen=True)
class EndpointView:
    """An endpoint as the merchant sees it: never its secrets."""

    id: str
    merchant_id: str
    url: str
    description: str
    enabled_events: tuple[str, ...]
    enabled: bool
    disabled_reason: str
    previous_secret_expires_at: datetime | None
    """While an older secret still signs beside the current one, when the last one stops."""
    secret_created_at: datetime
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class IssuedSecret:
    """An endpoint and the secret just issued for it (by creation or rotation)."""

    endpoint: EndpointView
    secret: str = field(repr=False)


@dataclass(frozen=True)
class EventView:
    """A stored event, its document taken apart, with its delivery summary."""

    id: str
    merchant_id: str
    type: str
    api_version: str
    created_at: datetime
    data: Mapping[str, object]
    status: EventStatus
    attempts: int
    next_attempt_at: datetime | None
    endpoint_ids: tuple[str, ...]


RenderIssued = Callable[[IssuedSecret | GatewayError], StoredResponse]
"""The entrypoint's serializer of CreateWebhookEndpoint's and RotateWebhookSecret's
responses (each its own), stored with the key."""
