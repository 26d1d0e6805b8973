"""Merchant events written with the state changes that cause them, on SQLite and PostgreSQL.

Every event type appears with its change (payments and refunds through the real adapters and
the sandbox; conversions and payouts through the FX flows and the Currencycloud sandbox),
shaped as the REST JSON of its resource. The event is in the change's transaction: a create
whose settling transaction fails leaves neither the settled payment nor an event, and its
resumption writes each event once (ids are deterministic, and a repeated write is ignored).
Only endpoints enabled at that moment and whose filter takes the type get a delivery; an
event no endpoint wants is still stored. And a create of a merchant without endpoints costs
exactly one statement more than before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.tables import payments
from gateway_svc.adapters.webhook_records import EventQuery, EventRecord, EventStatus
from gateway_svc.domain.conversions import ConversionState
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.events import PaymentCaptured
from gateway_svc.domain.fx import QuoteRequest
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.payments import CaptureMethod, PaymentStatus
from gateway_svc.domain.payouts import PayoutState
from gateway_svc.domain.providers import PaymentMethod
from gateway_svc.domain.webhooks import API_VERSION, EventType
from gateway_svc.service_layer.commands import CancelPayment, PaymentView
from gateway_svc.service_layer.fx_commands import CreateConversion
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.webhook_data import enum_name
from gateway_svc.service_layer.webhook_emit import emit_payment_events, event_id
from paymesh.gateway.v1 import beneficiaries_pb2, fx_pb2, payments_pb2, payouts_pb2
from tests.integration.gateway_store.conftest import Gateway, GatewayFactory
from tests.integration.gateway_store.gateway_support import render_payment, render_refund
from tests.integration.gateway_store.test_fx_support import Fx, new_merchant, render
from tests.integration.gateway_store.test_service_create import card, create
from tests.integration.gateway_store.test_service_mutations import authorized, capture, refund
from tests.integration.gateway_store.test_webhook_store import T0, endpoint, queue

WEBHOOK_TABLES = ("webhook_events", "webhook_deliveries", "webhook_endpoints")


async def events_of(engine: AsyncEngine, merchant: str = "m_1") -> list[EventRecord]:
    """The merchant's events, oldest first."""
    async with GatewayUnitOfWork(engine) as uow:
        found = await uow.webhook_events.list(merchant, EventQuery(), None, 100)
    return sorted(found, key=lambda e: (e.created_at, e.id))


def document(e: EventRecord) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(e.document)
    return loaded


def of_type(events: list[EventRecord], kind: str) -> list[EventRecord]:
    return [e for e in events if e.type == kind]


async def test_every_payment_event_is_written_with_its_change_shaped_as_the_rest_payment(
    gateway: Gateway,
) -> None:
    engine = gateway.runtime.engine
    await queue(engine, endpoint("we_all"))
    auto = await gateway.service.create_payment(create("auto"), render_payment)
    held = await authorized(gateway, "manual")
    await gateway.service.capture_payment(capture(held, 600, "cap"), render_payment)
    voided = await authorized(gateway, "void")
    await gateway.service.cancel_payment(CancelPayment("m_1", "key_1", voided), render_payment)
    declined = await gateway.service.create_payment(
        create("declined", method=card("4000000000000002")), render_payment
    )
    assert auto.result is not None and declined.result is not None
    paid, failed = auto.result.payment.id, declined.result.payment.id

    events = await events_of(engine)
    kinds = [(document(e)["data"]["id"], e.type) for e in events]
    assert kinds == [
        (paid, "payment.authorized"),
        (paid, "payment.captured"),
        (held, "payment.authorized"),
        (held, "payment.captured"),
        (voided, "payment.authorized"),
        (voided, "payment.canceled"),
        (failed, "payment.failed"),
    ]
    assert all(e.endpoint_ids == ("we_all",) and e.status is EventStatus.PENDING for e in events)
    captured = document(of_type(events, "payment.captured")[1])
    assert set(captured) == {"id", "type", "api_version", "timestamp", "data"}
    assert captured["api_version"] == API_VERSION and captured["id"].startswith("evt_")
    data = captured["data"]
    assert data["status"] == "PAYMENT_STATUS_PARTIALLY_CAPTURED"
    assert data["amount_captured"] == {"currency_code": "USD", "minor_units": 600}
    assert data["order_status"] == "ORDER_STATUS_SUCCESS"
    assert data["payment_method"]["card"]["last4"] == "4242" and data["provider"] == "stripe"
    assert data["merchant_reference"] == "order-42" and "attempts" not in data
    decline = document(of_type(events, "payment.failed")[0])["data"]["decline"]
    assert decline["code"] == "generic_decline" and decline["provider_code"]


