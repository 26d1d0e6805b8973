"""CreatePayment in atomic phases with recovery points (reliability.md, Brandur Leach).

    validate             nothing stored: a refused request may be fixed and sent again
    a  open the key      New / Replay / InFlight (ABORTED) / Mismatch / Resume
    b  STARTED           route; payment CREATED + first attempt PENDING, leased; commit
                         -> PAYMENT_CREATED (before any provider call)
    c  (no transaction)  authorize, retry, fail over (``authorize_step``)
    d  PAYMENT_CREATED   apply the answer; finish the attempt; outbox: ledger postings and
                         the audit record; release the lease; commit -> PROVIDER_CALLED
    e  PROVIDER_CALLED   render the response, store it; commit -> FINISHED
                         (a request that ran b to d itself does d and e in one commit)

A request resumed at PAYMENT_CREATED (its first run died mid-call) asks the provider with
``lookup`` before sending anything again, which is what keeps "gateway killed mid-payment,
then a retry" to one charge. The completer resumes the same way without the merchant's
request (``resume``, command None): it cannot send the card again, so a lookup that finds
nothing fails the payment instead (nothing was charged).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.attempts import Attempt, Operation, Outcome, RoutingRecord
from gateway_svc.domain.errors import GatewayError, NoProviderAvailable, ProviderViewConflict
from gateway_svc.domain.events import PaymentEvent
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import Decline, DeclineCode, ErrorKind, ProviderError
from gateway_svc.domain.validation import NewPayment, check_new_payment, open_payment

from . import keys
from .authorize_step import AuthResult, authorize, look_up, new_attempt
from .choosing import Choice, choose
from .commands import Answer, CreatePayment, PaymentView, RenderPayment
from .effects import AuditNote, audit_item, event_items, payment_details
from .executor import Executor, Step
from .finishing import GATEWAY_ACTOR, event_id, finish_in, finish_payment, leave_for_retry
from .keys import KeyHold, Replayed
from .leases import leased
from .runtime import GatewayRuntime
from .scheduling import first_check_at, to_unknown
from .unit_of_work import GatewayUnitOfWork
from .webhook_emit import emit_payment_events

_log = logging.getLogger(__name__)
ACTION = "gateway.payment.create"


def new_payment(cmd: CreatePayment) -> NewPayment:
    """The domain's request value of a command."""
    return NewPayment(
        merchant_id=cmd.merchant_id,
        amount_minor=cmd.amount_minor,
        currency=cmd.currency,
        method=cmd.method,
        capture_method=cmd.capture_method,
        merchant_reference=cmd.merchant_reference,
        description=cmd.description,
        metadata=cmd.metadata,
    )


def create_fingerprint(cmd: CreatePayment) -> str:
    """The request's fingerprint: every field that changes what is done, the card as its
    summary only (brand, last four, expiry), never its number or CVC."""
    card = cmd.method.card
    method: dict[str, object] = {"token": cmd.method.token}
    if card is not None:
        method["card"] = {"last4": card.last4, "exp_month": card.exp_month,
                          "exp_year": card.exp_year}  # fmt: skip
    return idem.fingerprint(
        keys.CREATE,
        {
            "amount_minor": cmd.amount_minor,
            "currency": cmd.currency,
            "method": method,
            "capture_method": cmd.capture_method,
            "preferred_provider": cmd.preferred_provider,
            "merchant_reference": cmd.merchant_reference,
            "description": cmd.description,
            "metadata": dict(cmd.metadata),
        },
    )


def create_error(payment: Payment) -> GatewayError | None:
    """The error a create's stored state stands for: no provider took the payment."""
    decline = payment.decline
    if (
        payment.status is PaymentStatus.FAILED
        and decline is not None
        and decline.code is DeclineCode.PROVIDER_UNAVAILABLE
    ):
        return NoProviderAvailable(
            f"no provider could take payment {payment.id}; nothing was charged",
            metadata={**payment.error_metadata(), "provider_message": decline.message},
        )
    return None


