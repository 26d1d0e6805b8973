"""One mutation of a payment at a time: run a phase with the payment leased to the request.

A mutation spans several commits around a provider call, so no transaction (and no row lock)
can keep a second mutation out for its whole length. The payment's lease does: the phase
that starts a mutation takes it in the same transaction as its checks and writes, and the
phase that applies the provider's answer releases it. A second mutation of the same payment
(two captures sent at once) waits here until the first has finished, then runs its checks
against the state the first left (and is refused, PAYMENT_ALREADY_CAPTURED), or after
``lease_wait_s`` gives up with CONCURRENT_MODIFICATION. A lease outlives a crash by at most
the lock timeout, after which a resumed request (or the reconciler) takes it over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway_svc.domain.errors import ConcurrentModification, PaymentNotFound
from gateway_svc.domain.payments import Payment

from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

T = TypeVar("T")

Phase = Callable[[GatewayUnitOfWork, Payment], Awaitable[T]]


def not_found(payment_id: str) -> PaymentNotFound:
    """The answer for a payment that is missing or another merchant's: the same words."""
    return PaymentNotFound(f"no payment {payment_id!r}", metadata={"payment_id": payment_id})


async def leased(
    rt: GatewayRuntime,
    payment_id: str,
    holder: str,
    phase: Phase[T],
    *,
    merchant_id: str | None,
    wait_s: float | None = None,
) -> T:
    """Run ``phase`` in a unit of work where the payment is loaded and leased to ``holder``.

    ``phase`` commits (or raises, and nothing it wrote, the lease included, is kept).
    ``merchant_id`` scopes the read (None: the gateway's own workers). ``wait_s`` bounds the
    wait (default ``rt.lease_wait_s``; 0: one try, for workers that skip a busy payment).
    Raises PaymentNotFound, or ConcurrentModification when the lease stays taken too long.
    """
    deadline = time.monotonic() + (rt.lease_wait_s if wait_s is None else wait_s)
    while True:
        now = rt.clock()
        async with GatewayUnitOfWork(rt.engine) as uow:
            if merchant_id is None:
                payment = await uow.payments.get_any(payment_id)
            else:
                payment = await uow.payments.get(merchant_id, payment_id)
            if payment is None:
                raise not_found(payment_id)
            until = now + rt.lock_timeout
            if await uow.payments.take_lease(payment_id, holder, until, now):
                return await phase(uow, payment)
        # Real time on purpose: this waits for another request, not for a provider, and
        # must not depend on a test's frozen clock.
        if time.monotonic() >= deadline:
            raise ConcurrentModification(
                f"another operation on payment {payment_id} is still running; retry",
                metadata={"payment_id": payment_id},
            )
        await asyncio.sleep(rt.lease_poll_s)
