"""How the relay applies one outbox payload: a ledger posting, or an audit record.

Ledger: the merchant's chart of accounts is opened before its first posting in a currency
(``ensure_accounts`` is idempotent; the opened codes are remembered in ``ledger_accounts``
so a restart does not ask again). A post or void names its hold by the hold's request id;
the hold's transaction id was remembered when the hold was created. If it was not yet (the
hold's item is delivered but its result not recorded), the item waits (``NotReady``).

Conversions and payouts: a multi-currency create (a conversion's two legs) sends each leg in
its own currency; a reverse names the posted transaction by its request id, like a post; a
payload marked ``fx`` opens the books' FX accounts (``fx_postings.fx_accounts``) with the
chart. Conversion and payout holds are placed by the use cases themselves, before the
provider call (``fx_holds``), and remembered there, so their post, void or reverse finds
the transaction id the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.audit_client import AuditActor, AuditEvent, AuditOutcome
from gateway_svc.adapters.ledger_client import NewTransaction
from gateway_svc.domain.fx_postings import (
    MultiCurrencyTransactionPlan,
    ReverseTransactionPlan,
    fx_accounts,
)
from gateway_svc.domain.ledger_accounts import AccountSpec, Books, chart_of_accounts
from gateway_svc.domain.postings import CreateTransactionPlan, PostTransactionPlan

from .ledger_payloads import payload_books, payload_opens_fx, payload_plan
from .ports import LedgerPort
from .unit_of_work import GatewayUnitOfWork


class NotReady(Exception):
    """The item depends on a result not recorded yet; try again shortly."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a delivery produced: the ledger transaction a create made (else empty)."""

    request_id: str = ""
    transaction_id: str = ""