class CreatePaymentFlow:
    """CreatePayment and its resumption; one per process."""

    def __init__(self, rt: GatewayRuntime, executor: Executor) -> None:
        self._rt = rt
        self._executor = executor
        self._running: set[asyncio.Task[Answer[PaymentView]]] = set()

    async def __call__(self, cmd: CreatePayment, render: RenderPayment) -> Answer[PaymentView]:
        """Validate, then run or resume the phases, or replay; see the module docstring.

        Once validated, the phases run in their own task, shielded from the caller's
        cancellation: a client that disconnects (gRPC cancels the handler) must not leave
        the payment CREATED and its key locked for the lock timeout with a charge possibly
        made. The task runs to the end and stores the response, so the retry replays it.
        """
        check_new_payment(new_payment(cmd), self._rt.clock().date())
        keys.check_request_id(cmd.request_id, required=True)
        task = asyncio.get_running_loop().create_task(self._run(cmd, render))
        self._running.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._running.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_log_orphan)
            raise

    async def _run(self, cmd: CreatePayment, render: RenderPayment) -> Answer[PaymentView]:
        fingerprint = create_fingerprint(cmd)
        started = await self.start_new(cmd, fingerprint)
        if started is not None:
            hold, payment, attempt = started
            result = await authorize(
                self._rt, self._executor, hold, payment, attempt, cmd.method, resumed=False
            )
            # The payment's only attempt unless authorize made another (a failover).
            only = (result.attempt,) if result.attempt.id == attempt.id else None
            return await self.apply_and_finish(
                hold, payment, result, cmd.actor_key_id, render, attempts=only
            )
        opened = await keys.open_key(
            self._rt, cmd.merchant_id, cmd.request_id, keys.CREATE, fingerprint
        )
        if isinstance(opened, Replayed):
            return Answer(opened.response, replayed=True)
        hold = await self.advance_to_called(opened, cmd)
        return await finish_payment(self._rt, hold, render, create_error)

    async def start_new(
        self, cmd: CreatePayment, fingerprint: str
    ) -> tuple[KeyHold, Payment, Attempt] | None:
        """Phases a and b in one transaction for a key never seen (the usual case): the key
        goes in at PAYMENT_CREATED with the payment and its first attempt, one commit.

        None when the key exists (a retry, a twin): ``open_key`` decides then. The key is
        inserted first, so a concurrent twin waits on this transaction and then sees the
        key in flight. A routing refusal rolls everything back, which is what dropping a
        STARTED key did: nothing stored, the request_id free for a corrected request.
        """
        rt = self._rt
        now = rt.clock()
        payment = open_payment(new_payment(cmd), rt.new_id("pay"), now)
        record = idem.advance(
            idem.started(cmd.merchant_id, cmd.request_id, fingerprint, now),
            RecoveryPoint.PAYMENT_CREATED,
            now,
            payment.id,
        )
        hold = KeyHold(record, keys.CREATE)
        async with GatewayUnitOfWork(rt.engine) as uow:
            if not await uow.keys.insert(record, keys.CREATE):
                return None
            choice = choose(rt, cmd.merchant_id, cmd.currency, cmd.method, cmd.preferred_provider)
            routing = RoutingRecord.of(choice, self._first_admitted(choice))
            attempt = new_attempt(rt, payment, routing)
            await uow.payments.add(
                payment, lease_key=hold.holder, lease_until=now + rt.lock_timeout
            )
            await uow.attempts.add(attempt, cmd.merchant_id, cmd.request_id, first=True)
            await uow.commit()
        return hold, payment, attempt

    async def resume(self, hold: KeyHold) -> None:
        """The completer's resumption of an abandoned key (no command, no render)."""
        if hold.point is RecoveryPoint.STARTED:
            await keys.drop(self._rt, hold)  # nothing was created: the retry starts afresh
            return
        hold = await self.advance_to_called(hold, None)
        await leave_for_retry(self._rt, hold)

    async def advance_to_called(self, hold: KeyHold, cmd: CreatePayment | None) -> KeyHold:
        """Run phases b to d from the key's recovery point; the key ends at PROVIDER_CALLED."""
        if hold.point is RecoveryPoint.STARTED:
            assert cmd is not None
            hold, payment, attempt = await self.start(hold, cmd)
            result = await authorize(
                self._rt, self._executor, hold, payment, attempt, cmd.method, resumed=False
            )
            return await self.apply(hold, payment.id, result, cmd.actor_key_id)
        if hold.point is RecoveryPoint.PAYMENT_CREATED:
            return await self._recover(hold, cmd)
        return hold

    async def start(self, hold: KeyHold, cmd: CreatePayment) -> tuple[KeyHold, Payment, Attempt]:
        """Phase b: route, create the payment and its first attempt, commit."""
        rt = self._rt
        try:
            choice = choose(rt, cmd.merchant_id, cmd.currency, cmd.method, cmd.preferred_provider)
            position = self._first_admitted(choice)
        except GatewayError:
            await keys.drop(rt, hold)
            raise
        now = rt.clock()
        payment = open_payment(new_payment(cmd), rt.new_id("pay"), now)
        attempt = new_attempt(rt, payment, RoutingRecord.of(choice, position))
        async with GatewayUnitOfWork(rt.engine) as uow:
            await uow.payments.add(
                payment, lease_key=hold.holder, lease_until=now + rt.lock_timeout
            )
            await uow.attempts.add(attempt, cmd.merchant_id, cmd.request_id)
            hold = await keys.advance(
                uow, hold, RecoveryPoint.PAYMENT_CREATED, now, payment_id=payment.id
            )
            await uow.commit()
        return hold, payment, attempt

    def _first_admitted(self, choice: Choice) -> int:
        for position, provider in enumerate(choice.candidates):
            probe = choice.all_open and position == 0
            if self._executor.admit(self._rt.providers[provider], probe=probe):
                return position
        raise NoProviderAvailable(
            "every candidate provider's circuit is open; nothing was sent",
            metadata={"rule_id": choice.rule_id},
        )

    async def _recover(self, hold: KeyHold, cmd: CreatePayment | None) -> KeyHold:
        """Resume at PAYMENT_CREATED: settle the pending attempt, then phase d."""
        payment_id = hold.record.payment_id
        assert payment_id is not None, hold

        async def take(
            uow: GatewayUnitOfWork, payment: Payment
        ) -> tuple[KeyHold, Payment, Attempt | None]:
            attempt = await uow.attempts.latest(payment.id, Operation.AUTHORIZE)
            taken = await keys.refresh(uow, hold, self._rt.clock())
            await uow.commit()
            return taken, payment, attempt

        hold, payment, attempt = await leased(
            self._rt, payment_id, hold.holder, take, merchant_id=None
        )
        result: AuthResult | None = None
        if attempt is not None and attempt.outcome is Outcome.PENDING:
            if cmd is not None:
                result = await authorize(
                    self._rt, self._executor, hold, payment, attempt, cmd.method, resumed=True
                )
            else:
                result = await self._look_up_only(hold, payment, attempt)
        actor = cmd.actor_key_id if cmd is not None else ""
        return await self.apply(hold, payment_id, result, actor)

    async def _look_up_only(self, hold: KeyHold, payment: Payment, attempt: Attempt) -> AuthResult:
        found = await look_up(self._rt, self._executor, payment, attempt)
        if found is not None:
            return found
        abandoned = ProviderError(
            ErrorKind.RETRIABLE,
            DeclineCode.PROVIDER_UNAVAILABLE,
            "abandoned: the gateway stopped before the provider was reached",
            sent=False,
        )
        done = attempt.finish_with_error(abandoned, self._rt.clock(), 0)
        return AuthResult(done, Step.FAILED, None, abandoned, [], hold)

    async def apply(
        self, hold: KeyHold, payment_id: str, result: AuthResult | None, actor_key_id: str
    ) -> KeyHold:
        """Phase d: the provider's answer into the payment, the outbox, the key."""
        now = self._rt.clock()
        async with GatewayUnitOfWork(self._rt.engine) as uow:
            hold = await self._settle(uow, hold, payment_id, result, actor_key_id, now)
            hold = await keys.advance(uow, hold, RecoveryPoint.PROVIDER_CALLED, now)
            await uow.commit()
        self._rt.kick()
        return hold

    async def apply_and_finish(
        self,
        hold: KeyHold,
        payment: Payment,
        result: AuthResult,
        actor_key_id: str,
        render: RenderPayment,
        attempts: tuple[Attempt, ...] | None = None,
    ) -> Answer[PaymentView]:
        """Phases d and e in one transaction, when the request itself has the answer: the
        key goes from PAYMENT_CREATED straight to FINISHED with the response rendered from
        what this transaction wrote. Nothing external happens between the two phases, so a
        crash before the commit resumes at PAYMENT_CREATED exactly as with two commits.

        ``payment`` is the one ``start_new`` wrote, not read again: the request holds its
        lease, and the version check of the settling write refuses it if anything else
        wrote the payment meanwhile. ``attempts``, when the caller knows them all (this
        request made every attempt of the payment), are rendered without reading them back."""
        now = self._rt.clock()
        async with GatewayUnitOfWork(self._rt.engine) as uow:
            hold = await self._settle(uow, hold, payment, result, actor_key_id, now)
            answer = await finish_in(
                uow, hold, render, create_error, now, payment=payment, attempts=attempts
            )
            await uow.commit()
        self._rt.kick()
        return answer

    async def _settle(
        self,
        uow: GatewayUnitOfWork,
        hold: KeyHold,
        payment: Payment | str,
        result: AuthResult | None,
        actor_key_id: str,
        now: datetime,
    ) -> KeyHold:
        """Phase d's writes but the key's: payment, attempt, outbox, lease; the key as held.

        ``payment``: the payment as this request wrote it, or its id (read here)."""
        rt = self._rt
        hold = result.hold if result is not None and result.hold is not None else hold
        if isinstance(payment, str):
            found = await uow.payments.get_any(payment)
            assert found is not None, payment
            payment = found
        read = payment.version
        events = settle_authorization(payment, result, now)
        if result is not None:
            await uow.attempts.save(result.attempt, result.tries)
        await uow.payments.settle(
            payment, read, holder=hold.holder, next_check_at=first_check_at(rt, payment, now)
        )
        items = event_items(payment, events, fees=rt.fees, routing=rt.routing)
        items.append(audit_item(_note(hold, payment, actor_key_id), payment.id, now))
        await uow.outbox.enqueue_many(items, now)
        await emit_payment_events(uow, payment, events)
        return hold


