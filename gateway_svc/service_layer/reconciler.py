"""The reconciler: asks providers about open outcomes and settles them, on a schedule.

Kill Bill's janitor, for the gateway. Each pass (``run_once``):

1. payments whose check is due (UNKNOWN: a call went unanswered; REQUIRES_ACTION: the payer
   is authenticating): ``fetch`` the provider's payment, or, when the provider never told us
   its id, ``lookup`` the pending authorization by its idempotency key; the view is applied
   with ``apply_provider_view``, the postings and an audit record go to the outbox, and the
   call is recorded as a LOOKUP attempt. A lookup that finds nothing proves the
   authorization never took effect: the payment FAILS, nothing was charged. Still open:
   the next check follows ``retry.next_check``; past its last slot the payment is escalated
   (logged at ERROR, ``gateway_reconciled_total{result="escalated"}``) for a person;
2. refunds whose check is due (``reconcile_refunds``);
3. abandoned keyed requests and attempts (``completer``), and the key reaper.

Nothing here ever sends a new charge: an UNKNOWN payment is only ever asked about.

Keys of other use cases share the table and the completer's scan: their flows register how
to resume them (``register_resumer``; the FX, beneficiary and payout flows do, in
``wiring.build_fx``), so one pass settles every abandoned request, whatever its kind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from gateway_svc.adapters.store import DueCheck
from gateway_svc.domain.attempts import Attempt, Operation, RequestSummary
from gateway_svc.domain.errors import GatewayError, ProviderViewConflict
from gateway_svc.domain.events import PaymentEvent
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.providers import (
    Decline,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderCharge,
    ProviderError,
)

from .completer import Completer
from .effects import AuditNote, enqueue_audit, enqueue_events, payment_details
from .executor import Step, Tried, finished
from .finishing import GATEWAY_ACTOR, event_id
from .keys import KeyHold
from .leases import leased
from .metrics import RECONCILED
from .payments import PaymentService
from .ports import PaymentProvider
from .reconcile_refunds import RefundReconciler
from .scheduling import OPEN_STATUSES, next_check_at
from .unit_of_work import GatewayUnitOfWork
from .views import authorize_call, charge_view

_log = logging.getLogger(__name__)
_TOO_RECENT = ProviderError(
    ErrorKind.UNKNOWN,
    DeclineCode.UNKNOWN_OUTCOME,
    "the provider has no record yet, but the authorization is younger than the not-found"
    " grace (its search may lag writes); asked again at the next check",
)
HOLDER = "reconciler"
ACTION = "gateway.payment.reconcile"
Resume = Callable[[KeyHold], Awaitable[None]]
"""How a flow pushes on an abandoned key of its operation (``CreatePaymentFlow.resume``)."""


class _Completer(Completer):
    """The completer, resuming registered operations too.

    ``Completer._resume`` knows the payment operations only; the others are looked up here
    first. (A ``resumers`` argument on ``Completer`` itself would make this subclass
    unnecessary.)
    """

    def __init__(self, service: PaymentService, *, batch: int) -> None:
        super().__init__(service, batch=batch)
        self.resumers: dict[str, Resume] = {}

    async def _resume(self, hold: KeyHold) -> None:
        resume = self.resumers.get(hold.operation)
        if resume is not None:
            await resume(hold)
        else:
            await super()._resume(hold)


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did, for tests and logs."""

    payments: int = 0
    refunds: int = 0
    keys: int = 0
    orphans: int = 0
    reaped: int = 0


