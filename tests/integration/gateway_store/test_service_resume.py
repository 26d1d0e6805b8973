"""A gateway killed at each recovery point, then a retry (or the completer): one charge.

A crash is simulated by running a request's phases up to a point and dropping it, then
building a new gateway on the same database and sandbox (a restart) with the clock moved past
the lock timeout. "Killed mid-call" is the worst case: the provider received the call and
committed it, and its answer was lost with the process.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.attempts import Operation, Outcome
from gateway_svc.domain.errors import IdempotencyKeyInUse
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.payments import CaptureMethod, PaymentStatus
from gateway_svc.domain.refunds import RefundStatus
from gateway_svc.service_layer import keys
from gateway_svc.service_layer.create_flow import create_fingerprint
from gateway_svc.service_layer.keys import KeyHold
from gateway_svc.service_layer.mutate_flow import Mutation
from gateway_svc.service_layer.refund_flow import refund_fingerprint
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.views import authorize_call, charge_view
from tests.integration.gateway_store.conftest import Gateway, GatewayFactory
from tests.integration.gateway_store.gateway_support import (
    body,
    render_payment,
    render_refund,
)
from tests.integration.gateway_store.test_service_create import create
from tests.integration.gateway_store.test_service_mutations import authorized, capture, refund

CMD = create("crash-1", capture=CaptureMethod.AUTOMATIC)


async def opened(gateway: Gateway) -> KeyHold:
    hold = await keys.open_key(gateway.runtime, "m_1", CMD.request_id, keys.CREATE,
                               create_fingerprint(CMD))  # fmt: skip
    assert isinstance(hold, KeyHold)
    return hold


async def intents(gateway: Gateway) -> int:
    return len((await gateway.sandbox.control.state("stripe"))["payments"])


async def creates_sent(gateway: Gateway) -> int:
    paths = (await gateway.sandbox.control.stats())["requests"].get("stripe", {}).get("paths", {})
    return int(paths.get("POST /v1/payment_intents", 0))


async def key_point(gateway: Gateway, key: str) -> RecoveryPoint | None:
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        row = await uow.keys.get("m_1", key)
    return None if row is None else row.record.recovery_point


async def restart(make_gateway: GatewayFactory, crashed: Gateway) -> Gateway:
    crashed.clock.advance(91)  # past the 90 s lock timeout: the key may be taken over
    return make_gateway()


async def test_a_retry_during_the_lock_is_refused_in_use(make_gateway: GatewayFactory) -> None:
    crashed = make_gateway()
    await opened(crashed)
    with pytest.raises(IdempotencyKeyInUse) as refused:
        await make_gateway().service.create_payment(CMD, render_payment)
    assert float(refused.value.metadata["retry_after_s"]) > 80


async def test_killed_at_started_the_retry_runs_the_whole_request(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    await opened(crashed)
    retried = await (await restart(make_gateway, crashed)).service.create_payment(
        CMD, render_payment
    )
    assert retried.result is not None and not retried.replayed
    assert retried.result.payment.status is PaymentStatus.CAPTURED
    assert await intents(crashed) == 1


async def test_killed_after_payment_created_before_the_call_the_retry_sends_it_once(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    await crashed.service.creating.start(await opened(crashed), CMD)
    gateway = await restart(make_gateway, crashed)
    retried = await gateway.service.create_payment(CMD, render_payment)
    assert retried.result is not None
    assert retried.result.payment.status is PaymentStatus.CAPTURED
    # The pending attempt was looked up (nothing found), then sent with its own key.
    assert [a.outcome for a in retried.result.attempts] == [Outcome.SUCCEEDED]
    assert (await intents(gateway), await creates_sent(gateway)) == (1, 1)


async def test_killed_mid_call_after_the_provider_charged_the_retry_does_not_charge_again(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    _, payment, attempt = await crashed.service.creating.start(await opened(crashed), CMD)
    adapter = crashed.runtime.providers[attempt.provider]
    await adapter.authorize(authorize_call(payment, attempt, CMD.method))  # answer "lost"
    gateway = await restart(make_gateway, crashed)
    retried = await gateway.service.create_payment(CMD, render_payment)
    assert retried.result is not None
    p = retried.result.payment
    assert (p.status, p.captured_minor) == (PaymentStatus.CAPTURED, 1000)
    assert (await intents(gateway), await creates_sent(gateway)) == (1, 1)
    await gateway.relay.drain()
    assert [rid for _, rid in gateway.ledger.calls if rid.endswith(":capture:auto")] == [
        f"{p.id}:capture:auto"
    ]


async def test_killed_after_provider_called_the_retry_only_answers(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    await crashed.service.creating.advance_to_called(await opened(crashed), CMD)
    assert await key_point(crashed, CMD.request_id) is RecoveryPoint.PROVIDER_CALLED
    gateway = await restart(make_gateway, crashed)
    stats = await gateway.sandbox.control.stats()
    retried = await gateway.service.create_payment(CMD, render_payment)
    assert body(retried.response)["status"] == "captured"
    assert await gateway.sandbox.control.stats() == stats
    assert await key_point(gateway, CMD.request_id) is RecoveryPoint.FINISHED


async def test_the_completer_settles_a_request_abandoned_mid_call(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    _, payment, attempt = await crashed.service.creating.start(await opened(crashed), CMD)
    await crashed.runtime.providers[attempt.provider].authorize(
        authorize_call(payment, attempt, CMD.method)
    )
    gateway = await restart(make_gateway, crashed)
    report = await gateway.reconciler.run_once()
    assert report.keys == 1
    view = await gateway.service.get_payment("m_1", payment.id)
    assert view.payment.status is PaymentStatus.CAPTURED
    assert await key_point(gateway, CMD.request_id) is RecoveryPoint.PROVIDER_CALLED
    stats = await gateway.sandbox.control.stats()
    retried = await gateway.service.create_payment(CMD, render_payment)  # the client comes back
    assert body(retried.response)["status"] == "captured"
    assert await gateway.sandbox.control.stats() == stats
    assert await intents(gateway) == 1


async def test_the_completer_fails_a_payment_whose_call_never_reached_the_provider(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    _, payment, _ = await crashed.service.creating.start(await opened(crashed), CMD)
    gateway = await restart(make_gateway, crashed)
    await gateway.reconciler.run_once()
    view = await gateway.service.get_payment("m_1", payment.id)
    assert view.payment.status is PaymentStatus.FAILED
    assert await intents(gateway) == 0
    retried = await gateway.service.create_payment(CMD, render_payment)
    assert body(retried.response)["reason"] == "NO_PROVIDER_AVAILABLE"


async def test_not_found_proves_nothing_while_the_attempt_is_younger_than_the_grace(
    make_gateway: GatewayFactory,
) -> None:
    # A live provider's search may lag its writes (Stripe's by up to a minute): within the
    # grace, "no such payment" must leave the outcome open, never fail a charged payment.
    crashed = make_gateway()
    _, payment, _ = await crashed.service.creating.start(await opened(crashed), CMD)
    crashed.clock.advance(91)  # restarted past the lock timeout, with a live provider's grace
    gateway = make_gateway(not_found_grace=timedelta(seconds=300))
    await gateway.reconciler.run_once()
    view = await gateway.service.get_payment("m_1", payment.id)
    assert view.payment.status is PaymentStatus.UNKNOWN
    lookups = [a for a in view.attempts if a.outcome is Outcome.UNKNOWN]
    assert lookups and "no record yet" in lookups[-1].message

    gateway.clock.advance(300)  # past the grace: now "not found" is proof
    gateway.clock.advance(60)  # and past the reconciler's next check
    await gateway.reconciler.run_once()
    view = await gateway.service.get_payment("m_1", payment.id)
    assert view.payment.status is PaymentStatus.FAILED
    assert await intents(gateway) == 0


async def test_a_capture_killed_mid_call_is_captured_once_on_retry(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    pid = await authorized(crashed)
    fp = idem.fingerprint(keys.CAPTURE, {"payment_id": pid, "amount_minor": 400})
    hold = await keys.open_key(crashed.runtime, "m_1", "cap-crash", keys.CAPTURE, fp)
    assert isinstance(hold, KeyHold)
    _, payment, attempt = await crashed.service.mutating.start(
        hold, Mutation("m_1", "key_1", pid, 400)
    )
    adapter = crashed.runtime.providers[attempt.provider]
    await adapter.capture(charge_view(payment), 400, "USD", attempt.idempotency_key)
    gateway = await restart(make_gateway, crashed)
    retried = await gateway.service.capture_payment(capture(pid, 400, "cap-crash"), render_payment)
    assert retried.result is not None
    p = retried.result.payment
    assert (p.status, p.captured_minor) == (PaymentStatus.PARTIALLY_CAPTURED, 400)
    captures = [a for a in retried.result.attempts if a.operation is Operation.CAPTURE]
    assert [a.outcome for a in captures] == [Outcome.SUCCEEDED]
    [intent] = (await gateway.sandbox.control.state("stripe"))["payments"].values()
    assert intent["captured"] == 400


async def test_a_refund_killed_mid_call_is_made_once_on_retry(
    make_gateway: GatewayFactory,
) -> None:
    crashed = make_gateway()
    pid = await authorized(crashed)
    await crashed.service.capture_payment(capture(pid), render_payment)
    cmd = refund(pid, 250, "ref-crash")
    hold = await keys.open_key(crashed.runtime, "m_1", "ref-crash", keys.REFUND,
                               refund_fingerprint(cmd))  # fmt: skip
    assert isinstance(hold, KeyHold)
    _, payment, made, attempt = await crashed.service.refunding.start(hold, cmd)
    adapter = crashed.runtime.providers[attempt.provider]
    await adapter.refund(charge_view(payment), 250, "USD", attempt.idempotency_key)
    gateway = await restart(make_gateway, crashed)
    retried = await gateway.service.create_refund(cmd, render_refund)
    assert retried.result is not None
    assert (retried.result.id, retried.result.status) == (made.id, RefundStatus.SUCCEEDED)
    state = await gateway.sandbox.control.state("stripe")
    assert [r["amount"] for r in state["refunds"].values()] == [250]
    await gateway.relay.drain()
    assert gateway.ledger.totals["gw/m_1/USD/refunds"].credits_posted == 250
