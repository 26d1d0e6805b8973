"""WebhookService in and out (entrypoints.webhook_convert, webhook_views): requests become
commands with only the proto's own refusals, endpoints never carry a secret, events carry
their document's data, attempts without an answer show status 0; and what an audit record
says about an endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.json_format import MessageToDict

from gateway_svc.adapters.webhook_records import (
    AttemptOutcome,
    AttemptRecord,
    EndpointRecord,
    EventStatus,
)
from gateway_svc.domain.errors import ValidationFailed
from gateway_svc.entrypoints import webhook_convert as cv
from gateway_svc.entrypoints import webhook_views as views
from gateway_svc.service_layer.webhook_commands import EndpointView, EventView, IssuedSecret
from gateway_svc.service_layer.webhook_endpoints import audit_details
from paymesh.gateway.v1 import webhooks_pb2 as pb
from svc_kit.principal import EdgePrincipal

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WHO = EdgePrincipal(merchant_id="mer_1", key_id="key_1", role="owner", environment="test")
VIEW = EndpointView(
    id="we_1",
    merchant_id="mer_1",
    url="https://93.184.215.14/h",
    description="orders",
    enabled_events=("payment.captured",),
    enabled=True,
    disabled_reason="",
    previous_secret_expires_at=None,
    secret_created_at=T0,
    created_at=T0,
    updated_at=T0 + timedelta(minutes=1),
)


def test_an_update_carries_the_id_the_fields_and_the_mask_paths() -> None:
    req = pb.UpdateWebhookEndpointRequest(
        webhook_endpoint=pb.WebhookEndpoint(id="we_1", enabled=False, url="ignored"),
        update_mask=FieldMask(paths=["enabled"]),
    )
    cmd = cv.update_endpoint(req, WHO)
    assert (cmd.merchant_id, cmd.endpoint_id, cmd.mask) == ("mer_1", "we_1", ("enabled",))
    assert cmd.settings.enabled is False and cmd.actor_key_id == "key_1"
    with pytest.raises(ValidationFailed) as refused:
        cv.update_endpoint(pb.UpdateWebhookEndpointRequest(), WHO)
    assert [v.field for v in refused.value.violations] == ["webhook_endpoint.id"]


def test_a_rotation_without_an_overlap_takes_the_default_and_one_with_keeps_it() -> None:
    plain = cv.rotate_secret(pb.RotateWebhookSecretRequest(endpoint_id="we_1"), WHO, "k")
    assert (plain.overlap, plain.request_id) == (None, "k")
    req = pb.RotateWebhookSecretRequest(endpoint_id="we_1", overlap=Duration(seconds=0))
    assert cv.rotate_secret(req, WHO, "").overlap == timedelta(0)
    req = pb.RotateWebhookSecretRequest(endpoint_id="we_1", overlap=Duration(seconds=-3600))
    assert cv.rotate_secret(req, WHO, "").overlap == timedelta(hours=-1)  # the domain refuses


def test_event_filters_map_the_status_and_refuse_one_this_service_does_not_know() -> None:
    req = pb.ListEventsRequest(type="payment.failed", page_size=5)
    req.delivery_status = pb.EVENT_DELIVERY_STATUS_DEAD_LETTER
    req.start_time.FromDatetime(T0)
    query = cv.list_events(req, "mer_1")
    assert (query.type, query.status, query.since, query.until) == (
        "payment.failed",
        EventStatus.DEAD_LETTER,
        T0,
        None,
    )
    assert cv.list_events(pb.ListEventsRequest(), "mer_1").status is None
    unknown = pb.ListEventsRequest()
    unknown.delivery_status = 42  # type: ignore[assignment]
    with pytest.raises(ValidationFailed) as refused:
        cv.list_events(unknown, "mer_1")
    assert [v.field for v in refused.value.violations] == ["delivery_status"]


def test_ids_are_required_where_the_proto_says_and_optional_ones_stay_empty() -> None:
    cmd = cv.redeliver(pb.RedeliverEventRequest(event_id="evt_1"), WHO)
    assert (cmd.event_id, cmd.endpoint_id) == ("evt_1", "")
    for bad in (pb.RedeliverEventRequest(), pb.RedeliverEventRequest(event_id="e" * 101)):
        with pytest.raises(ValidationFailed):
            cv.redeliver(bad, WHO)
    with pytest.raises(ValidationFailed):
        cv.list_attempts(pb.ListDeliveryAttemptsRequest(event_id="evt_1", endpoint_id="x" * 101),
                         "mer_1")  # fmt: skip


def test_an_endpoint_message_has_no_secret_and_only_the_times_it_knows() -> None:
    shown = MessageToDict(views.endpoint(VIEW))
    assert "secret" not in shown and "previousSecretExpireTime" not in shown
    assert shown["updateTime"] == "2026-12-01T09:01:00Z"
    issued = views.create_response(IssuedSecret(VIEW, "whsec_abc"))
    assert issued.secret == "whsec_abc" and issued.webhook_endpoint.id == "we_1"
    assert "whsec_abc" not in repr(IssuedSecret(VIEW, "whsec_abc"))


def test_an_event_message_carries_its_data_and_summary() -> None:
    event = EventView(
        id="evt_1",
        merchant_id="mer_1",
        type="payment.captured",
        api_version="2026-11-01",
        created_at=T0,
        data={"id": "pay_1", "amount": {"minor_units": 1234, "currency_code": "JPY"}},
        status=EventStatus.FAILING,
        attempts=3,
        next_attempt_at=T0 + timedelta(minutes=5),
        endpoint_ids=("we_1", "we_2"),
    )
    out = views.event(event)
    assert out.delivery_status == pb.EVENT_DELIVERY_STATUS_FAILING
    assert MessageToDict(out.data) == {
        "id": "pay_1",
        "amount": {"minor_units": 1234, "currency_code": "JPY"},
    }
    assert (out.attempt_count, list(out.endpoint_ids)) == (3, ["we_1", "we_2"])


def test_an_attempt_without_an_answer_has_status_0_and_says_why() -> None:
    record = AttemptRecord(7, "we_1", 2, T0, None, 15_000, "timed out", "",
                           AttemptOutcome.DEAD_LETTERED)  # fmt: skip
    out = views.attempt("evt_1", record)
    assert (out.event_id, out.attempt_number, out.http_status, out.error) == (
        "evt_1",
        2,
        0,
        "timed out",
    )
    assert out.outcome == pb.DELIVERY_ATTEMPT_OUTCOME_DEAD_LETTERED


def test_the_audit_record_of_an_endpoint_drops_the_urls_query_and_every_secret() -> None:
    record = EndpointRecord("we_1", "mer_1", "https://h.example/in?token=s3cr3t", "", (), False,
                            "", b"sealed", T0, T0)  # fmt: skip
    assert audit_details(record) == {
        "endpoint_id": "we_1",
        "url": "https://h.example/in",
        "enabled": "false",
        "enabled_events": "*",
    }