async def test_refund_events_carry_the_refund_as_it_ended(gateway: Gateway) -> None:
    engine = gateway.runtime.engine
    await queue(engine, endpoint("we_refunds", events=["refund.succeeded", "refund.failed"]))
    pid = await authorized(gateway)
    await gateway.service.capture_payment(capture(pid), render_payment)
    ok = await gateway.service.create_refund(refund(pid, 300, "r-ok"), render_refund)
    await gateway.sandbox.control.add_fault(provider="stripe", kind="error", status=400,
                                            path="/v1/refunds", count=1)  # fmt: skip
    bad = await gateway.service.create_refund(refund(pid, 200, "r-bad"), render_refund)
    assert ok.result is not None and bad.result is not None

    events = await events_of(engine)
    wanted = [e for e in events if e.endpoint_ids]
    assert [(e.type, document(e)["data"]["id"]) for e in wanted] == [
        ("refund.succeeded", ok.result.id),
        ("refund.failed", bad.result.id),
    ]
    good, refused = (document(e)["data"] for e in wanted)
    assert (good["status"], good["amount"]["minor_units"]) == ("REFUND_STATUS_SUCCEEDED", 300)
    assert good["reason"] == "REFUND_REASON_REQUESTED_BY_CUSTOMER" and "failure" not in good
    assert refused["status"] == "REFUND_STATUS_FAILED" and refused["failure"]["code"]
    # The payment's own events were stored too, though no endpoint wanted them.
    unwanted = [e for e in events if not e.endpoint_ids]
    assert [e.type for e in unwanted] == ["payment.authorized", "payment.captured"]
    assert {e.status for e in unwanted} == {EventStatus.DELIVERED}


async def test_only_enabled_endpoints_whose_filter_takes_the_type_get_a_delivery(
    gateway: Gateway,
) -> None:
    engine = gateway.runtime.engine
    later = T0 + timedelta(seconds=1)
    await queue(
        engine,
        endpoint("we_all"),
        endpoint("we_captures", at=later, events=["payment.captured", "refund.succeeded"]),
        endpoint("we_payouts", events=["payout.completed"]),
        endpoint("we_off"),
        endpoint("we_gone"),
        endpoint("we_theirs", merchant="m_2"),
    )
    async with GatewayUnitOfWork(engine) as uow:
        await uow.webhook_endpoints.disable("we_off", "turned off", T0)
        assert await uow.webhook_endpoints.delete("m_1", "we_gone", T0)
        await uow.commit()
    await gateway.service.create_payment(create(), render_payment)

    authorized_event, captured_event = await events_of(engine)
    assert authorized_event.endpoint_ids == ("we_all",)
    assert captured_event.endpoint_ids == ("we_all", "we_captures")  # in creation order
    assert await events_of(engine, "m_2") == []


