"""The relay's batch calls: a pass sends its audit records in one RecordAuditEvents call and
its ledger creates in one CreateTransactions call, and one refused item in a batch holds back
only itself (and what queues behind it in its own payment)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from gateway_svc.adapters.tables import outbox
from gateway_svc.domain.providers import PaymentMethod
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.conftest import Gateway
from tests.integration.gateway_store.gateway_support import render_payment
from tests.integration.gateway_store.test_service_create import create

VISA = PaymentMethod(token="pm_card_visa")


async def _payments(gateway: Gateway, n: int) -> list[str]:
    """``n`` automatic-capture payments made concurrently, with the relay stopped (nothing is
    delivered until the test drains), so one pass sees all of their items."""
    answers = await asyncio.gather(
        *(gateway.service.create_payment(create(f"b-{i}", method=VISA), render_payment)
          for i in range(n))
    )  # fmt: skip
    ids = []
    for answer in answers:
        assert answer.result is not None
        ids.append(answer.result.payment.id)
    return ids


async def test_a_pass_sends_its_audit_records_and_ledger_creates_in_one_call_each(
    gateway: Gateway,
) -> None:
    ids = await _payments(gateway, 12)
    await gateway.relay.drain()
    # Every payment: its capture and its provider fee posted, one audit record each.
    for pid in ids:
        assert {f"{pid}:capture:auto", f"{pid}:provider_fee"} <= set(gateway.ledger.by_request)
    assert len(gateway.audit.events) == 12
    # The first pass carries each payment's head items: all 12 audit records in one call,
    # all 12 captures in another; the fees (second in their payments' groups) in the next.
    assert gateway.audit.batches == [12]
    assert gateway.ledger.batches == [12, 12]


async def test_a_refused_audit_record_holds_back_only_itself(gateway: Gateway) -> None:
    ids = await _payments(gateway, 3)
    [bad] = await _audit_ids(gateway, ids[:1])
    good = await _audit_ids(gateway, ids[1:])
    gateway.audit.refuse.add(bad)
    await gateway.relay.drain()
    # The batch was refused, then each record went alone: the two good ones are recorded.
    assert gateway.audit.batches[0] == 3
    assert set(gateway.audit.events) == set(good)
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        [parked] = await uow.outbox.parked()
        assert parked.dedupe_key == bad and "VALIDATION_FAILED" in parked.last_error
    # The ledger side of every payment, the refused record's included, went through.
    for pid in ids:
        assert f"{pid}:provider_fee" in gateway.ledger.by_request


async def test_a_refused_create_in_a_batch_holds_back_only_its_own_payment(
    gateway: Gateway,
) -> None:
    first, second, third = await _payments(gateway, 3)
    gateway.ledger.refuse[f"{second}:capture:auto"] = "ACCOUNT_CLOSED"
    await gateway.relay.drain()
    assert gateway.ledger.batches[0] == 3  # the three captures went in one call
    for pid in (first, third):
        assert f"{pid}:provider_fee" in gateway.ledger.by_request
    assert f"{second}:capture:auto" not in gateway.ledger.by_request
    assert f"{second}:provider_fee" not in gateway.ledger.by_request  # waits behind it
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        [parked] = await uow.outbox.parked()
        assert parked.dedupe_key == f"{second}:capture:auto"
        assert await uow.outbox.pending_count(second) == 2


async def _audit_ids(gateway: Gateway, payment_ids: list[str]) -> list[str]:
    """The event ids of the payments' audit records, read from the outbox where they wait."""
    groups = [f"audit/{pid}" for pid in payment_ids]
    stmt = select(outbox.c.dedupe_key).where(outbox.c.group_key.in_(groups))
    async with gateway.runtime.engine.connect() as conn:
        return sorted((await conn.execute(stmt)).scalars())
