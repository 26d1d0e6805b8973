"""One provider operation, tried until ``retry.decide`` says stop: the provider-call phase.

``Executor.run`` calls one provider for one attempt: on a ProviderError it asks
``retry.decide`` and either sleeps the backoff and repeats the call with the same
idempotency key (``RetrySame``), or returns the step the caller must take next: fail over to
another provider, stop with an unknown outcome, or stop failed. Each call's outcome goes to
the provider's circuit breaker and retry budget, and each call (a "try") is recorded with
its latency for the attempt row. No transaction is open while it runs.

Failing over is the caller's job (``create_flow``), because the next attempt's row must be
committed before its call is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from gateway_svc.domain import retry
from gateway_svc.domain.attempts import Attempt
from gateway_svc.domain.breaker import CallOutcome, outcome_of
from gateway_svc.domain.providers import (
    ProviderCharge,
    ProviderError,
    ProviderRefund,
)

from .metrics import PROVIDER_CALLS
from .ports import PaymentProvider
from .runtime import GatewayRuntime

T = TypeVar("T")
_log = logging.getLogger(__name__)


class Step(StrEnum):
    """What the caller does after ``run``."""

    DONE = "done"
    """The provider answered (a decline is an answer)."""
    FAIL_OVER = "fail_over"
    """The provider could not or would not do it, provably without acting: try another."""
    UNKNOWN = "unknown"
    """The provider may have acted; the reconciler asks it later. Never try another."""
    FAILED = "failed"
    """Stop: the operation failed for good."""


@dataclass(frozen=True, slots=True)
class Try:
    """One call to the provider."""

    at: datetime
    latency_ms: int
    error: ProviderError | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON kept in the attempt's ``tries``."""
        e = self.error
        return {
            "at": self.at.isoformat(),
            "latency_ms": self.latency_ms,
            "error_kind": e.kind.value if e else None,
            "code": e.code.value if e else None,
            "http_status": e.http_status if e else None,
            "retry_after_s": e.retry_after_s if e else None,
        }


@dataclass
class Tried(Generic[T]):
    """How ``run`` ended: the provider's answer or the last error, and every try."""

    step: Step
    value: T | None = None
    error: ProviderError | None = None
    tries: list[Try] = field(default_factory=list)

    @property
    def latency_ms(self) -> int:
        """Time spent in calls, summed over the tries (backoff sleeps excluded)."""
        return sum(t.latency_ms for t in self.tries)

    def tries_json(self) -> list[dict[str, Any]]:
        """The tries as stored on the attempt."""
        return [t.to_dict() for t in self.tries]


def finished(attempt: Attempt, tried: Tried[Any], now: datetime) -> Attempt:
    """The attempt as ``tried`` ended it (a charge, a refund, or an error)."""
    if tried.error is not None:
        return attempt.finish_with_error(tried.error, now, tried.latency_ms)
    if isinstance(tried.value, ProviderCharge):
        return attempt.finish_with_charge(tried.value, now, tried.latency_ms)
    ref = tried.value.provider_ref if isinstance(tried.value, ProviderRefund) else ""
    return attempt.finish_ok(now, tried.latency_ms, ref)


class Executor:
    """Calls providers with retries, breakers and budgets (one per process)."""

    def __init__(self, rt: GatewayRuntime) -> None:
        self._rt = rt

    def admit(self, provider: PaymentProvider, *, probe: bool = False) -> bool:
        """May a new attempt go to ``provider`` now (its breaker closed, or a probe slot)?"""
        return self._rt.breakers[provider.name].allow(self._rt.monotonic(), force_probe=probe)

    async def run(
        self,
        provider: PaymentProvider,
        operation: str,
        call: Callable[[PaymentProvider], Awaitable[T]],
    ) -> Tried[T]:
        """Call until an answer, or until ``retry.decide`` stops the retries."""
        rt = self._rt
        tried: Tried[T] = Tried(Step.DONE)
        while True:
            start, at = rt.monotonic(), rt.clock()
            try:
                value: T | None = await call(provider)
                error: ProviderError | None = None
            except ProviderError as exc:
                value, error = None, exc
            tried.tries.append(Try(at, round((rt.monotonic() - start) * 1000), error))
            self._record(provider, operation, error)
            if error is None:
                tried.value, tried.error = value, None
                return tried
            tried.error = error
            decision = retry.decide(
                error,
                len(tried.tries),
                True,  # every call carries the attempt's idempotency key (ports contract)
                rt.budget(provider.name),
                policy=rt.retry_policy,
                rng=rt.rng,
            )
            if isinstance(decision, retry.RetrySame):
                await rt.sleep(decision.delay_s)
                continue
            tried.step = _STEP[type(decision)]
            _log.info(
                "provider call stopped",
                extra={"provider": provider.name.value, "operation": operation,
                       "step": tried.step.value, "error": repr(error)},
            )  # fmt: skip
            return tried

    def _record(
        self, provider: PaymentProvider, operation: str, error: ProviderError | None
    ) -> None:
        rt = self._rt
        outcome = outcome_of(error)
        rt.breakers[provider.name].record(rt.monotonic(), outcome)
        budget = rt.budget(provider.name)
        if outcome is CallOutcome.FAILURE:
            budget.record_failure()
        else:
            budget.record_success()
        label = "ok" if error is None else error.kind.value
        PROVIDER_CALLS.labels(provider.name.value, operation, label).inc()


_STEP: dict[type[object], Step] = {
    retry.FailOver: Step.FAIL_OVER,
    retry.StopUnknown: Step.UNKNOWN,
    retry.StopFailed: Step.FAILED,
}