async def test_a_settle_that_rolls_back_leaves_neither_and_the_resumed_create_writes_once(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    await queue(crashed.runtime.engine, endpoint("we_all"))

    def render_then_die(value: PaymentView | GatewayError) -> StoredResponse:
        raise RuntimeError("the process died before the settle committed")

    cmd = create("crash-1")
    with pytest.raises(RuntimeError, match="died"):
        await crashed.service.create_payment(cmd, render_then_die)
    # The provider charged, but the transaction that recorded it rolled back, events too.
    async with crashed.runtime.engine.connect() as conn:
        statuses = (await conn.execute(select(payments.c.status))).scalars().all()
    assert statuses == [PaymentStatus.CREATED.value]
    assert await events_of(crashed.runtime.engine) == []

    crashed.clock.advance(91)  # past the lock timeout: the retry takes the key over
    resumed = await make_gateway().service.create_payment(cmd, render_payment)
    assert resumed.result is not None
    assert resumed.result.payment.status is PaymentStatus.CAPTURED
    events = await events_of(crashed.runtime.engine)
    assert [e.type for e in events] == ["payment.authorized", "payment.captured"]
    assert [e.endpoint_ids for e in events] == [("we_all",)] * 2


async def test_writing_the_same_change_twice_keeps_one_event(gateway: Gateway) -> None:
    engine = gateway.runtime.engine
    await queue(engine, endpoint("we_all"))
    answer = await gateway.service.create_payment(create(), render_payment)
    assert answer.result is not None
    payment = answer.result.payment
    [_, first] = await events_of(engine)
    again = PaymentCaptured(payment.id, first.created_at, 1000, 0, "USD")
    async with GatewayUnitOfWork(engine) as uow:
        # Alone this time (the create wrote it after payment.authorized): the same id.
        written = await emit_payment_events(uow, payment, [again])
        assert written == []
        await uow.commit()
    events = await events_of(engine)
    assert [e.id for e in events][1] == first.id and len(events) == 2
    async with GatewayUnitOfWork(engine) as uow:
        assert await uow.webhook_deliveries.unfinished_count() == 2


def test_event_ids_are_deterministic_and_sort_by_the_time_of_their_change() -> None:
    at = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
    first = event_id(at, EventType.PAYMENT_AUTHORIZED, "pay_1", 1000)
    assert first == event_id(at, EventType.PAYMENT_AUTHORIZED, "pay_1", 1000)
    assert first != event_id(at, EventType.PAYMENT_AUTHORIZED, "pay_2", 1000)
    # One change authorizing and capturing in one millisecond: authorized sorts first.
    second = event_id(at, EventType.PAYMENT_CAPTURED, "pay_1", 1000)
    later = event_id(at + timedelta(milliseconds=1), EventType.PAYMENT_AUTHORIZED, "pay_0", 0)
    assert first < second < later
    assert all(len(i) == 30 and i.startswith("evt_") for i in (first, second, later))


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends inside the block."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_a_create_without_endpoints_costs_one_statement_more(gateway: Gateway) -> None:
    engine = gateway.runtime.engine
    method = PaymentMethod(token="pm_card_visa")
    await gateway.service.create_payment(create("warm", method=method), render_payment)
    with statements(engine) as plain:
        await gateway.service.create_payment(create("plain", method=method), render_payment)
    webhook = [s for s in plain if any(t in s for t in WEBHOOK_TABLES)]
    # Two events (authorized, captured) in one INSERT whose rows look for endpoints
    # themselves; no endpoint wants them, so nothing else is written.
    assert len(webhook) == 1 and webhook[0].lstrip().upper().startswith("INSERT INTO WEBHOOK")
    before = len(plain) - len(webhook)
    await queue(engine, endpoint("we_all"))
    with statements(engine) as subscribed:
        await gateway.service.create_payment(create("hooked", method=method), render_payment)
    # One INSERT ... SELECT of deliveries per event an endpoint wants.
    assert len(subscribed) == before + 3, (before, subscribed)
    print(f"\ncreate: {before} statements before webhooks, {len(plain)} now (no endpoint), "
          f"{len(subscribed)} with one endpoint")  # fmt: skip


def test_the_data_names_every_status_as_the_generated_enums_do() -> None:
    # webhook_data builds the names without protobuf: prove them against the protos.
    assert {enum_name("PAYMENT_STATUS", s.value) for s in PaymentStatus} <= set(
        payments_pb2.PaymentStatus.keys()
    )
    assert {enum_name("CAPTURE_METHOD", m.value) for m in CaptureMethod} <= set(
        payments_pb2.CaptureMethod.keys()
    )
    assert {enum_name("CONVERSION_STATUS", s.value) for s in ConversionState} <= set(
        fx_pb2.ConversionStatus.keys()
    )
    assert {enum_name("FIXED_SIDE", s.value) for s in FixedSide} <= set(fx_pb2.FixedSide.keys())
    assert {enum_name("PAYOUT_STATUS", s.value) for s in PayoutState} <= set(
        payouts_pb2.PayoutStatus.keys()
    )
    assert {"PAYOUT_TYPE_REGULAR", "PAYOUT_TYPE_PRIORITY"} <= set(
        beneficiaries_pb2.PayoutType.keys()
    )
    for reason in ("", "duplicate", "fraudulent", "requested_by_customer"):
        assert enum_name("REFUND_REASON", reason) in payments_pb2.RefundReason.keys()  # noqa: SIM118 - an enum wrapper, not a dict


async def test_a_conversion_completes_and_payouts_complete_or_fail_with_an_event_each(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    await queue(fx.runtime.engine, endpoint("we_fx", merchant=merchant))
    await fx.fund(merchant, "GBP", 500_000)
    quote = await fx.workers.fx.get_quote(
        QuoteRequest(merchant, "EUR", "GBP", FixedSide.BUY, 100_000)
    )
    cmd = CreateConversion(merchant, "key_1", "conv-1", quote_id=quote.id)
    conversion = (await fx.workers.fx.create_conversion(cmd, render)).result
    assert conversion is not None
    for _ in range(2):  # funds_arrived, then trade_settled
        await fx.advance("conversions", conversion.provider_ref)
        await fx.poll()
    assert await events_of(fx.runtime.engine, merchant) != []
    beneficiary = (await fx.beneficiary(merchant)).id
    paid = (await fx.workers.payouts.create_payout(fx.payout(merchant, beneficiary, 10_000),
                                                   render)).result  # fmt: skip
    bounced = fx.payout(merchant, beneficiary, 20_000, reference="sandbox_fail 7")
    rejected = (await fx.workers.payouts.create_payout(bounced, render)).result
    assert paid is not None and rejected is not None
    for _ in range(2):  # submitted, then completed (or rejected by the bank)
        for payout in (paid, rejected):
            await fx.advance("payments", payout.provider_ref)
        await fx.poll()

    events = await events_of(fx.runtime.engine, merchant)
    assert [(e.type, document(e)["data"]["id"]) for e in events] == [
        ("conversion.completed", conversion.id),
        ("payout.completed", paid.id),
        ("payout.failed", rejected.id),
    ]
    done, completed, failed = (document(e)["data"] for e in events)
    assert done["status"] == "CONVERSION_STATUS_COMPLETED"
    assert done["buy_amount"] == {"currency_code": "EUR", "minor_units": 100_000}
    assert [h["to_status"] for h in done["history"]][-1] == "CONVERSION_STATUS_COMPLETED"
    assert completed["status"] == "PAYOUT_STATUS_COMPLETED" and completed["fee"]["minor_units"]
    assert failed["status"] == "PAYOUT_STATUS_FAILED" and "rejected" in failed["failure_reason"]
    assert all(e.endpoint_ids == ("we_fx",) for e in events)


async def test_a_payout_refused_for_funds_still_tells_the_merchant_it_failed(fx: Fx) -> None:
    merchant = new_merchant()
    await queue(fx.runtime.engine, endpoint("we_refused", merchant=merchant))
    await fx.fund(merchant, "GBP", 5_000)
    beneficiary = (await fx.beneficiary(merchant)).id
    cmd = fx.payout(merchant, beneficiary, 5_001, reference="too much")

    answer = await fx.workers.payouts.create_payout(cmd, render)

    assert answer.error is not None and answer.error.reason == "INSUFFICIENT_FUNDS"
    [event] = await events_of(fx.runtime.engine, merchant)
    failed = document(event)["data"]
    assert event.type == "payout.failed" and failed["status"] == "PAYOUT_STATUS_FAILED"
    assert event.endpoint_ids == ("we_refused",)
