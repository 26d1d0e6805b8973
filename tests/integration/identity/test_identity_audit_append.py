"""AuditService on a real identity server (SQLite and PostgreSQL): workloads append to the
same hash chain as identity's own records, once per event_id, and VerifyAuditLog still passes.

The calls are the gateway's (``audit_support``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC

import grpc
import grpc.aio
import pytest

from identity_svc.service_layer.context import CallContext
from svc_kit.principal import EdgePrincipal
from tests.integration.identity.audit_support import (
    FROM_GATEWAY,
    audit_event,
    log_size,
    record,
    refusal,
)
from tests.integration.identity.support import Denied, Edge
from tests.integration.svc_kit.tls_support import error_info


async def test_events_are_appended_in_order_to_the_chain_and_the_chain_verifies(
    edge: Edge,
) -> None:
    before = await log_size(edge)

    reply = await record(
        edge, audit_event("gwe_a1"), audit_event("gwe_a2", action="gateway.payment.capture")
    )

    first, second = reply.audit_events
    assert (first.event_id, second.event_id) == ("gwe_a1", "gwe_a2")
    assert second.sequence == first.sequence + 1 == before + 2
    assert first.actor.kind == "api_key" and first.actor.merchant_id == "mer_a"
    assert first.event_time.ToDatetime(tzinfo=UTC).microsecond == 123456
    assert dict(first.details) == {"amount_minor": "1050", "currency": "USD"}
    assert await log_size(edge) == before + 2


async def test_a_retried_append_is_recorded_once_and_answers_the_stored_record(edge: Edge) -> None:
    first = await record(edge, audit_event("gwe_b1"))
    size = await log_size(edge)

    again = await record(edge, audit_event("gwe_b1"), audit_event("gwe_b2"))

    assert again.audit_events[0] == first.audit_events[0]
    assert again.audit_events[1].sequence == first.audit_events[0].sequence + 1
    assert await log_size(edge) == size + 1


async def test_concurrent_retries_of_one_event_append_it_once(edge: Edge) -> None:
    size = await log_size(edge)

    replies = await asyncio.gather(*(record(edge, audit_event("gwe_c1")) for _ in range(5)))

    assert len({r.audit_events[0].sequence for r in replies}) == 1
    assert await log_size(edge) == size + 1


async def test_an_event_id_with_other_content_is_refused_and_nothing_is_appended(
    edge: Edge,
) -> None:
    await record(edge, audit_event("gwe_d1"))
    size = await log_size(edge)

    refused = await refusal(
        edge, audit_event("gwe_d2"), audit_event("gwe_d1", target="payments/other")
    )

    assert refused.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(refused).reason == "EVENT_ID_REUSED"
    assert await log_size(edge) == size  # gwe_d2 was not appended either


async def test_the_events_show_in_the_merchants_audit_list(edge: Edge) -> None:
    await record(edge, audit_event("gwe_e1", merchant_id="mer_e", action="gateway.refund.create"))

    page = await edge.identity.list_audit_events(
        CallContext.system("test"), merchant_id="mer_e", page_size=10, page_token=""
    )

    assert [(r.entry.event_id, r.entry.action) for r in page.items] == [
        ("gwe_e1", "gateway.refund.create")
    ]


async def test_a_workload_may_not_record_another_services_actions(edge: Edge) -> None:
    refused = await refusal(edge, audit_event("gwe_f1", action="identity.api_key.revoke"))

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(refused).reason == "VALIDATION_FAILED"
    assert "events[0].action" in str(refused.details())


async def test_a_call_without_a_workload_identity_is_refused(edge: Edge) -> None:
    refused = await refusal(edge, audit_event("gwe_g1"), metadata=())

    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(refused).reason == "WORKLOAD_MISSING"


async def test_a_call_carrying_a_merchants_principal_is_refused(edge: Edge) -> None:
    principal = EdgePrincipal("mer_a", "KeyId0123456789a", "admin", "test").to_header()

    refused = await refusal(
        edge, audit_event("gwe_h1"), metadata=(*FROM_GATEWAY, ("x-paymesh-principal", principal))
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
