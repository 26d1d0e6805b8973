"""The gateway's client of identity's AuditService: every mutation goes to the audit log.

Calls go through Envoy's internal listener with the gateway's certificate; only the gateway
may call RecordAuditEvents there, and identity accepts from it only actions named
``gateway.<resource>.<verb>``.

``record`` is one awaited call, never a fire-and-forget: "every mutation is written" holds
only if the caller knows whether the write happened. On ``AuditUnavailable`` the caller
retries with the *same* ``AuditEvent`` objects (or leaves them in its outbox): identity
appends an event_id once and answers a repeat with the stored record, so a retry whose first
attempt did commit records nothing twice. Build each event once (its ``event_time`` is part
of what a repeat must match) and derive its id from the operation (``derive_event_id``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import grpc
import grpc.aio
from google.protobuf.timestamp_pb2 import Timestamp

from paymesh.identity.v1 import audit_pb2, audit_pb2_grpc
from paymesh.identity.v1 import identity_pb2 as pb

from .internal_rpc import (
    ClientTls,
    UpstreamRefused,
    UpstreamUnavailable,
    internal_channel,
    translate,
)

__all__ = [
    "AuditActor",
    "AuditClient",
    "AuditEvent",
    "AuditOutcome",
    "AuditRefused",
    "AuditUnavailable",
    "RecordedAuditEvent",
    "derive_event_id",
]

GATEWAY_SPIFFE_ID = "spiffe://paymesh.local/gateway"
_EVENT_ID_PREFIX = "gwe_"


class AuditUnavailable(UpstreamUnavailable):
    """Raised when identity could not be asked or did not answer; retry the same events."""


class AuditRefused(UpstreamRefused):
    """Raised when identity refused the events: VALIDATION_FAILED, EVENT_ID_REUSED (an id
    came back with other content), or PERMISSION_DENIED from Envoy (not the gateway's
    certificate)."""


class AuditOutcome(StrEnum):
    """Whether the audited action took effect."""

    SUCCESS = "success"
    FAILURE = "failure"


_OUTCOMES = {
    AuditOutcome.SUCCESS: pb.AUDIT_OUTCOME_SUCCESS,
    AuditOutcome.FAILURE: pb.AUDIT_OUTCOME_FAILURE,
}


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Who acted: a merchant's API key (from the edge principal), or the gateway itself."""

    kind: str
    id: str
    merchant_id: str = ""

    @classmethod
    def api_key(cls, key_id: str, merchant_id: str) -> AuditActor:
        """The API key the edge authenticated (``EdgePrincipal.key_id`` / ``merchant_id``)."""
        return cls("api_key", key_id, merchant_id)

    @classmethod
    def service(cls, spiffe_id: str = GATEWAY_SPIFFE_ID) -> AuditActor:
        """The gateway acting on its own (the reconciler): identity requires its own id."""
        return cls("service", spiffe_id)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One record to append. Build it once; retry with the same object."""

    event_id: str
    """1 to 40 of ``[A-Za-z0-9_-]``, never starting "aev_"; see ``derive_event_id``."""
    event_time: datetime
    actor: AuditActor
    action: str
    """``gateway.<resource>.<verb>``, for example ``gateway.payment.capture``."""
    target: str
    """For example ``payments/pay_01J...``."""
    merchant_id: str
    outcome: AuditOutcome = AuditOutcome.SUCCESS
    reason: str = ""
    """For a FAILURE, the ErrorInfo reason the merchant got."""
    request_id: str = ""
    source_address: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
    """Never secrets, card numbers or CVCs."""


@dataclass(frozen=True, slots=True)
class RecordedAuditEvent:
    """An event as identity stored it: its place in the hash chain."""

    event_id: str
    sequence: int
    hash: str


def derive_event_id(*parts: str) -> str:
    """A deterministic event id for the operation named by ``parts`` (for example the
    merchant, its idempotency key and the action): the same parts give the same id, so a
    retried mutation cannot record twice. 36 characters."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{_EVENT_ID_PREFIX}{digest[:32]}"


class AuditClient:
    """Async AuditService client. Build with ``connect``; ``close`` when done."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float = 5.0) -> None:
        self._channel = channel
        self._stub = audit_pb2_grpc.AuditServiceStub(channel)
        self._timeout_s = timeout_s

    @classmethod
    def connect(cls, target: str, tls: ClientTls | None, *, timeout_s: float = 5.0) -> AuditClient:
        """A client of identity's AuditService at ``target`` (Envoy's internal listener)."""
        return cls(internal_channel(target, tls), timeout_s=timeout_s)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._channel.close()

    async def record(self, events: Sequence[AuditEvent]) -> list[RecordedAuditEvent]:
        """Append ``events`` in order, all or none; their records, in the same order.

        Raises AuditUnavailable (retry the same events) or AuditRefused.
        """
        request = audit_pb2.RecordAuditEventsRequest(events=[_event(e) for e in events])
        try:
            reply = await self._stub.RecordAuditEvents(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise translate(
                exc, "audit RecordAuditEvents", AuditUnavailable, AuditRefused
            ) from None
        return [RecordedAuditEvent(e.event_id, e.sequence, e.hash) for e in reply.audit_events]


def _event(event: AuditEvent) -> audit_pb2.NewAuditEvent:
    when = Timestamp()
    when.FromDatetime(event.event_time.astimezone(UTC))
    return audit_pb2.NewAuditEvent(
        event_id=event.event_id,
        event_time=when,
        actor=pb.Actor(
            kind=event.actor.kind, id=event.actor.id, merchant_id=event.actor.merchant_id
        ),
        action=event.action,
        target=event.target,
        merchant_id=event.merchant_id,
        outcome=_OUTCOMES[event.outcome],
        reason=event.reason,
        request_id=event.request_id,
        source_address=event.source_address,
        details=dict(event.details),
    )
