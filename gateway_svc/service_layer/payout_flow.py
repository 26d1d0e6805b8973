"""CreatePayout in atomic phases with recovery points, like CreateConversion.

    a  open the key      New / Replay / InFlight (ABORTED) / Mismatch / Resume
    b  STARTED           the merchant's beneficiary (another's, a deleted or an unregistered
                         one: BENEFICIARY_NOT_FOUND / VALIDATION_FAILED; nothing stored),
                         ``open_payout`` (currency, payment type, precision, reason and
                         reference); the payout PENDING; commit -> PAYMENT_CREATED
    b' (no transaction)  the ledger hold on the merchant's balance, placed synchronously
                         (``fx_holds``): beyond the available balance the ledger refuses it
                         (INSUFFICIENT_FUNDS) and the provider is never called
    c  (no transaction)  create_payment, unique_request_id from the payout's id
    d  PAYMENT_CREATED   apply the answer (refused: FAILED, void the hold; no answer:
                         PENDING, the poller asks); the first status check; audit; commit
                         -> PROVIDER_CALLED
    e  PROVIDER_CALLED   render, store, finish

Resumption, refusals and the optional ``request_id`` work as for conversions
(``fx_conversions``): a client's retry repeats b', c and d safely (the same hold for the same
ledger request id, the same payment for the same unique_request_id); the completer only
settles (finds what the payout's id created, or fails it and releases the hold), never pays
on the client's behalf; PROVIDER_UNAVAILABLE fails the payout, releases the hold and forgets
the key so the same request_id can run again; LEDGER_UNAVAILABLE leaves the key for a retry.

From then on the status poller moves the payout: completed posts the hold and charges the
provider's fee, failed or canceled voids it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.errors import BeneficiaryNotFound, GatewayError, ProviderViewConflict
from gateway_svc.domain.fx_postings import plan_payout_hold
from gateway_svc.domain.fx_provider import PayoutView
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.ledger_accounts import Books
from gateway_svc.domain.payouts import Payout, PayoutState, PayoutTransition, open_payout
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

from . import keys
from .commands import Answer
from .finishing import leave_for_retry
from .fx_calls import FxCaller, FxStep, FxTried
from .fx_commands import CreatePayout, RenderPayout
from .fx_effects import PollPolicy, audit, enqueue_payout_changes, payout_details
from .fx_holds import (
    FailureCode,
    HoldDenied,
    HoldUnreachable,
    failure,
    failure_code,
    failure_error,
    place_hold,
    release_for_retry,
    unreachable,
)
from .fx_uow import FxUnitOfWork
from .keys import KeyHold, Replayed
from .ports import LedgerPort
from .runtime import GatewayRuntime
from .webhook_emit import emit_payout_changes

_log = logging.getLogger(__name__)
CREATE = "payouts.create"
ACTION = "gateway.payout.create"
Outcome = HoldDenied | FxTried[PayoutView] | None
ABANDONED = ProviderError(
    ErrorKind.RETRIABLE,
    DeclineCode.PROVIDER_UNAVAILABLE,
    "abandoned: the request stopped before the provider was reached",
    sent=False,
)


def payout_fingerprint(cmd: CreatePayout) -> str:
    """Every field that changes what the payout does."""
    p = cmd.payout
    return idem.fingerprint(
        CREATE,
        {
            "beneficiary_id": p.beneficiary_id,
            "amount_minor": p.amount_minor,
            "currency": p.currency,
            "reason": p.reason,
            "reference": p.reference,
            "payment_type": p.payment_type,
        },
    )


def settle_payout(payout: Payout, outcome: Outcome, now: datetime) -> list[PayoutTransition]:
    """The payout after phase b'/c's outcome (pure apart from logging)."""
    if outcome is None:
        return []
    if isinstance(outcome, HoldDenied):
        return payout.fail(outcome.failure_reason, now)
    if outcome.step is FxStep.DONE and outcome.value is not None:
        try:
            return payout.apply_provider_view(outcome.value, now)
        except ProviderViewConflict as exc:
            _log.error("provider view conflicts with payout %s: %s", payout.id, exc)
            return []
    if outcome.step is FxStep.REFUSED:
        return payout.fail(failure(FailureCode.PROVIDER_REJECTED, outcome.reason), now)
    if outcome.step is FxStep.UNAVAILABLE:
        return payout.fail(failure(FailureCode.PROVIDER_UNAVAILABLE, outcome.reason), now)
    return []  # UNKNOWN: still PENDING; the poller finds it by its id


def payout_error(payout: Payout) -> GatewayError | None:
    """The error a create's stored state stands for (refused before the provider had it);
    None when the payout itself is the answer."""
    if payout.status is not PayoutState.FAILED or payout.provider_ref:
        return None
    return failure_error(payout.failure_reason, payout.error_metadata())


class PayoutFlow:
    """CreatePayout and its resumption; one per process."""

    def __init__(
        self, rt: GatewayRuntime, caller: FxCaller, ledger: LedgerPort, poll: PollPolicy
    ) -> None:
        self._rt = rt
        self._caller = caller
        self._ledger = ledger
        self._poll = poll

    async def __call__(self, cmd: CreatePayout, render: RenderPayout) -> Answer[Payout]:
        """Run or resume the phases, or replay; see the module docstring."""
        keys.check_request_id(cmd.request_id, required=False)
        key = cmd.request_id or self._rt.new_id("gen")
        fp = payout_fingerprint(cmd)
        opened = await keys.open_key(self._rt, cmd.payout.merchant_id, key, CREATE, fp)
        if isinstance(opened, Replayed):
            return Answer(opened.response, replayed=True)
        hold = await self.advance(opened, cmd)
        if isinstance(hold, GatewayError):
            raise hold
        return await self.finish(hold, render)

    async def resume(self, hold: KeyHold) -> None:
        """The completer's resumption of an abandoned key."""
        if hold.point is RecoveryPoint.STARTED:
            await keys.drop(self._rt, hold)
            return
        settled = await self.advance(hold, None)
        if isinstance(settled, KeyHold):
            await leave_for_retry(self._rt, settled)

    async def advance(self, hold: KeyHold, cmd: CreatePayout | None) -> KeyHold | GatewayError:
        """Run phases b to d from the key's recovery point; the key ends at PROVIDER_CALLED,
        or is forgotten when the provider provably did nothing (then the error to raise)."""
        if hold.point is RecoveryPoint.STARTED:
            assert cmd is not None
            hold = await self.start(hold, cmd)
        if hold.point is RecoveryPoint.PAYMENT_CREATED:
            outcome = await self._execute(hold, send=cmd is not None)
            return await self._apply(hold, outcome, cmd.actor_key_id if cmd else "")
        return hold

    async def start(self, hold: KeyHold, cmd: CreatePayout) -> KeyHold:
        """Phase b (see the module docstring)."""
        rt, request = self._rt, cmd.payout
        try:
            async with FxUnitOfWork(rt.engine) as uow:
                beneficiary = await uow.beneficiaries.get(
                    request.merchant_id, request.beneficiary_id
                )
                if beneficiary is None:
                    raise BeneficiaryNotFound(
                        f"beneficiary {request.beneficiary_id} not found",
                        metadata={"beneficiary_id": request.beneficiary_id},
                    )
                payout = open_payout(request, beneficiary, rt.new_id("po"), rt.clock())
                await uow.payouts.add(payout)
                hold = await keys.advance(
                    uow, hold, RecoveryPoint.PAYMENT_CREATED, rt.clock(), payment_id=payout.id
                )
                await uow.commit()
        except GatewayError:
            await keys.drop(rt, hold)
            raise
        return hold

    async def _execute(self, hold: KeyHold, *, send: bool) -> Outcome:
        """Phases b' and c: the hold, then the provider (nothing when already settled);
        without ``send`` (no client) the provider is only asked what exists."""
        payout = await self._load(hold)
        if payout.status is not PayoutState.PENDING or payout.provider_ref:
            return None
        books = (Books(payout.merchant_id, payout.currency),)
        placed = await place_hold(self._rt, self._ledger, plan_payout_hold(payout), books)
        if isinstance(placed, HoldUnreachable):
            await release_for_retry(self._rt, hold, self._rt.clock())
            raise unreachable(placed, payout.error_metadata())
        if isinstance(placed, HoldDenied):
            return placed
        if not send:
            return await self._look_up(payout.id, payout.created_at)
        request = payout.request()
        return await self._caller.run(
            "create_payment", lambda p: p.create_payment(request, payout.id)
        )

    async def _look_up(self, payout_id: str, created_at: datetime) -> FxTried[PayoutView]:
        """What the provider made under the payout's id (see ``fx_conversions``)."""
        found = await self._caller.run("find_payment", lambda p: p.find_payment(payout_id))
        if found.step is not FxStep.DONE:
            return FxTried(FxStep.UNKNOWN, error=found.error)
        if found.value is None:
            if self._rt.clock() - created_at < self._rt.not_found_grace:
                # The provider's search may lag its writes: not found yet is not proof.
                return FxTried(FxStep.UNKNOWN, error=ABANDONED)
            return FxTried(FxStep.UNAVAILABLE, error=ABANDONED)
        return FxTried(FxStep.DONE, value=found.value)

    async def _load(self, hold: KeyHold) -> Payout:
        assert hold.record.payment_id is not None, hold
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            payout = await uow.payouts.get_any(hold.record.payment_id)
        assert payout is not None, hold
        return payout

    async def _apply(
        self, hold: KeyHold, outcome: Outcome, actor_key_id: str
    ) -> KeyHold | GatewayError:
        """Phase d (see the module docstring); the error to raise when the key was
        forgotten."""
        rt, now = self._rt, self._rt.clock()
        assert hold.record.payment_id is not None, hold
        forget = isinstance(outcome, FxTried) and outcome.step is FxStep.UNAVAILABLE
        async with FxUnitOfWork(rt.engine) as uow:
            payout = await uow.payouts.get_any(hold.record.payment_id)
            assert payout is not None, hold
            read = payout.version
            changes = settle_payout(payout, outcome, now)
            await uow.payouts.update(payout, read)
            at = None if payout.is_final else self._poll.next_at(now, 0)
            await uow.payouts.schedule_check(payout.id, at, 0)
            if isinstance(outcome, HoldDenied):
                # A refused hold has nothing to void, but the merchant still hears that the
                # payout failed (payout.failed), like any other failure.
                await emit_payout_changes(uow, payout, changes)
            else:
                await enqueue_payout_changes(uow, payout, changes, now)
            if outcome is not None:
                await _audit(uow, hold, payout, actor_key_id, now)
            error = payout_error(payout) if forget else None
            if error is not None:
                await uow.keys.delete(hold.record)
            else:
                hold = await keys.advance(uow, hold, RecoveryPoint.PROVIDER_CALLED, now)
            await uow.commit()
        rt.kick()
        return hold if error is None else error

    async def finish(self, hold: KeyHold, render: RenderPayout) -> Answer[Payout]:
        """Phase e: render the payout (or its error), store it, finish the key."""
        assert hold.record.payment_id is not None, hold
        async with FxUnitOfWork(self._rt.engine) as uow:
            payout = await uow.payouts.get_any(hold.record.payment_id)
            assert payout is not None, hold
            error = payout_error(payout)
            response = render(error if error is not None else payout)
            await keys.finish(uow, hold, response, self._rt.clock())
            await uow.commit()
        return Answer(response, result=None if error else payout, error=error)


async def _audit(
    uow: FxUnitOfWork, hold: KeyHold, payout: Payout, actor_key_id: str, now: datetime
) -> None:
    merchant, key = hold.record.merchant_id, hold.record.key
    await audit(
        uow,
        action=ACTION,
        merchant_id=payout.merchant_id,
        target=f"payouts/{payout.id}",
        actor_key_id=actor_key_id,
        event_parts=(merchant, key, ACTION, payout.id),
        details=payout_details(payout),
        now=now,
        request_id=key,
        failed_reason=failure_code(payout.failure_reason).value
        if payout.status is PayoutState.FAILED
        else "",
    )
