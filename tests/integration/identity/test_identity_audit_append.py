"""AuditService on a real identity server (SQLite and PostgreSQL): workloads append to the
same hash chain as identity's own records, once per event_id, and VerifyAuditLog still passes.

The server is plaintext on loopback (``support.serve_identity``), so it believes the XFCC
header the way it believes Envoy's on a TLS connection; the gateway's own tests send the same
calls through a real Envoy with real certificates.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from identity_svc.service_layer.context import CallContext
from paymesh.identity.v1 import audit_pb2, audit_pb2_grpc
from paymesh.identity.v1 import identity_pb2 as pb
from svc_kit.principal import EdgePrincipal
from tests.integration.identity.support import Denied, Edge
from tests.integration.svc_kit.tls_support import error_info

GATEWAY = "spiffe://paymesh.local/gateway"
FROM_GATEWAY = (("x-forwarded-client-cert", f"By=spiffe://paymesh.local/envoy;URI={GATEWAY}"),)


def _event(event_id: str, **overrides: object) -> audit_pb2.NewAuditEvent:
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


async def _record(
    edge: Edge,
    *events: audit_pb2.NewAuditEvent,
    metadata: tuple[tuple[str, str], ...] = FROM_GATEWAY,
) -> audit_pb2.RecordAuditEventsResponse:
    stub = audit_pb2_grpc.AuditServiceStub(edge.channel)
    request = audit_pb2.RecordAuditEventsRequest(events=list(events))
    return await stub.RecordAuditEvents(request, metadata=metadata, timeout=5)


async def _refusal(
    edge: Edge, *events: audit_pb2.NewAuditEvent, **kw: object
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _record(edge, *events, **kw)  # type: ignore[arg-type]
    return refused.value


async def _log_size(edge: Edge) -> int:
    checked, problems = await edge.identity.verify_audit_log()
    assert problems == []
    return checked


async def test_events_are_appended_in_order_to_the_chain_and_the_chain_verifies(
    edge: Edge,
) -> None:
    before = await _log_size(edge)

    reply = await _record(
        edge, _event("gwe_a1"), _event("gwe_a2", action="gateway.payment.capture")
    )

    first, second = reply.audit_events
    assert (first.event_id, second.event_id) == ("gwe_a1", "gwe_a2")
    assert second.sequence == first.sequence + 1 == before + 2
    assert first.actor.kind == "api_key" and first.actor.merchant_id == "mer_a"
    assert first.event_time.ToDatetime(tzinfo=UTC).microsecond == 123456
    assert dict(first.details) == {"amount_minor": "1050", "currency": "USD"}
    assert await _log_size(edge) == before + 2


async def test_a_retried_append_is_recorded_once_and_answers_the_stored_record(edge: Edge) -> None:
    first = await _record(edge, _event("gwe_b1"))
    size = await _log_size(edge)

    again = await _record(edge, _event("gwe_b1"), _event("gwe_b2"))

    assert again.audit_events[0] == first.audit_events[0]
    assert again.audit_events[1].sequence == first.audit_events[0].sequence + 1
    assert await _log_size(edge) == size + 1


async def test_concurrent_retries_of_one_event_append_it_once(edge: Edge) -> None:
    size = await _log_size(edge)

    replies = await asyncio.gather(*(_record(edge, _event("gwe_c1")) for _ in range(5)))

    assert len({r.audit_events[0].sequence for r in replies}) == 1
    assert await _log_size(edge) == size + 1


async def test_an_event_id_with_other_content_is_refused_and_nothing_is_appended(
    edge: Edge,
) -> None:
    await _record(edge, _event("gwe_d1"))
    size = await _log_size(edge)

    refused = await _refusal(edge, _event("gwe_d2"), _event("gwe_d1", target="payments/other"))

    assert refused.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(refused).reason == "EVENT_ID_REUSED"
    assert await _log_size(edge) == size  # gwe_d2 was not appended either


async def test_the_events_show_in_the_merchants_audit_list(edge: Edge) -> None:
    await _record(edge, _event("gwe_e1", merchant_id="mer_e", action="gateway.refund.create"))

    page = await edge.identity.list_audit_events(
        CallContext.system("test"), merchant_id="mer_e", page_size=10, page_token=""
    )

    assert [(r.entry.event_id, r.entry.action) for r in page.items] == [
        ("gwe_e1", "gateway.refund.create")
    ]


async def test_a_workload_may_not_record_another_services_actions(edge: Edge) -> None:
    refused = await _refusal(edge, _event("gwe_f1", action="identity.api_key.revoke"))

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(refused).reason == "VALIDATION_FAILED"
    assert "events[0].action" in str(refused.details())


async def test_a_call_without_a_workload_identity_is_refused(edge: Edge) -> None:
    refused = await _refusal(edge, _event("gwe_g1"), metadata=())

    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(refused).reason == "WORKLOAD_MISSING"


async def test_a_call_carrying_a_merchants_principal_is_refused(edge: Edge) -> None:
    principal = EdgePrincipal("mer_a", "KeyId0123456789a", "admin", "test").to_header()

    refused = await _refusal(
        edge, _event("gwe_h1"), metadata=(*FROM_GATEWAY, ("x-paymesh-principal", principal))
    )

    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(refused).reason == "PERMISSION_MISSING"


async def test_no_api_key_may_record_not_even_an_admins(edge: Edge) -> None:
    with pytest.raises(Denied) as denied:
        await edge.call(
            "GetMerchant",  # never reached: the edge's check refuses first
            None,
            "POST",
            "/v1/audit-events:record",
            edge.admin_token,
        )

    assert denied.value.http_status == 403
    assert denied.value.reason == "PERMISSION_MISSING"
