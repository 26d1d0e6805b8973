"""The ledger hold of a conversion or payout, placed in the request before the provider call.

Why synchronous, unlike every other posting (which goes through the outbox): the hold is
the overdraft check. The merchant's payable carries the ledger's no-overdraft flag, so a
hold the balance cannot cover is refused by the ledger (LIMIT_EXCEEDED) under any
concurrency; only if the ledger has accepted it may the provider be asked to move money.
An outbox item would decide that too late, after the provider call.

``place_hold`` opens the accounts the plan needs (the chart and the FX accounts of each
currency, idempotently, remembered in ``ledger_accounts``), sends the plan with its
deterministic request id (so a resumed request, or one whose answer was lost, gets the same
transaction back and never holds twice), and remembers the transaction id, which the post,
void or reverse the outbox later delivers names it by. It answers:

- ``HoldPlaced``: the ledger holds the money;
- ``HoldDenied``: the ledger refused: INSUFFICIENT_FUNDS for LIMIT_EXCEEDED, HOLD_REFUSED for
  anything else (a closed account ...). Nothing is held; the provider is not called;
- ``HoldUnreachable``: the ledger did not answer; the hold may exist. The caller leaves its
  key for a retry (``release_for_retry``), whose repeat of the same request id settles it.

Failure reasons: a conversion or payout that fails records ``"<CODE>: <why>"`` as its
``failure_reason``, CODE one of ``FailureCode``, so its stored state alone says which error
its create answers (``failure_error``), for the first execution and a resumed one alike.

The refusals are the domain's ``InsufficientFunds`` (INSUFFICIENT_FUNDS) and
``LedgerUnavailable`` (LEDGER_UNAVAILABLE), plus one added here, on the domain tree's
``PreconditionFailed`` branch so the entrypoint's one table maps it without a change::

    PreconditionFailed
     +-- HoldRefused            HOLD_REFUSED: the ledger refused the hold for another reason
                                than the balance (a closed account ...); nothing was sent
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from gateway_svc.adapters.internal_rpc import UpstreamRefused, UpstreamUnavailable
from gateway_svc.domain.errors import (
    GatewayError,
    InsufficientFunds,
    LedgerUnavailable,
    PreconditionFailed,
    ProviderUnavailable,
)
from gateway_svc.domain.fx_postings import MultiCurrencyTransactionPlan, fx_accounts
from gateway_svc.domain.ledger_accounts import AccountSpec, Books, chart_of_accounts
from gateway_svc.domain.postings import CreateTransactionPlan

from .keys import KeyHold
from .ports import LedgerPort
from .relay_apply import transaction_entries
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
"""The ledger's reason for a debit beyond a no-overdraft account's balance."""


class HoldRefused(PreconditionFailed):
    """Raised (answered) when the ledger refused a conversion's or payout's hold for another
    reason than the balance (that is ``InsufficientFunds``); nothing was sent to the
    provider."""

    reason = "HOLD_REFUSED"


class FailureCode(StrEnum):
    """Why a conversion or payout failed, as its ``failure_reason`` begins."""

    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    HOLD_REFUSED = "HOLD_REFUSED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    """The provider could not be reached or would not act now; provably nothing happened."""
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    """The provider refused the request: the object is answered FAILED, like a decline."""
    PROVIDER_FAILED = "PROVIDER_FAILED"
    """The provider reported it failed (or closed it) later."""


def failure(code: FailureCode, why: str) -> str:
    """A ``failure_reason``: the code, then the explanation (capped)."""
    return f"{code.value}: {why}"[:500]


def failure_code(failure_reason: str) -> FailureCode:
    """The code a ``failure_reason`` begins with (PROVIDER_FAILED for the provider's own
    words, which a later status change records)."""
    code = failure_reason.partition(": ")[0]
    return FailureCode(code) if code in set(FailureCode) else FailureCode.PROVIDER_FAILED


def failure_error(failure_reason: str, metadata: Mapping[str, str]) -> GatewayError | None:
    """The error a create answers for an object that failed with ``failure_reason``; None
    when the object itself is the answer (a provider's refusal, like a decline)."""
    code, _, why = failure_reason.partition(": ")
    meta = dict(metadata)
    if code == FailureCode.INSUFFICIENT_FUNDS:
        return InsufficientFunds(f"insufficient funds: {why}", metadata=meta)
    if code == FailureCode.HOLD_REFUSED:
        return HoldRefused(f"the ledger refused the hold: {why}", metadata=meta)
    if code == FailureCode.PROVIDER_UNAVAILABLE:
        return ProviderUnavailable(
            f"the FX provider could not take it; nothing was sent or held: {why}", metadata=meta
        )
    return None


@dataclass(frozen=True, slots=True)
class HoldPlaced:
    """The ledger holds the money: ``transaction_id`` is the pending transaction."""

    transaction_id: str


@dataclass(frozen=True, slots=True)
class HoldDenied:
    """The ledger refused the hold (``code`` says why)."""

    code: FailureCode
    why: str

    @property
    def failure_reason(self) -> str:
        """The failed object's ``failure_reason``."""
        return failure(self.code, self.why)


@dataclass(frozen=True, slots=True)
class HoldUnreachable:
    """The ledger did not answer; the hold may or may not exist."""

    why: str


HoldResult = HoldPlaced | HoldDenied | HoldUnreachable


def _specs(books: Iterable[Books]) -> list[AccountSpec]:
    out: dict[str, AccountSpec] = {}
    for b in books:
        for spec in (*chart_of_accounts(b), *fx_accounts(b)):
            out.setdefault(spec.code, spec)
    return list(out.values())


async def _open(rt: GatewayRuntime, ledger: LedgerPort, books: Iterable[Books]) -> None:
    """Open (once per database) every account the hold's books need."""
    specs = _specs(books)
    async with GatewayUnitOfWork(rt.engine, read_only=True) as uow:
        known = await uow.ledger_refs.known_accounts(spec.code for spec in specs)
    missing = [spec for spec in specs if spec.code not in known]
    if not missing:
        return
    ids = await ledger.ensure_accounts(missing)
    currency = {spec.code: spec.currency for spec in missing}
    async with GatewayUnitOfWork(rt.engine) as uow:
        for code, account_id in ids.items():
            await uow.ledger_refs.remember_accounts({code: account_id}, currency[code], rt.clock())
        await uow.commit()


async def place_hold(
    rt: GatewayRuntime,
    ledger: LedgerPort,
    plan: CreateTransactionPlan | MultiCurrencyTransactionPlan,
    books: Iterable[Books],
) -> HoldResult:
    """Hold ``plan`` in the ledger now (see the module docstring)."""
    assert plan.pending, plan.request_id
    try:
        await _open(rt, ledger, books)
        transaction_id = await ledger.create_transaction(
            transaction_entries(plan),
            request_id=plan.request_id,
            pending=True,
            external_ref=plan.external_ref,
            metadata=plan.metadata,
            description=plan.description,
        )
    except UpstreamUnavailable as exc:
        return HoldUnreachable(exc.message)
    except UpstreamRefused as exc:
        if exc.reason == LIMIT_EXCEEDED:
            # The ledger's message names its accounts and flags: internals, not the merchant's.
            why = "the available balance in this currency does not cover the amount"
            return HoldDenied(FailureCode.INSUFFICIENT_FUNDS, why)
        return HoldDenied(FailureCode.HOLD_REFUSED, f"the ledger refused the hold ({exc.reason})")
    async with GatewayUnitOfWork(rt.engine) as uow:
        await uow.ledger_refs.remember_transaction(plan.request_id, transaction_id, rt.clock())
        await uow.commit()
    return HoldPlaced(transaction_id)


async def release_for_retry(rt: GatewayRuntime, hold: KeyHold, now: datetime) -> None:
    """Leave a key at its recovery point, locked as if long ago: the client's retry (or the
    completer) may take it over at once, instead of waiting out the lock timeout."""
    stale = replace(hold.record, locked_at=now - rt.lock_timeout)
    async with GatewayUnitOfWork(rt.engine) as uow:
        await uow.keys.save(stale, hold.record, now)
        await uow.commit()


def unreachable(result: HoldUnreachable, metadata: Mapping[str, str]) -> LedgerUnavailable:
    """The refusal for a hold whose ledger did not answer."""
    return LedgerUnavailable(
        f"the ledger did not answer; nothing was sent to the provider: {result.why}",
        metadata=dict(metadata),
    )
