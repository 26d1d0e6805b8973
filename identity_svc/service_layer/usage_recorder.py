"""Per-key usage counters, gathered in memory at the edge and flushed in batches.

Counting must not cost a store write per request, so ``record`` only bumps a
counter per (key, RPC, UTC day); a background task hands the deltas to
``store.add_usage`` every ``flush_interval_s``.

Guarantees:

* **Never lost.** A flush moves the buffer into one batch with a fresh id
  before awaiting the store. If the store raises (or the flush is cancelled),
  that same batch, with the same id, is sent again by the next flush, before
  anything counted since.
* **Never double-counted.** The store applies a batch id at most once, so a
  batch that was committed but whose reply was lost (a timeout, a dropped
  connection) is not added twice when it is re-sent.
* ``stop()`` flushes what remains; if that last flush fails, the loss is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime

from identity_svc.service_layer.ports import AuthStore, UsageDelta

_log = logging.getLogger(__name__)


class _Counts:
    """Mutable on purpose: one per (key, RPC, day), bumped on every request."""

    __slots__ = ("allowed", "last_used", "merchant_id", "throttled")

    def __init__(self, merchant_id: str) -> None:
        self.merchant_id = merchant_id
        self.allowed = 0
        self.throttled = 0
        self.last_used: datetime | None = None


_Buffer = dict[tuple[str, str, date], _Counts]


class UsageRecorder:
    """Counts requests per key; ``start()`` the flush task, ``stop()`` to flush the rest."""

    def __init__(
        self,
        store: AuthStore,
        clock: Callable[[], datetime],
        flush_interval_s: float = 1.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._flush_interval_s = flush_interval_s
        self._buffer: _Buffer = {}
        self._unsent: tuple[str, list[UsageDelta]] | None = None
        """The batch the store has not acknowledged: re-sent as is, same id."""
        self._lock = asyncio.Lock()  # one flush at a time, so merges stay exact
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(
        self, key_id: str, merchant_id: str, rpc: str, allowed: bool, now: datetime | None = None
    ) -> None:
        """Count one request: let through (``allowed``) or refused by the rate limit.

        ``now`` saves a clock read when the caller already has the time.
        """
        if now is None:
            now = self._clock()
        slot = (key_id, rpc, now.date())
        counts = self._buffer.get(slot)
        if counts is None:
            counts = self._buffer[slot] = _Counts(merchant_id)
        if allowed:
            counts.allowed += 1
            counts.last_used = now
        else:
            counts.throttled += 1

    def pending(self) -> list[UsageDelta]:
        """Counts not yet acknowledged by the store: an unsent batch, then the buffer."""
        unsent = self._unsent[1] if self._unsent else []
        return [*unsent, *_deltas(self._buffer)]

    async def flush(self) -> None:
        """Send the counts to the store. On failure they are kept, and this raises."""
        async with self._lock:
            if self._unsent is None:
                if not self._buffer:
                    return
                self._unsent = (uuid.uuid4().hex, _deltas(self._buffer))
                self._buffer = {}
            batch_id, deltas = self._unsent
            # On any failure (or cancellation) the batch stays unsent, under the same id.
            await self._store.add_usage(deltas, batch_id=batch_id)
            self._unsent = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            # Waiting on the event (not sleeping) lets stop() end the wait at once,
            # and it is never cancelled mid-flush.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval_s):
                    await self._stopping.wait()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - kept for the next flush; the loop must live on
                _log.warning(
                    "usage flush failed; %d counters kept for the next one", len(self.pending())
                )

    async def start(self) -> None:
        """Start flushing every ``flush_interval_s``."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="usage-recorder-flush")

    async def stop(self) -> None:
        """Stop the flush task and flush what remains."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            await task  # its last iteration already flushed
        try:
            await self.flush()
        except Exception:  # noqa: BLE001 - shutting down: report, do not crash the shutdown
            lost = len(self.pending())
            _log.error("usage lost at shutdown: %d counters not flushed", lost)


def _deltas(buffer: _Buffer) -> list[UsageDelta]:
    return [
        UsageDelta(
            key_id=key_id,
            merchant_id=counts.merchant_id,
            rpc=rpc,
            day=day,
            allowed=counts.allowed,
            throttled=counts.throttled,
            last_used=counts.last_used,
        )
        for (key_id, rpc, day), counts in buffer.items()
    ]
