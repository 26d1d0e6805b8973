"""Phase c of CreatePayment: authorize with the routed providers, failing over when safe.

The first attempt's row was committed in phase b. For each candidate, ``Executor.run`` calls
``authorize`` (retrying with the attempt's idempotency key when ``retry.decide`` allows);
then:

- an answer (authorized, captured, 3DS, declined) ends the phase;
- FAIL_OVER (the provider provably did not act: RETRIABLE after the retries, or INVALID)
  finishes the attempt and writes the next candidate's attempt, both committed before the
  next call, so a crash never leaves a call without its row;
- UNKNOWN ends the phase: the provider may have charged, so no other provider is tried;
- no candidate left ends it too (NO_PROVIDER_AVAILABLE on the payment).

A resumed request (the first died after phase b) first asks the provider what became of the
pending attempt with ``lookup``, which never creates anything: found, that is the answer;
not found, the request never took effect and ``authorize`` is sent again with the same key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway_svc.domain.attempts import Attempt, Operation, RequestSummary, RoutingRecord
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.providers import (
    AuthorizeCall,
    DeclineCode,
    ErrorKind,
    PaymentMethod,
    ProviderCharge,
    ProviderError,
)

from . import keys
from .executor import Executor, Step, Tried, finished
from .keys import KeyHold
from .ports import PaymentProvider
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork
from .views import authorize_call


@dataclass
class AuthResult:
    """How phase c ended: the last attempt (finished), its tries, and the answer if any."""

    attempt: Attempt
    step: Step
    charge: ProviderCharge | None = None
    error: ProviderError | None = None
    tries: list[dict[str, Any]] = field(default_factory=list)
    hold: KeyHold | None = None
    """The key as last written here (a failover refreshes its lock)."""


def new_attempt(
    rt: GatewayRuntime,
    payment: Payment,
    routing: RoutingRecord,
    operation: Operation = Operation.AUTHORIZE,
) -> Attempt:
    """A PENDING attempt with the provider at ``routing.position``; its provider idempotency
    key is its own id, so a retry of this attempt repeats exactly this request."""
    attempt_id = rt.new_id("att")
    return Attempt(
        id=attempt_id,
        payment_id=payment.id,
        operation=operation,
        provider=routing.candidates[routing.position],
        idempotency_key=attempt_id,
        request=RequestSummary(payment.amount_minor, payment.currency, payment.method),
        routing=routing,
        started_at=rt.clock(),
    )


def next_position(rt: GatewayRuntime, executor: Executor, routing: RoutingRecord) -> int | None:
    """The next candidate after ``routing.position`` that has an adapter and whose breaker
    admits a call now; None when there is none."""
    for position in range(routing.position + 1, len(routing.candidates)):
        adapter = rt.providers.get(routing.candidates[position])
        if adapter is not None and executor.admit(adapter):
            return position
    return None


async def authorize(
    rt: GatewayRuntime,
    executor: Executor,
    hold: KeyHold,
    payment: Payment,
    attempt: Attempt,
    method: PaymentMethod,
    *,
    resumed: bool,
) -> AuthResult:
    """Run phase c from ``attempt`` (pending, committed); see the module docstring."""
    if resumed:
        found = await look_up(rt, executor, payment, attempt)
        if found is not None:
            return found
    while True:
        adapter = rt.providers[attempt.provider]
        tried = await executor.run(
            adapter, "authorize", _authorize(authorize_call(payment, attempt, method))
        )
        done = finished(attempt, tried, rt.clock())
        if tried.step is not Step.FAIL_OVER:
            return _result(done, tried, hold)
        assert attempt.routing is not None, attempt
        position = next_position(rt, executor, attempt.routing)
        if position is None:
            return _result(done, tried, hold)
        routing = RoutingRecord(**{**_fields(attempt.routing), "position": position})
        attempt = new_attempt(rt, payment, routing)
        hold = await _fail_over(rt, hold, payment, done, tried, attempt)


def _authorize(call: AuthorizeCall) -> Callable[[PaymentProvider], Awaitable[ProviderCharge]]:
    """The call for ``Executor.run``, bound to this attempt's request (not a loop variable)."""
    return lambda provider: provider.authorize(call)


def _fields(record: RoutingRecord) -> dict[str, Any]:
    return {
        "candidates": record.candidates,
        "position": record.position,
        "skipped": record.skipped,
        "rule": record.rule,
        "all_open": record.all_open,
    }


def _result(done: Attempt, tried: Tried[ProviderCharge], hold: KeyHold) -> AuthResult:
    return AuthResult(done, tried.step, tried.value, tried.error, tried.tries_json(), hold)


async def _fail_over(
    rt: GatewayRuntime,
    hold: KeyHold,
    payment: Payment,
    done: Attempt,
    tried: Tried[ProviderCharge],
    attempt: Attempt,
) -> KeyHold:
    """Finish one attempt and record the next, before the next call is sent."""
    now = rt.clock()
    async with GatewayUnitOfWork(rt.engine) as uow:
        await uow.attempts.save(done, tried.tries_json())
        await uow.attempts.add(attempt, hold.record.merchant_id, hold.record.key)
        await uow.payments.take_lease(payment.id, hold.holder, now + rt.lock_timeout, now)
        hold = await keys.refresh(uow, hold, now)
        await uow.commit()
    return hold


async def look_up(
    rt: GatewayRuntime, executor: Executor, payment: Payment, attempt: Attempt
) -> AuthResult | None:
    """Ask the provider about a pending attempt (``lookup``, which never creates anything);
    None when the provider has no such payment, so the request never took effect."""
    adapter = rt.providers.get(attempt.provider)
    if adapter is None:
        # The provider was configured when the call was sent; without it we cannot ask.
        return AuthResult(attempt, Step.UNKNOWN)
    call = authorize_call(payment, attempt)
    tried = await executor.run(adapter, "lookup", lambda p: p.lookup(call))
    now = rt.clock()
    if tried.step is Step.DONE and tried.value is None:
        if attempt.started_at > now - rt.not_found_grace:
            # Too recent for "not found" to prove anything (a provider's search may lag its
            # writes): leave the outcome unknown for the reconciler rather than conclude.
            return _unknown(attempt, now, "the provider has no record yet", tried)
        return None
    if tried.step is Step.DONE and tried.value is not None:
        done = attempt.finish_with_charge(tried.value, now, tried.latency_ms)
        return AuthResult(done, Step.DONE, tried.value, None, tried.tries_json())
    # The provider could not be asked: the outcome stays unknown for the reconciler.
    why = repr(tried.error) if tried.error is not None else "no answer"
    return _unknown(attempt, now, f"lookup failed: {why}", tried)


def _unknown(
    attempt: Attempt, now: datetime, why: str, tried: Tried[ProviderCharge | None]
) -> AuthResult:
    unknown = ProviderError(ErrorKind.UNKNOWN, DeclineCode.UNKNOWN_OUTCOME, why[:500])
    done = attempt.finish_with_error(unknown, now, tried.latency_ms)
    return AuthResult(done, Step.UNKNOWN, None, unknown, tried.tries_json())