class LedgerApplier:
    """Applies ledger payloads through a ``LedgerPort``."""

    def __init__(
        self, engine: AsyncEngine, ledger: LedgerPort, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._opened: set[tuple[Books, bool]] = set()

    async def apply(self, payload: Mapping[str, Any]) -> Delivered:
        """Send one posting; raises what the port raises, or NotReady."""
        plan = payload_plan(payload)
        if isinstance(plan, CreateTransactionPlan | MultiCurrencyTransactionPlan):
            await self._open(payload_books(payload), fx=payload_opens_fx(payload))
            return Delivered(plan.request_id, await self._create(plan))
        if isinstance(plan, ReverseTransactionPlan):
            posted = await self._hold(plan.original_request_id)
            reversal = await self._ledger.reverse(posted, request_id=plan.request_id)
            return Delivered(plan.request_id, reversal)
        hold = await self._hold(plan.hold_request_id)
        if isinstance(plan, PostTransactionPlan):
            await self._ledger.post(
                hold, request_id=plan.request_id, amount_minor=plan.amount_minor
            )
        else:
            await self._ledger.void(hold, request_id=plan.request_id)
        return Delivered()

    async def apply_creates(
        self, payloads: Sequence[Mapping[str, Any]]
    ) -> list[Delivered | Exception]:
        """Send many create payloads (``is_create``) in one CreateTransactions call; per
        payload, in order, what it produced or the exception it alone failed with.

        Each item stands alone (the ledger's INDEPENDENT mode), so one refused posting
        never holds back the others of a relay pass; their order in the call is the
        outbox's, so a payment's postings are recorded in the order they were written.
        """
        out: list[Delivered | Exception | None] = [None] * len(payloads)
        batch: list[tuple[int, CreateTransactionPlan | MultiCurrencyTransactionPlan]] = []
        for index, payload in enumerate(payloads):
            plan = payload_plan(payload)
            assert isinstance(plan, CreateTransactionPlan | MultiCurrencyTransactionPlan), plan
            try:
                await self._open(payload_books(payload), fx=payload_opens_fx(payload))
            except Exception as exc:  # noqa: BLE001 - the item's own failure, recorded
                out[index] = exc
                continue
            batch.append((index, plan))
        results: Sequence[str | Exception]
        try:
            results = await self._ledger.create_transactions([_new(p) for _, p in batch])
        except Exception as exc:  # noqa: BLE001 - every item of the call failed alike
            results = [exc] * len(batch)
        for (index, plan), result in zip(batch, results, strict=True):
            out[index] = (
                result if isinstance(result, Exception) else Delivered(plan.request_id, result)
            )
        return [item for item in out if item is not None]

    async def _create(self, plan: CreateTransactionPlan | MultiCurrencyTransactionPlan) -> str:
        """One CreateTransaction; its ledger id."""
        new = _new(plan)
        return await self._ledger.create_transaction(
            new.entries,
            request_id=new.request_id,
            pending=new.pending,
            pending_timeout_s=new.pending_timeout_s,
            external_ref=new.external_ref,
            metadata=new.metadata,
            description=new.description,
        )

    async def _hold(self, hold_request_id: str) -> str:
        async with GatewayUnitOfWork(self._engine, read_only=True) as uow:
            found = await uow.ledger_refs.transaction_id(hold_request_id)
        if found is None:
            raise NotReady(f"hold {hold_request_id} has no ledger transaction recorded yet")
        return found

    async def _open(self, books: Books, *, fx: bool) -> None:
        if (books, fx) in self._opened:
            return
        chart: tuple[AccountSpec, ...] = chart_of_accounts(books)
        if fx:
            chart += fx_accounts(books)
        async with GatewayUnitOfWork(self._engine, read_only=True) as uow:
            known = await uow.ledger_refs.known_accounts(spec.code for spec in chart)
        if len(known) < len(chart):
            ids = await self._ledger.ensure_accounts(chart)
            async with GatewayUnitOfWork(self._engine) as uow:
                await uow.ledger_refs.remember_accounts(ids, books.currency, self._clock())
                await uow.commit()
        self._opened.add((books, fx))


def is_create(payload: Mapping[str, Any]) -> bool:
    """Whether a ledger payload creates a transaction (and so may go in a batch call):
    posts, voids and reverses name an earlier transaction and go one by one."""
    plan = payload_plan(payload)
    return isinstance(plan, CreateTransactionPlan | MultiCurrencyTransactionPlan)


def _new(plan: CreateTransactionPlan | MultiCurrencyTransactionPlan) -> NewTransaction:
    return NewTransaction(
        entries=transaction_entries(plan),
        request_id=plan.request_id,
        pending=plan.pending,
        pending_timeout_s=(
            plan.pending_timeout_s if isinstance(plan, CreateTransactionPlan) else None
        ),
        external_ref=plan.external_ref,
        metadata=plan.metadata,
        description=plan.description,
    )


def transaction_entries(
    plan: CreateTransactionPlan | MultiCurrencyTransactionPlan,
) -> list[tuple[str, str, int, str]]:
    """A plan's legs as the port's ``(account_code, side, amount_minor, currency)`` entries."""
    if isinstance(plan, MultiCurrencyTransactionPlan):
        return [(g.account_code, g.side.value, g.amount_minor, g.currency) for g in plan.legs]
    return [(g.account_code, g.side.value, g.amount_minor, plan.currency) for g in plan.legs]


def audit_event(payload: Mapping[str, Any]) -> AuditEvent:
    """The audit client's event for an audit payload (``effects.enqueue_audit``)."""
    actor = payload["actor"]
    return AuditEvent(
        event_id=payload["event_id"],
        event_time=datetime.fromisoformat(payload["event_time"]),
        actor=AuditActor(actor["kind"], actor["id"], actor.get("merchant_id", "")),
        action=payload["action"],
        target=payload["target"],
        merchant_id=payload["merchant_id"],
        outcome=AuditOutcome(payload["outcome"]),
        reason=payload.get("reason", ""),
        request_id=payload.get("request_id", ""),
        details=dict(payload.get("details", {})),
    )
