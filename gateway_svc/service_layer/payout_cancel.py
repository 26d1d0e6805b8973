"""CancelPayout: the provider cancels first, then the payout is CANCELED and its hold voided.

Keyed like the creates (``request_id`` optional), in the shortest form of the phases:

    a  open the key      New / Replay / InFlight / Mismatch / Resume
    b  STARTED           the merchant's payout, still PENDING here (PAYOUT_NOT_FOUND,
                         PAYOUT_NOT_CANCELABLE; refused: the key is forgotten, nothing stored)
    c  (no transaction)  cancel_payment at the provider (Currencycloud's delete)
    d  STARTED           CANCELED, the void of the hold in the outbox, audit, and the
                         rendered payout stored with the key, in one commit -> FINISHED

Nothing is recorded before the provider answered, so a request that dies at c leaves the key
at STARTED, which the completer simply forgets: the provider's own state is then the truth,
and the status poller, which keeps asking about every PENDING payout, brings it home (a
cancel that took effect becomes CANCELED and releases the hold there).

The provider refuses a payout it already sent to the bank network: the refusal is
PAYOUT_NOT_CANCELABLE, after the payout has caught up with the provider's state (SUBMITTED,
or whatever it is). A payout whose provider id is not known yet (its create's answer did not
arrive) cannot be named to the provider: CONCURRENT_MODIFICATION, retry once the poller has
found it. A provider that cannot answer now: PROVIDER_UNAVAILABLE, nothing changed here, and
the key is forgotten so the same request_id can try again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.errors import (
    ConcurrentModification,
    GatewayError,
    PayoutNotCancelable,
    PayoutNotFound,
    ProviderViewConflict,
)
from gateway_svc.domain.fx_provider import PayoutStatus, PayoutView
from gateway_svc.domain.payouts import Payout, PayoutState, PayoutTransition

from . import keys
from .commands import Answer
from .fx_calls import FxCaller, FxStep, unavailable
from .fx_commands import CancelPayout, RenderPayout
from .fx_effects import PollPolicy, audit, enqueue_payout_changes, payout_details
from .fx_uow import FxUnitOfWork
from .keys import KeyHold, Replayed
from .runtime import GatewayRuntime

_log = logging.getLogger(__name__)
CANCEL = "payouts.cancel"
ACTION = "gateway.payout.cancel"


def payout_not_found(payout_id: str) -> PayoutNotFound:
    """The answer for a payout that is missing or another merchant's: the same words."""
    return PayoutNotFound(f"payout {payout_id} not found", metadata={"payout_id": payout_id})


def settle_cancel(payout: Payout, view: PayoutView, now: datetime) -> list[PayoutTransition]:
    """The payout after the provider's answer to a cancel (or its latest view)."""
    if view.status is PayoutStatus.CANCELED and payout.status is PayoutState.PENDING:
        payout.provider_ref = payout.provider_ref or view.provider_ref
        return payout.cancel(now)
    try:
        return payout.apply_provider_view(view, now)
    except ProviderViewConflict as exc:
        _log.error("provider view conflicts with payout %s: %s", payout.id, exc)
        return []


class PayoutCancel:
    """CancelPayout; one per process."""

    def __init__(self, rt: GatewayRuntime, caller: FxCaller, poll: PollPolicy) -> None:
        self._rt = rt
        self._caller = caller
        self._poll = poll

    async def __call__(self, cmd: CancelPayout, render: RenderPayout) -> Answer[Payout]:
        """See the module docstring."""
        keys.check_request_id(cmd.request_id, required=False)
        key = cmd.request_id or self._rt.new_id("gen")
        fp = idem.fingerprint(CANCEL, {"payout_id": cmd.payout_id})
        opened = await keys.open_key(self._rt, cmd.merchant_id, key, CANCEL, fp)
        if isinstance(opened, Replayed):
            return Answer(opened.response, replayed=True)
        try:
            payout = await self._cancelable(cmd)
            view = await self._cancel_at_provider(payout)
        except GatewayError:
            await keys.drop(self._rt, opened)
            raise
        return await self._apply(opened, payout.id, view, cmd.actor_key_id, render)

    async def _cancelable(self, cmd: CancelPayout) -> Payout:
        """Phase b: the merchant's payout, cancelable as far as we know."""
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            payout = await uow.payouts.get(cmd.merchant_id, cmd.payout_id)
        if payout is None:
            raise payout_not_found(cmd.payout_id)
        payout.ensure_cancelable()
        if not payout.provider_ref:
            raise ConcurrentModification(
                f"payout {payout.id} is still being sent to the provider; retry shortly",
                metadata=payout.error_metadata(),
            )
        return payout

    async def _cancel_at_provider(self, payout: Payout) -> PayoutView:
        """Phase c: the provider's final view of the canceled payout, or a refusal."""
        ref = payout.provider_ref
        tried = await self._caller.run("cancel_payment", lambda p: p.cancel_payment(ref))
        if tried.step is FxStep.DONE and tried.value is not None:
            return tried.value
        if tried.step is not FxStep.REFUSED:
            raise unavailable("cancel the payout", tried.reason, payout.error_metadata())
        # Refused: most likely already sent. Catch up with the provider, then say so.
        latest = await self._caller.run("get_payment", lambda p: p.get_payment(ref))
        if latest.step is FxStep.DONE and latest.value is not None:
            if latest.value.status is PayoutStatus.CANCELED:
                return latest.value  # an earlier cancel of ours took effect
            await self._catch_up(payout.id, latest.value)
        raise PayoutNotCancelable(
            f"payout {payout.id} can no longer be canceled: {tried.reason}",
            metadata=payout.error_metadata(),
        )

    async def _catch_up(self, payout_id: str, view: PayoutView) -> None:
        """Apply the provider's latest view (no key involved; the poller's kind of write)."""
        now = self._rt.clock()
        async with FxUnitOfWork(self._rt.engine) as uow:
            payout = await uow.payouts.get_any(payout_id)
            assert payout is not None, payout_id
            read = payout.version
            changes = settle_cancel(payout, view, now)
            if not changes:
                return
            await uow.payouts.update(payout, read)
            at = None if payout.is_final else self._poll.next_at(now, 0)
            await uow.payouts.schedule_check(payout.id, at, 0)
            await enqueue_payout_changes(uow, payout, changes, now)
            await uow.commit()
        self._rt.kick()

    async def _apply(
        self,
        hold: KeyHold,
        payout_id: str,
        view: PayoutView,
        actor_key_id: str,
        render: RenderPayout,
    ) -> Answer[Payout]:
        """Phase d: CANCELED, the void, audit and the stored answer, in one commit."""
        rt, now = self._rt, self._rt.clock()
        async with FxUnitOfWork(rt.engine) as uow:
            payout = await uow.payouts.get_any(payout_id)
            assert payout is not None, payout_id
            read = payout.version
            changes = settle_cancel(payout, view, now)
            await uow.payouts.update(payout, read)
            at = None if payout.is_final else self._poll.next_at(now, 0)
            await uow.payouts.schedule_check(payout.id, at, 0)
            await enqueue_payout_changes(uow, payout, changes, now)
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
            )
            response = render(payout)
            await keys.finish(uow, hold, response, now)
            await uow.commit()
        rt.kick()
        return Answer(response, result=payout)
