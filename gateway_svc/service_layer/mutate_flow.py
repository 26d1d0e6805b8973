"""CapturePayment and CancelPayment, in the same keyed phases as CreatePayment.

    a  open the key (a generated one when the request has no request_id)
    b  STARTED          lease the payment; check the request against its state
                        (``ensure_capturable`` / ``ensure_cancelable``: a refusal stores
                        nothing and the key is dropped); attempt PENDING; -> PAYMENT_CREATED
    c  (no transaction) the provider call, retried with the attempt's idempotency key
    d  PAYMENT_CREATED  apply the answer; ledger postings and audit into the outbox; release
                        the lease -> PROVIDER_CALLED
    e  PROVIDER_CALLED  render, store, finish

There is no failover: the payment lives at its provider. When the provider provably did not
act (RETRIABLE after the retries, or INVALID), nothing changed: the attempt is kept, the key
is dropped and PROVIDER_UNAVAILABLE is raised, so the client's retry with the same
request_id runs again. When the outcome is unknown the payment goes UNKNOWN and the
reconciler settles it. Resuming at PAYMENT_CREATED repeats the call with the same
idempotency key, which the ports contract makes safe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.attempts import Attempt, Operation, Outcome, RequestSummary
from gateway_svc.domain.capabilities import Feature
from gateway_svc.domain.errors import (
    GatewayError,
    PartialCaptureUnsupported,
    PaymentNotCancelable,
    PaymentOutcomeUnknown,
    ProviderUnavailable,
    ProviderViewConflict,
)
from gateway_svc.domain.events import PaymentEvent
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import ProviderCharge

from . import keys
from .commands import Answer, CancelPayment, CapturePayment, PaymentView, RenderPayment
from .effects import AuditNote, enqueue_audit, enqueue_events, payment_details
from .executor import Executor, Step, Tried, finished
from .finishing import GATEWAY_ACTOR, event_id, finish_payment
from .keys import KeyHold, Replayed
from .leases import leased
from .runtime import GatewayRuntime
from .scheduling import schedule_payment_check, to_unknown
from .unit_of_work import GatewayUnitOfWork
from .views import charge_view

_log = logging.getLogger(__name__)
_OPERATIONS = {keys.CAPTURE: Operation.CAPTURE, keys.CANCEL: Operation.CANCEL}
_ACTIONS = {
    Operation.CAPTURE: "gateway.payment.capture",
    Operation.CANCEL: "gateway.payment.cancel",
}


@dataclass(frozen=True, slots=True)
class Mutation:
    """A capture or cancel request, as both share it (cancel has no amount)."""

    merchant_id: str
    actor_key_id: str
    payment_id: str
    amount_minor: int | None = None


class MutationFlow:
    """Capture and cancel, and their resumption; one per process."""

    def __init__(self, rt: GatewayRuntime, executor: Executor) -> None:
        self._rt = rt
        self._executor = executor

    async def capture(self, cmd: CapturePayment, render: RenderPayment) -> Answer[PaymentView]:
        """CapturePayment; see the module docstring."""
        fields = {"payment_id": cmd.payment_id, "amount_minor": cmd.amount_minor}
        req = Mutation(cmd.merchant_id, cmd.actor_key_id, cmd.payment_id, cmd.amount_minor)
        return await self._run(keys.CAPTURE, cmd.request_id, fields, req, render)

    async def cancel(self, cmd: CancelPayment, render: RenderPayment) -> Answer[PaymentView]:
        """CancelPayment; see the module docstring."""
        req = Mutation(cmd.merchant_id, cmd.actor_key_id, cmd.payment_id)
        return await self._run(
            keys.CANCEL, cmd.request_id, {"payment_id": cmd.payment_id}, req, render
        )

    async def resume(self, hold: KeyHold) -> None:
        """The completer's resumption: the call is repeated with the same key, then the key is
        left at PROVIDER_CALLED for the client's retry to render."""
        if hold.point is RecoveryPoint.STARTED:
            await keys.drop(self._rt, hold)
            return
        hold = await self._advance(hold, None)
        async with GatewayUnitOfWork(self._rt.engine) as uow:
            await keys.unlock(uow, hold, self._rt.clock())
            await uow.commit()

    async def _run(
        self,
        operation: str,
        request_id: str,
        fields: Mapping[str, object],
        req: Mutation,
        render: RenderPayment,
    ) -> Answer[PaymentView]:
        keys.check_request_id(request_id, required=False)
        key = request_id or self._rt.new_id("gen")
        fp = idem.fingerprint(operation, fields)
        opened = await keys.open_key(self._rt, req.merchant_id, key, operation, fp)
        if isinstance(opened, Replayed):
            return Answer(opened.response, replayed=True)
        hold = await self._advance(opened, req)
        return await finish_payment(self._rt, hold, render)

    async def _advance(self, hold: KeyHold, req: Mutation | None) -> KeyHold:
        """Phases b to d from the key's recovery point."""
        if hold.point is RecoveryPoint.STARTED:
            assert req is not None
            hold, payment, attempt = await self.start(hold, req)
            tried = await self._call(payment, attempt)
            return await self._apply(hold, payment.id, attempt, tried, req.actor_key_id)
        if hold.point is RecoveryPoint.PAYMENT_CREATED:
            hold, payment, pending = await self._retake(hold)
            if pending is None or pending.outcome is not Outcome.PENDING:
                return await self._apply(hold, payment.id, None, None, "")
            tried = await self._call(payment, pending)
            actor = req.actor_key_id if req is not None else ""
            return await self._apply(hold, payment.id, pending, tried, actor)
        return hold

    async def start(self, hold: KeyHold, req: Mutation) -> tuple[KeyHold, Payment, Attempt]:
        """Phase b (see the module docstring); a refusal drops the key and is raised."""
        op = _OPERATIONS[hold.operation]

        async def phase(
            uow: GatewayUnitOfWork, payment: Payment
        ) -> tuple[KeyHold, Payment, Attempt]:
            amount = self._check(op, payment, req.amount_minor)
            attempt = self._attempt(op, payment, amount)
            now = self._rt.clock()
            await uow.attempts.add(attempt, req.merchant_id, hold.record.key)
            started = await keys.advance(
                uow, hold, RecoveryPoint.PAYMENT_CREATED, now, payment_id=payment.id
            )
            await uow.commit()
            return started, payment, attempt

        try:
            return await leased(self._rt, req.payment_id, hold.holder, phase,
                                merchant_id=req.merchant_id)  # fmt: skip
        except GatewayError:
            await keys.drop(self._rt, hold)
            raise

    def _check_provider_can(self, op: Operation, payment: Payment, amount: int) -> None:
        """Refuse, before any call, what the payment's provider cannot do at all (Razorpay
        has no void and captures only the full authorization): FAILED_PRECONDITION, not the
        503 a provider refusal would give, because retrying can never succeed."""
        caps = self._rt.routing.capabilities.get(payment.provider) if payment.provider else None
        if caps is None:
            return
        if op is Operation.CANCEL and not caps.supports(Feature.VOID):
            raise PaymentNotCancelable(
                f"payment {payment.id}'s provider {caps.provider.value} cannot void an"
                " authorization; it releases uncaptured funds itself",
                metadata={**payment.error_metadata(), "provider": caps.provider.value},
            )
        partial = amount < payment.authorized_minor
        if op is Operation.CAPTURE and partial and not caps.supports(Feature.PARTIAL_CAPTURE):
            raise PartialCaptureUnsupported(
                f"payment {payment.id}'s provider {caps.provider.value} captures only the full"
                f" authorized amount ({payment.authorized_minor})",
                metadata={**payment.error_metadata(), "provider": caps.provider.value},
            )

    def _check(self, op: Operation, payment: Payment, amount_minor: int | None) -> int:
        if op is Operation.CAPTURE:
            amount = payment.ensure_capturable(amount_minor)
        else:
            payment.ensure_cancelable()
            amount = payment.authorized_minor or payment.amount_minor
            if payment.status is PaymentStatus.CREATED or not payment.provider_ref:
                # Its authorization never came back: the provider may hold funds we cannot
                # name, so nothing can be voided until the reconciler has asked.
                raise PaymentOutcomeUnknown(
                    f"payment {payment.id} is {payment.status.value}: its authorization's"
                    " outcome is not known yet",
                    metadata=payment.error_metadata(),
                )
        self._check_provider_can(op, payment, amount)
        if payment.provider is None or payment.provider not in self._rt.providers:
            raise ProviderUnavailable(
                f"payment {payment.id}'s provider is not configured here",
                metadata=payment.error_metadata(),
            )
        return amount

    def _attempt(self, op: Operation, payment: Payment, amount: int) -> Attempt:
        assert payment.provider is not None
        attempt_id = self._rt.new_id("att")
        return Attempt(
            id=attempt_id,
            payment_id=payment.id,
            operation=op,
            provider=payment.provider,
            idempotency_key=attempt_id,
            request=RequestSummary(amount, payment.currency, payment.method),
            routing=None,
            started_at=self._rt.clock(),
        )

    async def _retake(self, hold: KeyHold) -> tuple[KeyHold, Payment, Attempt | None]:
        payment_id = hold.record.payment_id
        assert payment_id is not None, hold
        op = _OPERATIONS[hold.operation]

        async def take(
            uow: GatewayUnitOfWork, payment: Payment
        ) -> tuple[KeyHold, Payment, Attempt | None]:
            attempt = await uow.attempts.latest(payment.id, op)
            taken = await keys.refresh(uow, hold, self._rt.clock())
            await uow.commit()
            return taken, payment, attempt

        return await leased(self._rt, payment_id, hold.holder, take, merchant_id=None)

    async def _call(self, payment: Payment, attempt: Attempt) -> Tried[ProviderCharge]:
        """Phase c."""
        adapter = self._rt.providers[attempt.provider]
        charge, key = charge_view(payment), attempt.idempotency_key
        if attempt.operation is Operation.CAPTURE:
            amount = attempt.request.amount_minor
            return await self._executor.run(
                adapter, "capture", lambda p: p.capture(charge, amount, payment.currency, key)
            )
        return await self._executor.run(adapter, "cancel", lambda p: p.cancel(charge, key))

    async def _apply(
        self,
        hold: KeyHold,
        payment_id: str,
        attempt: Attempt | None,
        tried: Tried[ProviderCharge] | None,
        actor_key_id: str,
    ) -> KeyHold:
        """Phase d; raises PROVIDER_UNAVAILABLE (key dropped) when nothing could be done."""
        rt, now = self._rt, self._rt.clock()
        error: GatewayError | None = None
        async with GatewayUnitOfWork(rt.engine) as uow:
            payment = await uow.payments.get_any(payment_id)
            assert payment is not None, payment_id
            read = payment.version
            events: list[PaymentEvent] = []
            if attempt is not None and tried is not None:
                events, error = _settle(payment, attempt, tried, now)
                await uow.attempts.save(finished(attempt, tried, now), tried.tries_json())
            if payment.version != read:
                await uow.payments.update(payment, read)
            await schedule_payment_check(uow, rt, payment, now)
            await enqueue_events(uow, payment, events, now, fees=rt.fees, routing=rt.routing)
            if attempt is not None:
                note = _note(hold, payment, attempt, actor_key_id, error)
                await enqueue_audit(uow, note, payment.id, now)
            await uow.payments.release_lease(payment.id, hold.holder)
            if error is not None:
                await uow.keys.delete(hold.record)
            else:
                hold = await keys.advance(uow, hold, RecoveryPoint.PROVIDER_CALLED, now)
            await uow.commit()
        rt.kick()
        if error is not None:
            raise error
        return hold


