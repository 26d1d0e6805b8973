"""AuditService over gRPC: workloads append to the audit log; API keys never do.

Envoy grants the RPC on its internal listener to the gateway's SPIFFE id only,
and the REST edge refuses every key (no role has ``audit:write``). This
servicer holds the line a second time (style.md rule 5): a call that carries a
merchant's principal came through the REST edge and is refused, and a call
without a workload identity is refused too.
"""

from __future__ import annotations

from typing import Any

import grpc

from identity_svc.domain.audit import Outcome
from identity_svc.domain.errors import PermissionMissing, WorkloadMissing
from identity_svc.service_layer.identity import Identity, NewEvent, Workload
from paymesh.identity.v1 import audit_pb2, audit_pb2_grpc
from paymesh.identity.v1 import identity_pb2 as pb
from svc_kit.principal import trusted_principal

from . import convert as cv
from .workload import calling_workload

Ctx = grpc.aio.ServicerContext[Any, Any]
_OUTCOMES = {pb.AUDIT_OUTCOME_SUCCESS: Outcome.SUCCESS, pb.AUDIT_OUTCOME_FAILURE: Outcome.FAILURE}


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """The gRPC face of ``Identity.record_audit_events``."""

    def __init__(self, identity: Identity, *, edge_spiffe_id: str, trust_plaintext: bool) -> None:
        self.identity = identity
        self._edge = edge_spiffe_id
        self._trust_plaintext = trust_plaintext

    def _workload(self, context: Ctx) -> Workload:
        trust = self._trust_plaintext
        if trusted_principal(context, edge_spiffe_id=self._edge, trust_plaintext=trust) is not None:
            raise PermissionMissing("audit events are recorded by services, not by API keys")
        workload = calling_workload(context, edge_spiffe_id=self._edge, trust_plaintext=trust)
        if workload is None:
            raise WorkloadMissing("no workload identity: call through Envoy's internal listener")
        return workload

    async def RecordAuditEvents(
        self, request: audit_pb2.RecordAuditEventsRequest, context: Ctx
    ) -> audit_pb2.RecordAuditEventsResponse:
        workload = self._workload(context)
        records = await self.identity.record_audit_events(
            workload, [event_in(e) for e in request.events]
        )
        return audit_pb2.RecordAuditEventsResponse(
            audit_events=[cv.audit_event(r) for r in records]
        )


def event_in(e: audit_pb2.NewAuditEvent) -> NewEvent:
    """One requested event; the use case judges every field."""
    return NewEvent(
        event_id=e.event_id,
        event_time=cv.time_in(e.event_time, e.HasField("event_time")),
        actor_kind=e.actor.kind,
        actor_id=e.actor.id,
        actor_merchant_id=e.actor.merchant_id,
        action=e.action,
        target=e.target,
        merchant_id=e.merchant_id,
        outcome=_OUTCOMES.get(e.outcome),
        reason=e.reason,
        request_id=e.request_id,
        source_address=e.source_address,
        details=dict(e.details),
    )
