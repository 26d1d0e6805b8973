"""A keyed mutation that executes in one transaction: replay it, or run it exactly once.

The payment, conversion, beneficiary and payout flows call providers, so their keys move
through recovery points (``keys``). A mutation with no foreign call needs only two phases:

    a  open the key        New / Replay / InFlight / Mismatch / Resume (``keys.open_key``)
    b  one transaction     the mutation's writes, its audit record, and the rendered
                           response stored with the key (FINISHED), committed together

So a key is either FINISHED with its response, or still STARTED with nothing written. A
refusal (or any error) raised during b rolls b back and forgets the key (``keys.drop``), so
the same request_id may carry a corrected request; a process that dies during b leaves the key
STARTED, and the completer's resumer (``drop_started``) forgets it once its lock times out.

A response that carries a secret (a webhook endpoint's signing secret, which the reply
returns once and a retry with the same key returns again) is stored sealed: ``seal``
encrypts the stored body, bound to the merchant and the key, and a replay opens it, so the
idempotency table holds no secret in the clear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gateway_svc.domain.idempotency import StoredResponse

from . import keys
from .commands import Answer
from .keys import KeyHold, Replayed
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

T = TypeVar("T")
_OK = 0


class ResponseSeal(Protocol):
    """Authenticated encryption of stored responses (``adapters.secret_box.SecretBox``)."""

    def seal(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """``plaintext`` encrypted, bound to ``associated_data``."""
        ...

    def open(self, blob: bytes, associated_data: bytes = b"") -> bytes:
        """The plaintext of a sealed blob; raises if it does not open."""
        ...


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """Who asks, under which key, for what: the key's scope and its fingerprint."""

    merchant_id: str
    request_id: str
    """The client's key; empty: one is generated, so the call runs once, unreplayable."""
    operation: str
    fingerprint: str


Execute = Callable[[GatewayUnitOfWork, KeyHold], Awaitable[T]]
Render = Callable[[T], StoredResponse]


async def run_once(
    rt: GatewayRuntime,
    request: KeyedRequest,
    execute: Execute[T],
    render: Render[T],
    seal: ResponseSeal | None = None,
) -> Answer[T]:
    """Replay the key's stored response, or ``execute`` the mutation in a unit of work and
    store ``render`` of its result with the key in that same unit (see the module
    docstring). Raises the key's refusals (IdempotencyKeyReused, IdempotencyKeyInUse,
    ValidationFailed for a malformed key) and whatever ``execute`` raises."""
    keys.check_request_id(request.request_id, required=False)
    key = request.request_id or rt.new_id("gen")
    opened = await keys.open_key(
        rt, request.merchant_id, key, request.operation, request.fingerprint
    )
    bound = f"idempotency/{request.merchant_id}/{key}".encode()
    if isinstance(opened, Replayed):
        return Answer(_opened(opened.response, seal, bound), replayed=True)
    try:
        async with GatewayUnitOfWork(rt.engine) as uow:
            result = await execute(uow, opened)
            response = render(result)
            await keys.finish(uow, opened, _sealed(response, seal, bound), rt.clock())
            await uow.commit()
    except Exception:
        # Nothing was committed: forget the key now rather than make the retry wait out
        # the lock (a refusal, a version conflict, a database error alike).
        await keys.drop(rt, opened)
        raise
    rt.kick()
    return Answer(response, result=result)


def _sealed(response: StoredResponse, seal: ResponseSeal | None, bound: bytes) -> StoredResponse:
    if seal is None or response.status_code != _OK:
        return response
    return StoredResponse(response.status_code, seal.seal(response.body, bound))


def _opened(response: StoredResponse, seal: ResponseSeal | None, bound: bytes) -> StoredResponse:
    if seal is None or response.status_code != _OK:
        return response
    return StoredResponse(response.status_code, seal.open(response.body, bound))


async def drop_started(rt: GatewayRuntime, hold: KeyHold) -> None:
    """The completer's resumer of a ``run_once`` operation: a key left unfinished never
    committed anything, so it is forgotten and the client's retry runs afresh."""
    await keys.drop(rt, hold)