def _settle(
    payment: Payment, attempt: Attempt, tried: Tried[ProviderCharge], now: datetime
) -> tuple[list[PaymentEvent], GatewayError | None]:
    """The payment after the call, or the error to answer when nothing changed."""
    if tried.step is Step.DONE and tried.value is not None:
        try:
            return payment.apply_provider_view(tried.value, now, attempt.provider), None
        except ProviderViewConflict as exc:
            _log.error("provider view conflicts with payment %s: %s", payment.id, exc)
            return to_unknown(payment, now), None
    if tried.step is Step.UNKNOWN:
        return to_unknown(payment, now), None
    e = tried.error
    return [], ProviderUnavailable(
        f"{attempt.provider.value} could not {attempt.operation.value} payment {payment.id}:"
        f" {e.message if e else 'no answer'}; nothing changed, retry with the same request_id",
        metadata={
            **payment.error_metadata(),
            "provider": attempt.provider.value,
            "provider_code": e.code.value if e else "",
        },
    )


def _note(
    hold: KeyHold, payment: Payment, attempt: Attempt, actor: str, error: GatewayError | None
) -> AuditNote:
    action = _ACTIONS[attempt.operation]
    return AuditNote(
        event_id=event_id(hold.record.merchant_id, hold.record.key, action, attempt.id),
        action=action,
        merchant_id=payment.merchant_id,
        target=f"payments/{payment.id}",
        actor_kind="api_key" if actor else "service",
        actor_id=actor or GATEWAY_ACTOR,
        request_id=hold.record.key,
        failed_reason=error.reason if error is not None else "",
        details=payment_details(payment),
    )
