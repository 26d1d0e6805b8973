"""Expires pending transactions whose timeout has passed (the automatic void)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger_svc.domain.commands import ExpireTx
from ledger_svc.domain.model import Transaction, TxStatus

from .posting import PostingWriter
from .unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
BATCH = 500


async def sweep_once(
    engine: AsyncEngine,
    writer: PostingWriter,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Expire every due hold; returns how many expired.

    The engine re-checks each hold under the head lock, so a post or void that
    wins the race simply makes the expiry a no-op: a hold resolves exactly once.
    """
    expired = 0
    while True:
        async with UnitOfWork(engine, read_only=True) as uow:
            due = await uow.ledger.due_expiries(clock(), BATCH)
        if not due:
            return expired
        outcomes = await writer.submit([ExpireTx(i) for i in due], atomic=False)
        expired += sum(
            1 for o in outcomes if isinstance(o, Transaction) and o.status is TxStatus.EXPIRED
        )
        if len(due) < BATCH:
            return expired


async def run_sweeper(engine: AsyncEngine, writer: PostingWriter, interval_s: float) -> None:
    """Sweep forever, every ``interval_s``; errors are logged and the loop goes on."""
    while True:
        try:
            n = await sweep_once(engine, writer)
            if n:
                log.info("expired pending transactions", extra={"count": n})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("expiry sweep failed; will retry")
        await asyncio.sleep(interval_s)
