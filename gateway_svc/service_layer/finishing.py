"""The last phase of every keyed request: render the response once, store it, unlock the key.

From PROVIDER_CALLED nothing is left to do but answer, so a request resumed there runs only
this. The answer is rendered from the stored state (the payment and its attempts, or the
refund), which is why a resumed request and the original would answer the same thing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from gateway_svc.domain.attempts import Attempt
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.payments import Payment
from gateway_svc.domain.refunds import Refund

from . import keys
from .commands import Answer, PaymentView, RenderPayment, RenderRefund
from .keys import KeyHold
from .leases import not_found
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

GATEWAY_ACTOR = "spiffe://paymesh.local/gateway"
"""The actor of what the gateway does on its own (the reconciler): identity accepts a
service actor only with the caller's own SPIFFE id."""

ErrorOf = Callable[[Payment], GatewayError | None]


def event_id(*parts: str) -> str:
    """A deterministic audit event id (identity's rules: 1 to 40 of [A-Za-z0-9_-], not
    "aev_"): the same operation always gives the same id, so a redelivery records once."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"gwe_{digest[:32]}"


def no_error(payment: Payment) -> GatewayError | None:
    """For operations whose stored state never stands for an error."""
    del payment
    return None


async def load_view(
    uow: GatewayUnitOfWork,
    payment_id: str,
    payment: Payment | None = None,
    attempts: tuple[Attempt, ...] | None = None,
) -> PaymentView:
    """A payment and its attempts, read in ``uow`` (each only when not given: a phase that
    just wrote them passes them)."""
    if payment is None:
        payment = await uow.payments.get_any(payment_id)
    if payment is None:
        raise not_found(payment_id)
    if attempts is None:
        attempts = tuple(await uow.attempts.for_payment(payment_id))
    return PaymentView(payment, attempts)


async def finish_payment(
    rt: GatewayRuntime, hold: KeyHold, render: RenderPayment, error_of: ErrorOf = no_error
) -> Answer[PaymentView]:
    """Render the payment (or the error its state stands for), store it, finish the key."""
    async with GatewayUnitOfWork(rt.engine) as uow:
        answer = await finish_in(uow, hold, render, error_of, rt.clock())
        await uow.commit()
    return answer


async def finish_in(
    uow: GatewayUnitOfWork,
    hold: KeyHold,
    render: RenderPayment,
    error_of: ErrorOf,
    now: datetime,
    *,
    payment: Payment | None = None,
    attempts: tuple[Attempt, ...] | None = None,
) -> Answer[PaymentView]:
    """``finish_payment``'s writes in the caller's ``uow``: a phase that settles the payment
    may finish the key in its own transaction (one commit less), rendering what it wrote
    (``payment``, as written; its attempts are read back unless given)."""
    payment_id = hold.record.payment_id
    assert payment_id is not None, hold
    view = await load_view(uow, payment_id, payment, attempts)
    error = error_of(view.payment)
    response = render(error if error is not None else view)
    await keys.finish(uow, hold, response, now)
    return Answer(response, result=None if error else view, error=error)


async def finish_refund(rt: GatewayRuntime, hold: KeyHold, render: RenderRefund) -> Answer[Refund]:
    """Render the refund as it stands, store it, finish the key."""
    assert hold.refund_id is not None, hold
    async with GatewayUnitOfWork(rt.engine) as uow:
        refund = await uow.refunds.get(hold.record.merchant_id, hold.refund_id)
        assert refund is not None, hold
        response = render(refund)
        await keys.finish(uow, hold, response, rt.clock())
        await uow.commit()
    return Answer(response, result=refund)


async def leave_for_retry(rt: GatewayRuntime, hold: KeyHold) -> None:
    """Unlock a key at PROVIDER_CALLED without answering (no render at hand: the completer);
    the client's retry resumes at once and only renders."""
    async with GatewayUnitOfWork(rt.engine) as uow:
        await keys.unlock(uow, hold, rt.clock())
        await uow.commit()
