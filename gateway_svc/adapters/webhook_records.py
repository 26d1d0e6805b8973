"""What the webhook repositories take and give: plain values, and the event status rule.

These are storage records, not domain aggregates: the rules of signing, retrying and
filtering live in ``gateway_svc.domain.webhooks``; the repositories only keep the queue and
its history. Secrets stay sealed (``secret_box``) in every record: only the code that signs
or rotates opens them, with ``open_secrets``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from gateway_svc.domain.webhooks_signing import EndpointSecret

from .secret_box import SecretBox


class EventStatus(StrEnum):
    """An event's delivery summary, as ListEvents shows and filters it."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILING = "failing"
    DEAD_LETTER = "dead_letter"


class DeliveryStatus(StrEnum):
    """Where one (event, endpoint) delivery is."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELED = "canceled"


# Plain strings, so they bind as SQL parameters the same way on every driver.
UNFINISHED = (DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERING.value)
"""The deliveries still owed; the oldest of an endpoint's is its head."""
FINISHED = (
    DeliveryStatus.DELIVERED.value,
    DeliveryStatus.DEAD.value,
    DeliveryStatus.CANCELED.value,
)
"""The deliveries nobody attempts again unless the event is redelivered."""


class AttemptOutcome(StrEnum):
    """What one HTTP attempt led to."""

    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    DEAD_LETTERED = "dead_lettered"
    ENDPOINT_GONE = "endpoint_gone"


class InboundOutcome(StrEnum):
    """Where a provider callback's processing is."""

    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """A merchant's webhook endpoint; ``secrets`` is the sealed list (``seal_secrets``)."""

    id: str
    merchant_id: str
    url: str
    description: str
    enabled_events: tuple[str, ...]
    enabled: bool
    disabled_reason: str
    secrets: bytes
    created_at: datetime
    updated_at: datetime
    version: int = 0
    deleted_at: datetime | None = None

    def accepts(self, event_type: str) -> bool:
        """Whether this endpoint's filter takes ``event_type`` (an empty filter takes all)."""
        return not self.enabled_events or event_type in self.enabled_events


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to queue: ``document`` is the exact bytes every attempt sends and signs."""

    id: str
    merchant_id: str
    type: str
    document: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored event with its delivery summary: attempts so far over all its endpoints,
    when the earliest unfinished delivery is due (None when none is), and the endpoints it
    goes to, in queue order."""

    id: str
    merchant_id: str
    type: str
    document: bytes
    created_at: datetime
    status: EventStatus
    attempts: int
    next_attempt_at: datetime | None
    endpoint_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventQuery:
    """ListEvents' filters: '' / None match everything; the range is [since, until)."""

    type: str = ""
    status: EventStatus | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds until ``lease_until``: all it needs to send one attempt.

    ``attempt`` numbers the attempt in the event's history (it continues across
    redeliveries); ``round_attempt`` counts within the current round, for the schedule.
    ``lease_until`` also fences: a result recorded after someone else re-claimed the row is
    refused.
    """

    delivery_id: int
    event_id: str
    endpoint_id: str
    merchant_id: str
    event_type: str
    url: str
    secrets: bytes
    document: bytes
    attempt: int
    round_attempt: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What a worker observed on one attempt (``status_code`` None: no HTTP answer)."""

    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None = None
    response_excerpt: str = ""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One recorded attempt, as ListDeliveryAttempts shows it; ``position`` is its keyset
    position for paging (attempts list oldest first)."""

    delivery_id: int
    endpoint_id: str
    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str
    outcome: AttemptOutcome

    @property
    def position(self) -> AttemptPosition:
        """Where a page that ends with this attempt resumes."""
        return (self.started_at, self.delivery_id, self.attempt)


AttemptPosition = tuple[datetime, int, int]
"""(started_at, delivery id, attempt number): the order attempts are listed in."""


@dataclass(frozen=True, slots=True)
class ProviderEventRecord:
    """A recorded provider callback: the raw bytes and headers, and how processing went."""

    provider: str
    provider_event_id: str
    event_type: str
    received_at: datetime
    raw_body: bytes
    headers: Mapping[str, str]
    outcome: InboundOutcome
    processed_at: datetime | None
    error: str | None


class DeliveryState(NamedTuple):
    """The part of a delivery row the event summary depends on."""

    status: DeliveryStatus
    attempts: int
    round_base: int


def summarize(deliveries: Iterable[DeliveryState]) -> EventStatus:
    """An event's status from its deliveries, as the proto's EventDeliveryStatus defines it.

    DEAD_LETTER once any delivery is dead (RedeliverEvent sends it again); else FAILING
    while an unfinished delivery has failed in its current round; else PENDING while any
    is unfinished; else DELIVERED. A delivery canceled because its endpoint was disabled or
    deleted owes nothing, so it counts like a delivered one, and so does an event no
    endpoint subscribed to.
    """
    states = list(deliveries)
    if any(s.status == DeliveryStatus.DEAD for s in states):
        return EventStatus.DEAD_LETTER
    unfinished = [s for s in states if s.status in UNFINISHED]
    if any(s.attempts > s.round_base for s in unfinished):
        return EventStatus.FAILING
    return EventStatus.PENDING if unfinished else EventStatus.DELIVERED


def seal_secrets(box: SecretBox, endpoint_id: str, secrets: Sequence[EndpointSecret]) -> bytes:
    """The sealed form of an endpoint's secrets, bound to the endpoint's id."""
    plain = [[s.secret, _iso(s.expires_at), _iso(s.issued_at)] for s in secrets]
    return box.seal(json.dumps(plain, separators=(",", ":")).encode(), endpoint_id.encode())


def open_secrets(box: SecretBox, endpoint_id: str, sealed: bytes) -> tuple[EndpointSecret, ...]:
    """The inverse of ``seal_secrets``; raises SecretBoxError for a blob that does not open
    (tampered, another endpoint's, or sealed under a key the box lacks)."""
    plain = json.loads(box.open(sealed, endpoint_id.encode()))
    # A secret sealed before issue times were kept has two elements: its issue time is None.
    return tuple(
        EndpointSecret(secret, _from_iso(expires), _from_iso(rest[0] if rest else None))
        for secret, expires, *rest in plain
    )


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
