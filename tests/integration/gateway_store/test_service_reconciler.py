"""The reconciler: unknown captures and refunds, 3DS completed later, abandoned attempts,
the reaper, and capture's PROVIDER_UNAVAILABLE (nothing changed, the retry runs again)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from gateway_svc.adapters.tables import outbox
from gateway_svc.domain.attempts import Operation, Outcome
from gateway_svc.domain.errors import ProviderUnavailable
from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.domain.refunds import RefundStatus
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.conftest import GatewayFactory
from tests.integration.gateway_store.gateway_support import render_payment, render_refund
from tests.integration.gateway_store.test_service_create import card, create
from tests.integration.gateway_store.test_service_mutations import authorized, capture, refund
from tests.integration.sandbox.test_stripe_adapter_support import complete_3ds


async def test_an_unknown_capture_is_settled_by_fetching_the_payment(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(timeout_s=0.15)
    pid = await authorized(gateway)
    await gateway.sandbox.control.add_fault(provider="stripe", kind="commit_then_timeout",
                                            path="/v1/payment_intents/", count=-1)  # fmt: skip
    answer = await gateway.service.capture_payment(capture(pid, 600, "c-1"), render_payment)
    assert answer.result is not None
    assert answer.result.payment.status is PaymentStatus.UNKNOWN
    await gateway.sandbox.control.clear_faults()
    gateway.clock.advance(6)
    assert (await gateway.reconciler.run_once()).payments == 1
    view = await gateway.service.get_payment("m_1", pid)
    assert (view.payment.status, view.payment.captured_minor) == (
        PaymentStatus.PARTIALLY_CAPTURED,
        600,
    )
    assert [a.operation for a in view.attempts][-1] is Operation.LOOKUP
    await gateway.relay.drain()
    assert f"{pid}:capture" in gateway.ledger.by_request


async def test_an_unknown_refund_stays_pending_until_the_reconciler_settles_it(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway(timeout_s=0.15)
    pid = await authorized(gateway)
    await gateway.service.capture_payment(capture(pid), render_payment)
    await gateway.sandbox.control.add_fault(provider="stripe", kind="commit_then_timeout",
                                            path="/v1/refunds", count=-1)  # fmt: skip
    answer = await gateway.service.create_refund(refund(pid, 300, "r-1"), render_refund)
    assert answer.result is not None and answer.result.status is RefundStatus.PENDING
    await gateway.sandbox.control.clear_faults()
    gateway.clock.advance(6)
    assert (await gateway.reconciler.run_once()).refunds == 1
    [settled] = (await gateway.service.list_refunds("m_1", pid)).items
    assert settled.status is RefundStatus.SUCCEEDED
    assert (await gateway.service.get_payment("m_1", pid)).payment.refunded_minor == 300
    state = await gateway.sandbox.control.state("stripe")
    assert [r["amount"] for r in state["refunds"].values()] == [300]
    await gateway.relay.drain()
    assert gateway.ledger.totals["gw/m_1/USD/refunds"].credits_posted == 300


async def test_3ds_completed_later_is_picked_up_by_the_reconciler(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway()
    answer = await gateway.service.create_payment(create(method=card("4000002500003155")),
                                                  render_payment)  # fmt: skip
    assert answer.result is not None
    p = answer.result.payment
    await complete_3ds(gateway.sandbox, p.action_url)
    gateway.clock.advance(6)
    await gateway.reconciler.run_once()
    settled = (await gateway.service.get_payment("m_1", p.id)).payment
    assert settled.status is PaymentStatus.CAPTURED


async def test_an_orphaned_attempt_sends_its_payment_to_the_reconciler(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway()
    pid = await authorized(gateway)
    # As if the process died mid-call and its key was lost: the attempt is still PENDING and
    # nobody will resume it.
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        [auth] = await uow.attempts.for_payment(pid)
        await uow.attempts.save(replace(auth, outcome=Outcome.PENDING, finished_at=None))
        row = await uow.keys.get("m_1", "req-auth")
        assert row is not None
        await uow.keys.delete(row.record)
        await uow.commit()
    gateway.clock.advance(91)
    report = await gateway.reconciler.run_once()
    assert report.orphans == 1
    view = await gateway.service.get_payment("m_1", pid)
    assert view.payment.status is PaymentStatus.UNKNOWN
    report = await gateway.reconciler.run_once()
    assert report.payments == 1
    assert (
        await gateway.service.get_payment("m_1", pid)
    ).payment.status is PaymentStatus.AUTHORIZED


async def test_the_reaper_deletes_finished_keys_after_the_retention(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway()
    first = await gateway.service.create_payment(create(), render_payment)
    gateway.clock.advance(72 * 3600 + 1)
    assert (await gateway.reconciler.run_once()).reaped == 1
    again = await gateway.service.create_payment(create(), render_payment)
    assert not again.replayed and again.response != first.response


async def test_the_reaper_deletes_delivered_outbox_items_after_the_retention_only(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway()
    old = await gateway.service.create_payment(create("old"), render_payment)
    await gateway.relay.drain()  # delivered now: capture, fee, audit record
    await gateway.service.create_payment(create("late"), render_payment)
    gateway.clock.advance(72 * 3600 + 1)
    await gateway.relay.drain()  # the second payment's items are delivered only now
    await gateway.reconciler.run_once()
    stmt = select(outbox.c.group_key, outbox.c.done_at.is_not(None))
    async with gateway.runtime.engine.connect() as conn:
        left = (await conn.execute(stmt)).all()
    assert old.result is not None
    old_id = old.result.payment.id
    # The old payment's items were delivered more than 72 h ago: gone. The late payment's
    # three items were delivered 72 h later: kept, delivered.
    assert len(left) == 3 and all(done for _, done in left)
    assert all(old_id not in group for group, _ in left)


async def test_a_capture_the_provider_cannot_do_raises_and_can_be_retried(
    make_gateway: GatewayFactory,
) -> None:
    gateway = make_gateway()
    pid = await authorized(gateway)
    await gateway.sandbox.control.add_fault(provider="stripe", kind="error", status=503,
                                            path="/v1/payment_intents/", count=3)  # fmt: skip
    with pytest.raises(ProviderUnavailable):
        await gateway.service.capture_payment(capture(pid, None, "c-1"), render_payment)
    view = await gateway.service.get_payment("m_1", pid)
    assert view.payment.status is PaymentStatus.AUTHORIZED
    retried = await gateway.service.capture_payment(capture(pid, None, "c-1"), render_payment)
    assert retried.result is not None
    assert retried.result.payment.status is PaymentStatus.CAPTURED
    outcomes = [a.outcome for a in retried.result.attempts if a.operation is Operation.CAPTURE]
    assert outcomes == [Outcome.RETRIABLE_ERROR, Outcome.SUCCEEDED]
