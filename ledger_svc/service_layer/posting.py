"""Group commit: one writer task turns queued write commands into few, large flushes.

One PostgreSQL commit costs about as much as a whole posting (ledger.md,
"Performance facts"), so committing each request on its own caps throughput
at a fraction of pgbench. Instead every write command goes onto a queue; one
writer task takes everything queued (up to ``max_items`` commands), decides it
with the PostingEngine under the head lock, writes it, and commits once.
Hot accounts cost nothing extra: each flush writes one summed update per
account.

A command refused by the engine fails only its own request. If a flush fails
for a reason that is not a refusal (a database error), the writer re-runs each
request on its own, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger_svc.domain.commands import Command, new_account_ids, target_id
from ledger_svc.domain.engine import PostingEngine
from ledger_svc.domain.errors import ConcurrentModification, LedgerError
from ledger_svc.domain.model import Transaction
from svc_kit.db import is_retryable, retrying
from svc_kit.tasks import cancel_and_wait

from .unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Outcome = Transaction | LedgerError


@dataclass
class _Request:
    commands: Sequence[Command]
    atomic: bool
    done: asyncio.Future[list[Outcome]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


async def flush(
    engine: AsyncEngine,
    requests: Sequence[tuple[Sequence[Command], bool]],
    new_id: Callable[[str], str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[list[Outcome]]:
    """Apply (commands, atomic) requests in one database transaction, with retries.

    Returns one list of outcomes per request: for an atomic request either all
    transactions or the single error repeated for every command.
    """

    async def attempt() -> list[list[Outcome]]:
        async with UnitOfWork(engine) as uow:
            cmds = [c for cs, _ in requests for c in cs]
            head, remembered, accounts = await uow.ledger.open_flush(
                (c.request_id for c in cmds), (a for c in cmds for a in new_account_ids(c))
            )
            now = clock()
            wanted = {i for c in cmds if (i := target_id(c))}
            wanted |= {r.result_id for r in remembered.values()}
            txs = await uow.ledger.transactions(wanted, lock=True)
            # Post, void and reverse move the totals of accounts only their target names.
            more = {e.account_id for tx in txs.values() for e in tx.entries} - accounts.keys()
            if more:
                accounts |= await uow.ledger.lock_accounts(more)
            posting = PostingEngine(
                head=head,
                accounts=accounts,
                transactions=txs,
                remembered=remembered,
                now=now,
                new_id=new_id,
            )
            outcomes = [_decide(posting, cs, atomic) for cs, atomic in requests]
            await uow.ledger.write_effects(posting.effects, posting.head, now)
            await uow.commit()
            return outcomes

    try:
        return await retrying(attempt)
    except Exception as exc:
        if is_retryable(exc):
            raise ConcurrentModification("the ledger was too busy; retry the request") from exc
        raise


def _decide(posting: PostingEngine, cmds: Sequence[Command], atomic: bool) -> list[Outcome]:
    if atomic:
        try:
            return list(posting.apply_atomically(cmds))
        except LedgerError as exc:
            return [exc] * len(cmds)
    outcomes: list[Outcome] = []
    for cmd in cmds:
        try:
            outcomes.append(posting.apply(cmd))
        except LedgerError as exc:
            outcomes.append(exc)
    return outcomes


class PostingWriter:
    """The single writer task of one service process."""

    def __init__(
        self,
        engine: AsyncEngine,
        new_id: Callable[[str], str],
        *,
        max_items: int = 1000,
        window_s: float = 0.0005,
    ) -> None:
        self._engine = engine
        self._new_id = new_id
        self._max_items = max_items
        self._window_s = window_s
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0
        self.commands = 0

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.create_task(self._run(), name="ledger-posting-writer")

    async def stop(self) -> None:
        """Finish every queued request, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        await cancel_and_wait(self._task)
        self._task = None

    async def submit(self, commands: Sequence[Command], *, atomic: bool) -> list[Outcome]:
        """Queue commands and wait for their outcomes (one per command)."""
        if self._task is None:
            raise RuntimeError("the posting writer is not running")
        request = _Request(commands, atomic)
        self._queue.put_nowait(request)
        # Shielded: a caller that gives up (deadline) must not cancel a write in flight.
        return await asyncio.shield(request.done)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._window_s > 0 and self._queue.qsize() < self._max_items:
                await asyncio.sleep(self._window_s)
            size = len(batch[0].commands)
            while size < self._max_items and not self._queue.empty():
                nxt = self._queue.get_nowait()
                batch.append(nxt)
                size += len(nxt.commands)
            try:
                await self._flush(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _flush(self, batch: list[_Request]) -> None:
        try:
            results = await flush(
                self._engine, [(r.commands, r.atomic) for r in batch], self._new_id
            )
        except Exception as exc:  # noqa: BLE001 - every failure is handed to its callers
            if len(batch) > 1 and not isinstance(exc, LedgerError):
                log.warning("flush of %d requests failed; re-running singly", len(batch))
                for request in batch:
                    await self._flush([request])
                return
            for request in batch:
                _settle(request, exc)
            return
        self.flushes += 1
        self.commands += sum(len(r.commands) for r in batch)
        for request, outcome in zip(batch, results, strict=True):
            if not request.done.done():
                request.done.set_result(outcome)


def _settle(request: _Request, exc: BaseException) -> None:
    if not request.done.done():
        request.done.set_exception(exc)
