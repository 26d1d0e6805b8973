"""Finance reports over the whole ledger: the trial balance and VerifyLedger."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger_svc.domain.audit import (
    ChainChecker,
    Discrepancy,
    DiscrepancyKind,
    compare_totals,
    sum_by_currency,
    zero_sum,
)
from ledger_svc.domain.model import AccountType, Totals

from .unit_of_work import UnitOfWork

MAX_REPORTED = 1000


@dataclass(frozen=True)
class CurrencyTrialBalance:
    """One currency's totals per account type and overall."""

    currency: str
    by_type: dict[AccountType, Totals]
    total: Totals

    @property
    def balanced(self) -> bool:
        """Double entry's promise: debits equal credits, posted and pending."""
        t = self.total
        return t.debits_posted == t.credits_posted and t.debits_pending == t.credits_pending


@dataclass(frozen=True)
class VerifyReport:
    """What VerifyLedger checked and every discrepancy it found (at most MAX_REPORTED)."""

    accounts_checked: int
    transactions_checked: int
    entries_checked: int
    discrepancies: list[Discrepancy]

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.discrepancies


async def trial_balance(engine: AsyncEngine) -> list[CurrencyTrialBalance]:
    """Per currency, in code order."""
    async with UnitOfWork(engine, read_only=True, snapshot=True) as uow:
        grouped = await uow.queries.totals_by_currency_and_type()
    out = []
    for currency in sorted(grouped):
        by_type = grouped[currency]
        total = Totals()
        for t in by_type.values():
            total = total.plus(t)
        out.append(CurrencyTrialBalance(currency, by_type, total))
    return out


async def verify(engine: AsyncEngine) -> VerifyReport:
    """Recompute totals, balance per event, zero sum per currency and the hash chain."""
    async with UnitOfWork(engine, read_only=True, snapshot=True) as uow:
        stored = await uow.verify.stored_totals()
        found = compare_totals(
            {k: v[1] for k, v in stored.items()}, await uow.queries.recomputed_totals()
        )
        found += zero_sum(sum_by_currency(stored))
        for sequence, currency, diff in await uow.verify.unbalanced_events():
            found.append(
                Discrepancy(
                    DiscrepancyKind.TRANSACTION_UNBALANCED,
                    str(sequence),
                    f"journal event {sequence}: {currency} debits minus credits is {diff}",
                )
            )
        checker = ChainChecker()
        async for ev in uow.verify.events():
            checker.check(
                sequence=ev.sequence,
                prev_hash=ev.prev_hash,
                stored_hash=ev.hash,
                content=ev.content,
                subject=ev.transaction_id,
            )
            if ev.transaction_hash_mismatch:
                found.append(
                    Discrepancy(
                        DiscrepancyKind.HASH_CHAIN_BROKEN,
                        ev.transaction_id,
                        f"transaction row disagrees with journal event {ev.sequence}",
                    )
                )
        found += checker.finish(*await uow.verify.head())
        n_tx, n_entries = await uow.verify.counts()
    return VerifyReport(len(stored), n_tx, n_entries, found[:MAX_REPORTED])
