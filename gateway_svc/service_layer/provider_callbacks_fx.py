"""Currencycloud's callbacks applied to conversions and payouts, by the status poller's rules.

A notification (``conversion_completed``, ``payment_completed``, ``payment_failed``) is taken
as word that the object changed: the conversion or payment is read from the provider
(``get_conversion`` / ``get_payment``, through the FX caller's retries, as the poller reads
it) and followed with the domain's ``apply_provider_view``, whose transitions
``fx_effects`` turns into postings and merchant events: the very transitions the status
poller makes (``fx_poller``). Reading the provider, rather than trusting the body, means a
notification can never move an object to a state the provider does not hold, and a late
one (the poller got there first) restates nothing. A final object is left as it is.

The object is found by the provider's id (the ``provider_ref`` column), else by our id inside
the ``unique_request_id`` we created it with (``paymesh-conversion-<id>``,
``paymesh-payment-<id>``), for one whose create reply never arrived. None of ours: IGNORED,
200. No answer from the provider: 503, kept as FAILED for the provider's retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Protocol, TypeVar

from gateway_svc.domain.errors import ProviderUnavailable, ProviderViewConflict
from gateway_svc.domain.fx_provider import ConversionView, PayoutView
from gateway_svc.domain.provider_webhooks import EventKind, ProviderEvent

from .fx_calls import PROVIDER, FxCaller, FxStep, FxTried
from .fx_effects import (
    conversion_details,
    enqueue_conversion_changes,
    enqueue_payout_changes,
    payout_details,
)
from .fx_uow import FxUnitOfWork
from .provider_callbacks_record import Applied, CallbackUnitOfWork, Inbound, finish, ignore, record
from .runtime import GatewayRuntime

T = TypeVar("T")
_log = logging.getLogger(__name__)
NOT_OURS = "it names no conversion or payout of this gateway"
CONVERSION_PREFIX = "paymesh-conversion-"
PAYOUT_PREFIX = "paymesh-payment-"
"""How our ids appear in ``unique_request_id`` (``currencycloud_wire.provider_request_id``)."""


class FxCallbacks:
    """Applies Currencycloud's conversion and payout callbacks (see the module docstring)."""

    def __init__(self, rt: GatewayRuntime, caller: FxCaller) -> None:
        self._rt = rt
        self._caller = caller

    async def apply(self, inbound: Inbound) -> bool:
        """Apply one conversion or payout callback; True when it was a duplicate."""
        event = inbound.event
        conversion = event.kind is EventKind.CONVERSION_COMPLETED
        object_id = await self._resolve(event, conversion)
        if object_id is None:
            return await ignore(self._rt, inbound, NOT_OURS)
        ref = event.object_reference
        if conversion:
            tried_c = await self._caller.run("get_conversion", lambda p: p.get_conversion(ref))
            return await self._conversion(inbound, object_id, _answer(tried_c, ref))
        tried_p = await self._caller.run("get_payment", lambda p: p.get_payment(ref))
        return await self._payout(inbound, object_id, _answer(tried_p, ref))

    async def _resolve(self, event: ProviderEvent, conversion: bool) -> str | None:
        prefix = CONVERSION_PREFIX if conversion else PAYOUT_PREFIX
        reference = event.request_reference
        ours = reference.removeprefix(prefix) if reference.startswith(prefix) else ""
        async with CallbackUnitOfWork(self._rt.engine, read_only=True) as uow:
            refs = uow.object_refs
            if conversion:
                found = await refs.conversion_by_ref(event.object_reference)
                if found is None and ours and await uow.conversions.get_any(ours) is not None:
                    found = ours
                return found
            found = await refs.payout_by_ref(event.object_reference)
            if found is None and ours and await uow.payouts.get_any(ours) is not None:
                found = ours
            return found

    async def _conversion(self, inbound: Inbound, cid: str, view: ConversionView) -> bool:
        async def step(uow: FxUnitOfWork, now: datetime) -> Applied:
            c = await uow.conversions.get_any(cid)
            assert c is not None, cid
            apply = partial(c.apply_provider_view, view, now)
            changes, note = await _followed(c, apply, uow.conversions.update)
            await enqueue_conversion_changes(uow, c, changes, now)
            details = conversion_details(c)
            return Applied(bool(changes), f"conversions/{cid}", c.merchant_id, note, details)

        return await self._in_transaction(inbound, step)

    async def _payout(self, inbound: Inbound, pid: str, view: PayoutView) -> bool:
        async def step(uow: FxUnitOfWork, now: datetime) -> Applied:
            p = await uow.payouts.get_any(pid)
            assert p is not None, pid
            apply = partial(p.apply_provider_view, view, now)
            changes, note = await _followed(p, apply, uow.payouts.update)
            await enqueue_payout_changes(uow, p, changes, now)
            return Applied(bool(changes), f"payouts/{pid}", p.merchant_id, note, payout_details(p))

        return await self._in_transaction(inbound, step)

    async def _in_transaction(
        self, inbound: Inbound, step: Callable[[FxUnitOfWork, datetime], Awaitable[Applied]]
    ) -> bool:
        """Claim the callback, apply ``step`` and close the record, in one transaction; True
        for a duplicate."""
        rt, now = self._rt, self._rt.clock()
        async with FxUnitOfWork(rt.engine) as uow:
            if not await record(uow, inbound):
                return True
            await finish(uow, inbound, await step(uow, now), now)
            await uow.commit()
        rt.kick()
        return False


class _Followed(Protocol):
    """What a conversion and a payout share as objects that follow the provider's view."""

    @property
    def id(self) -> str: ...
    @property
    def provider_ref(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def status(self) -> StrEnum: ...
    @property
    def is_final(self) -> bool: ...


F = TypeVar("F", bound=_Followed)


async def _followed(
    obj: F, apply: Callable[[], list[T]], update: Callable[[F, int], Awaitable[None]]
) -> tuple[list[T], str]:
    """The transitions of following the provider's view (none for a final object, or one the
    view contradicts, which is logged for a person), the object written when it changed, and
    why nothing changed if nothing did."""
    read, known, status = obj.version, obj.provider_ref, obj.status.value
    if obj.is_final:
        return [], f"nothing new: {obj.id} is already {status}"
    try:
        changes = apply()
    except ProviderViewConflict as exc:
        _log.error("provider callback conflicts with %s: %s", obj.id, exc)
        return [], f"conflict: {exc}"
    if changes or obj.provider_ref != known:
        await update(obj, read)
    return changes, "" if changes else f"nothing new: {obj.id} is {status}"


def _answer(tried: FxTried[T], ref: str) -> T:
    """The provider's answer, or ProviderUnavailable (503: the provider retries)."""
    if tried.step is not FxStep.DONE or tried.value is None:
        raise ProviderUnavailable(
            f"{PROVIDER} could not be asked about {ref}: {tried.reason}",
            metadata={"provider": PROVIDER, "provider_ref": ref},
        )
    return tried.value
