"""One call to the FX provider, repeated while ``retry.decide`` allows: the provider phase.

The card providers' ``Executor`` is built around routing and per-provider breakers; the FX
provider is one (Currencycloud), with nothing to fail over to, so this is the same loop
without them: on a ProviderError, ``retry.decide`` (the gateway's one retry rule, its
backoff with full jitter and its retry budget) says whether to sleep and repeat. Every
call this module makes is safe to repeat: creates carry the provider's idempotency key
(``unique_request_id`` / external reference derived from our object's id) and the others
only read or are idempotent at the provider.

How a call ended (``FxStep``) decides what the use case does next:

- DONE: the provider answered.
- REFUSED: the provider refused the request itself (INVALID or DECLINED): it did nothing;
  repeating cannot help.
- UNAVAILABLE: every try failed retriably, or was never sent, and none may have acted:
  provably nothing happened; a later retry with the same request_id may succeed.
- UNKNOWN: some try was sent and never answered, so the provider may have acted: the status
  poller (or the request's retry) asks it by our id, never assumes either way.

The adapter already absorbs 401 re-logins and short 429s (``currencycloud_transport``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from gateway_svc.domain import retry
from gateway_svc.domain.errors import ProviderUnavailable, ValidationFailed
from gateway_svc.domain.fx_provider import ProviderValidationError
from gateway_svc.domain.providers import ErrorKind, ProviderError
from svc_kit.faults import FieldViolation

from .metrics import PROVIDER_CALLS
from .ports import FxProvider
from .runtime import GatewayRuntime

T = TypeVar("T")
PROVIDER = "currencycloud"
_log = logging.getLogger(__name__)


class FxStep(StrEnum):
    """How a provider operation ended; see the module docstring."""

    DONE = "done"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


@dataclass
class FxTried(Generic[T]):
    """The provider's answer (DONE) or the last error, and how many calls were made."""

    step: FxStep
    value: T | None = None
    error: ProviderError | None = None
    calls: int = 0

    @property
    def reason(self) -> str:
        """The last error's message, capped (the step's name when there is none)."""
        return self.step.value if self.error is None else self.error.message[:255]


class FxCaller:
    """Calls the FX provider with the gateway's retry rule; one per process."""

    def __init__(self, rt: GatewayRuntime, provider: FxProvider) -> None:
        self._rt = rt
        self.provider = provider
        self._budget = retry.RetryBudget()

    async def run(self, operation: str, call: Callable[[FxProvider], Awaitable[T]]) -> FxTried[T]:
        """Call until an answer, or until ``retry.decide`` stops; see the module docstring."""
        rt, tried = self._rt, FxTried[T](FxStep.DONE)
        maybe_acted = False
        while True:
            tried.calls += 1
            try:
                tried.value, tried.error = await call(self.provider), None
            except ProviderError as exc:
                tried.error = exc
            self._record(operation, tried.error)
            error = tried.error
            if error is None:
                return tried
            maybe_acted |= error.kind is ErrorKind.UNKNOWN
            decision = retry.decide(
                error, tried.calls, True, self._budget, policy=rt.retry_policy, rng=rt.rng
            )
            if isinstance(decision, retry.RetrySame):
                await rt.sleep(decision.delay_s)
                continue
            tried.step = _step(error, maybe_acted)
            _log.info("fx provider call stopped: %s %s after %d call(s): %r",
                      operation, tried.step.value, tried.calls, error)  # fmt: skip
            return tried

    def _record(self, operation: str, error: ProviderError | None) -> None:
        if error is None or error.kind not in (ErrorKind.RETRIABLE, ErrorKind.UNKNOWN):
            self._budget.record_success()
        else:
            self._budget.record_failure()
        label = "ok" if error is None else error.kind.value
        PROVIDER_CALLS.labels(PROVIDER, operation, label).inc()


def _step(error: ProviderError, maybe_acted: bool) -> FxStep:
    if maybe_acted:
        # One unanswered try is enough: a later refusal or 503 does not undo what it did.
        return FxStep.UNKNOWN
    if error.kind in (ErrorKind.INVALID, ErrorKind.DECLINED):
        return FxStep.REFUSED
    return FxStep.UNAVAILABLE


def unavailable(what: str, why: str, metadata: dict[str, str]) -> ProviderUnavailable:
    """The refusal for a provider that could not be reached or would not answer now."""
    return ProviderUnavailable(
        f"the FX provider could not {what} now; nothing changed, retry later ({why})",
        metadata={**metadata, "provider": PROVIDER},
    )


def provider_violations(
    error: ProviderError, prefix: str = "", rename: dict[str, str] | None = None
) -> list[FieldViolation]:
    """The provider's field reasons as our field violations (one per field, the first
    reason), paths renamed (``rename``) and put under ``prefix``; the request as a whole
    when the provider named no field."""
    whole = prefix or "request"
    if not isinstance(error, ProviderValidationError):
        return [FieldViolation(whole, f"refused by the FX provider: {error.message[:255]}")]
    out: dict[str, FieldViolation] = {}
    for field, reasons in error.fields().items():
        name = (rename or {}).get(field, field)
        path = f"{prefix}.{name}" if prefix and name else (name or whole)
        first = reasons[0]
        text = first.message or first.code or "is refused by the FX provider"
        out.setdefault(path, FieldViolation(path, f"{text} (FX provider: {first.code})"))
    return list(out.values()) or [FieldViolation(whole, error.message[:255])]


def refused(what: str, error: ProviderError, violations: list[FieldViolation]) -> ValidationFailed:
    """A ValidationFailed for a request the provider refused, one violation per field."""
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return ValidationFailed(
        f"the FX provider refused the {what}: {first.field} {first.description}{more}",
        violations=violations,
        metadata={"provider": PROVIDER, "provider_code": error.raw_code[:64]},
    )