def _log_orphan(task: asyncio.Task[Answer[PaymentView]]) -> None:
    """Report how a create whose caller left ended (nobody else will: the retry replays
    the stored response or resumes from the stored recovery point)."""
    if task.cancelled():
        _log.warning("a create whose caller left was cancelled (shutdown); a retry resumes it")
        return
    error = task.exception()
    if error is not None and not isinstance(error, GatewayError):
        _log.error("a create whose caller left failed", exc_info=error)


def settle_authorization(
    payment: Payment, result: AuthResult | None, now: datetime
) -> list[PaymentEvent]:
    """The payment after phase c's outcome (pure apart from logging)."""
    if result is None or (payment.is_final and result.step is not Step.DONE):
        return []
    if result.step is Step.DONE and result.charge is not None:
        try:
            return payment.apply_provider_view(result.charge, now, result.attempt.provider)
        except ProviderViewConflict as exc:
            _log.error("provider view conflicts with payment %s: %s", payment.id, exc)
            return to_unknown(payment, now)
    if result.step is Step.UNKNOWN:
        return to_unknown(payment, now)
    error = result.error
    message = error.message if error is not None else "no provider could take the payment"
    decline = Decline(
        DeclineCode.PROVIDER_UNAVAILABLE, message[:255], error.raw_code if error else ""
    )
    return payment.fail(decline, now)


def _note(hold: KeyHold, payment: Payment, actor_key_id: str) -> AuditNote:
    failed = payment.status is PaymentStatus.FAILED and payment.decline is not None
    return AuditNote(
        event_id=event_id(hold.record.merchant_id, hold.record.key, ACTION, payment.id),
        action=ACTION,
        merchant_id=payment.merchant_id,
        target=f"payments/{payment.id}",
        actor_kind="api_key" if actor_key_id else "service",
        actor_id=actor_key_id or GATEWAY_ACTOR,
        request_id=hold.record.key,
        failed_reason=payment.decline.code.value.upper() if failed and payment.decline else "",
        details=payment_details(payment),
    )