class Reconciler:
    """Settles open outcomes; ``run_once`` for tests, ``run_forever`` in the service."""

    def __init__(self, service: PaymentService, *, batch: int = 100) -> None:
        self._service = service
        self._rt = service.runtime
        self._batch = batch
        self._refunds = RefundReconciler(service.runtime, service.executor, batch=batch)
        self._completer = _Completer(service, batch=batch)

    def register_resumer(self, operation: str, resume: Resume) -> None:
        """Resume abandoned keys of ``operation`` with ``resume`` (another use case's)."""
        self._completer.resumers[operation] = resume

    @property
    def registered_operations(self) -> frozenset[str]:
        """The operations registered with ``register_resumer``."""
        return frozenset(self._completer.resumers)

    async def run_once(self, now: datetime | None = None) -> PassReport:
        """One pass over everything due at ``now`` (default: the runtime's clock)."""
        now = now or self._rt.clock()
        payments = await self._payments(now)
        refunds = await self._refunds.run_once(now)
        keys, orphans, reaped = await self._completer.run_once(now)
        return PassReport(payments, refunds, keys, orphans, reaped)

    async def run_forever(self, interval_s: float) -> None:
        """A pass every ``interval_s`` (settings: reconciler_interval_s) until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - the loop outlives a failed pass
                _log.exception("reconciler pass failed")
            await asyncio.sleep(interval_s)

    async def _payments(self, now: datetime) -> int:
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            due = await uow.payments.due_checks(now, self._batch)
        settled = 0
        for check in due:
            try:
                settled += await self._settle(check)
            except GatewayError as exc:  # busy (leased) or gone: next pass
                _log.info("reconciler skipped payment %s: %s", check.payment.id, exc)
        return settled

    async def _settle(self, check: DueCheck) -> int:
        """Ask about one payment and apply the answer; 1 when it is settled now."""
        rt = self._rt

        async def take(uow: GatewayUnitOfWork, payment: Payment) -> tuple[Payment, Attempt | None]:
            attempt = await uow.attempts.latest(payment.id, Operation.AUTHORIZE)
            await uow.commit()
            return payment, attempt

        payment, auth = await leased(rt, check.payment.id, HOLDER, take, merchant_id=None, wait_s=0)
        provider = payment.provider or (auth.provider if auth is not None else None)
        adapter = rt.providers.get(provider) if provider is not None else None
        if adapter is None or (not payment.provider_ref and auth is None):
            await self._reschedule(payment, check.checks_done, None, None)
            return 0
        lookup = _lookup_attempt(rt.new_id("att"), payment, adapter.name, rt.clock())
        view = charge_view(payment)
        call = authorize_call(payment, auth) if auth is not None else None

        async def ask(p: PaymentProvider) -> ProviderCharge | None:
            # A known provider id is fetched; otherwise the authorization is looked up by
            # its idempotency key, which never creates anything.
            return (
                await p.fetch(view)
                if payment.provider_ref or call is None
                else await p.lookup(call)
            )

        tried = await self._service.executor.run(adapter, "lookup", ask)
        if _too_recent_to_conclude(tried, auth, rt.clock() - rt.not_found_grace):
            # "Not found" proves nothing yet (a search may lag writes): ask again next time.
            tried = dataclasses.replace(tried, step=Step.UNKNOWN, error=_TOO_RECENT)
        return await self._reschedule(payment, check.checks_done, lookup, tried)

    async def _reschedule(
        self,
        seen: Payment,
        checks_done: int,
        lookup: Attempt | None,
        tried: Tried[ProviderCharge | None] | None,
    ) -> int:
        """Apply what the provider said, schedule the next check, release the lease."""
        rt, now = self._rt, self._rt.clock()
        async with GatewayUnitOfWork(rt.engine) as uow:
            payment = await uow.payments.get_any(seen.id)
            assert payment is not None, seen.id
            read = payment.version
            events = _apply(payment, lookup, tried, now)
            if payment.version != read:
                await uow.payments.update(payment, read)
            if lookup is not None and tried is not None:
                await uow.attempts.add(finished(lookup, tried, now), payment.merchant_id, HOLDER)
            settled = payment.status not in OPEN_STATUSES
            at = None if settled else next_check_at(rt, payment.update_time, now, checks_done + 1)
            await uow.payments.schedule_check(payment.id, at, checks_done + 1)
            await enqueue_events(uow, payment, events, now, fees=rt.fees, routing=rt.routing)
            if events:
                await enqueue_audit(uow, _note(payment), payment.id, now)
            await uow.payments.release_lease(payment.id, HOLDER)
            await uow.commit()
        rt.kick()
        result = "settled" if settled else ("escalated" if at is None else "open")
        RECONCILED.labels("payment", result).inc()
        if result == "escalated":
            _log.error("payment %s is still %s after every check: a person must look",
                       payment.id, payment.status.value)  # fmt: skip
        return int(settled)


def _lookup_attempt(
    attempt_id: str, payment: Payment, provider: Provider, now: datetime
) -> Attempt:
    return Attempt(
        id=attempt_id,
        payment_id=payment.id,
        operation=Operation.LOOKUP,
        provider=provider,
        idempotency_key="",
        request=RequestSummary(payment.amount_minor, payment.currency, payment.method),
        routing=None,
        started_at=now,
    )


def _too_recent_to_conclude(
    tried: Tried[ProviderCharge | None], auth: Attempt | None, cutoff: datetime
) -> bool:
    """True when the provider found nothing for an authorization started after ``cutoff``."""
    found_nothing = tried.step is Step.DONE and tried.value is None
    return found_nothing and auth is not None and auth.started_at > cutoff


def _apply(
    payment: Payment,
    lookup: Attempt | None,
    tried: Tried[ProviderCharge | None] | None,
    now: datetime,
) -> list[PaymentEvent]:
    if lookup is None or tried is None or tried.step is not Step.DONE:
        return []
    if tried.value is None:
        # The provider has no payment for the authorization's key: it never took effect.
        why = "the provider has no record of the authorization; nothing was charged"
        return payment.fail(Decline(DeclineCode.PROVIDER_UNAVAILABLE, why, ""), now)
    try:
        return payment.apply_provider_view(tried.value, now, lookup.provider)
    except ProviderViewConflict as exc:
        _log.error("reconciler: provider view conflicts with payment %s: %s", payment.id, exc)
        return []


def _note(payment: Payment) -> AuditNote:
    return AuditNote(
        event_id=event_id("reconcile", payment.id, str(payment.version)),
        action=ACTION,
        merchant_id=payment.merchant_id,
        target=f"payments/{payment.id}",
        actor_kind="service",
        actor_id=GATEWAY_ACTOR,
        details=payment_details(payment),
    )
