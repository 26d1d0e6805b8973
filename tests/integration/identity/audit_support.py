"""AuditService calls as the gateway makes them, for the tests of a real identity server.

The server is plaintext on loopback (``support.serve_identity``), so it believes the XFCC
header the way it believes Envoy's on a TLS connection; the gateway's own tests send the same
calls through a real Envoy with real certificates.
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from paymesh.identity.v1 import audit_pb2, audit_pb2_grpc
from paymesh.identity.v1 import identity_pb2 as pb
from tests.integration.identity.support import Edge

GATEWAY = "spiffe://paymesh.local/gateway"
FROM_GATEWAY = (("x-forwarded-client-cert", f"By=spiffe://paymesh.local/envoy;URI={GATEWAY}"),)


def audit_event(event_id: str, **overrides: object) -> audit_pb2.NewAuditEvent:
    """A payment's audit event as the gateway sends it; ``overrides`` replace fields."""
    when = Timestamp()
    when.FromDatetime(datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC))
    fields: dict[str, object] = {
        "event_id": event_id,
        "event_time": when,
        "actor": pb.Actor(kind="api_key", id="KeyId0123456789a", merchant_id="mer_a"),
        "action": "gateway.payment.create",
        "target": f"payments/pay_{event_id}",
        "merchant_id": "mer_a",
        "outcome": pb.AUDIT_OUTCOME_SUCCESS,
        "request_id": "req-1",
        "details": {"amount_minor": "1050", "currency": "USD"},
        **overrides,
    }
    return audit_pb2.NewAuditEvent(**fields)  # type: ignore[arg-type]


async def record(
    edge: Edge,
    *events: audit_pb2.NewAuditEvent,
    metadata: tuple[tuple[str, str], ...] = FROM_GATEWAY,
) -> audit_pb2.RecordAuditEventsResponse:
    """RecordAuditEvents with ``events``, as the gateway (by default)."""
    stub = audit_pb2_grpc.AuditServiceStub(edge.channel)
    request = audit_pb2.RecordAuditEventsRequest(events=list(events))
    return await stub.RecordAuditEvents(request, metadata=metadata, timeout=5)


async def refusal(
    edge: Edge, *events: audit_pb2.NewAuditEvent, **kw: object
) -> grpc.aio.AioRpcError:
    """The error RecordAuditEvents answers ``events`` with (the test fails if it does not)."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await record(edge, *events, **kw)  # type: ignore[arg-type]
    return refused.value


async def log_size(edge: Edge) -> int:
    """Records in the audit log, once its chain has verified clean."""
    checked, problems = await edge.identity.verify_audit_log()
    assert problems == []
    return checked
