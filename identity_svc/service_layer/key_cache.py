"""key_id -> AuthRecord, in memory, kept honest by the store's change feed.

Guarantees:

* **Revocation within 1 s.** A follower polls ``store.changes_since`` every
  ``refresh_interval_s`` (0.25 s) and evicts what changed. If it has not
  completed a poll that *started* within ``staleness_s`` (0.75 s), the cache
  stops answering from memory and every request reads the store; when that
  read fails, ``StoreUnavailable`` propagates so the edge fails closed. So a
  change committed at T is honoured by T + staleness_s + one store read.
* **Single flight.** Concurrent misses for one key share one store read.
* **No stale insert.** A load that overlapped an eviction returns its answer
  to its waiters but is not cached: it may have read the row before the change.
* **Bounded.** Entries expire after ``max_age_s`` (a safety net if a change is
  ever lost), unknown keys after ``negative_ttl_s``; at most ``max_entries``
  are kept, oldest inserted dropped first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from identity_svc.domain.model import AuthRecord
from identity_svc.service_layer.ports import AuthStore, Change

_log = logging.getLogger(__name__)
_CHANGES_PAGE = 1000


class StoreUnavailable(Exception):
    """The store could not be read and the cache may not answer alone: fail closed."""


class KeyCache:
    """Auth records by key id. asyncio only; ``start()`` before use, ``stop()`` after."""

    def __init__(
        self,
        store: AuthStore,
        clock: Callable[[], float] = time.monotonic,
        refresh_interval_s: float = 0.25,
        max_age_s: float = 60.0,
        *,
        staleness_s: float = 0.75,
        negative_ttl_s: float = 2.0,
        poll_timeout_s: float = 2.0,
        max_entries: int = 100_000,
    ) -> None:
        assert 0 < refresh_interval_s < staleness_s, "the follower must poll within the bound"
        self._store = store
        self._clock = clock
        self._refresh_interval_s = refresh_interval_s
        self._max_age_s = max_age_s
        self._staleness_s = staleness_s
        self._negative_ttl_s = negative_ttl_s
        self._poll_timeout_s = poll_timeout_s
        self._max_entries = max_entries
        # key_id -> (record or None for "no such key", monotonic expiry)
        self._entries: dict[str, tuple[AuthRecord | None, float]] = {}
        self._by_merchant: dict[str, set[str]] = {}
        self._inflight: dict[str, asyncio.Task[AuthRecord | None]] = {}
        self._generation = 0  # bumped by every eviction; see "No stale insert"
        self._cursor: int | None = None
        self._synced_at = -float("inf")  # start time of the last successful poll
        self._failing = False
        self._follower: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ reads
    async def get(self, key_id: str) -> AuthRecord | None:
        """The key's record, or None if the store has no such key.

        Raises StoreUnavailable when the store must be read and cannot be.
        """
        entry = self._entries.get(key_id)
        if entry is not None:
            now = self._clock()
            if now < entry[1] and now - self._synced_at <= self._staleness_s:
                return entry[0]
        task = self._inflight.get(key_id)
        if task is None:
            task = asyncio.ensure_future(self._load(key_id))
            task.add_done_callback(_retrieve)
            self._inflight[key_id] = task
        # shield: one waiter's cancellation (Envoy's timeout) must not cancel the others' load.
        return await asyncio.shield(task)

    def peek(self, key_id: str) -> AuthRecord | None:
        """The cached record when the cache may answer from memory right now; else None.

        Never loads. The edge's fast path uses it to confirm that a token it
        verified earlier still maps to the very record it was verified against:
        any change to the key or its merchant evicts that record.
        """
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        now = self._clock()
        if now < entry[1] and now - self._synced_at <= self._staleness_s:
            return entry[0]
        return None

    def is_fresh(self) -> bool:
        """True while the follower is within the staleness bound (the cache may answer)."""
        return self._clock() - self._synced_at <= self._staleness_s

    async def _load(self, key_id: str) -> AuthRecord | None:
        generation = self._generation
        try:
            record = await self._store.load_auth_record(key_id)
        except Exception as exc:  # any store failure means "cannot know": fail closed
            raise StoreUnavailable(f"could not load API key {key_id}") from exc
        finally:
            self._inflight.pop(key_id, None)
        if generation == self._generation:
            self._insert(key_id, record)
        return record

    def _insert(self, key_id: str, record: AuthRecord | None) -> None:
        self._evict(key_id)
        while len(self._entries) >= self._max_entries:
            self._evict(next(iter(self._entries)))
        ttl_s = self._max_age_s if record is not None else self._negative_ttl_s
        self._entries[key_id] = (record, self._clock() + ttl_s)
        if record is not None:
            self._by_merchant.setdefault(record.key.merchant_id, set()).add(key_id)

    # -------------------------------------------------------------- eviction
    def _evict(self, key_id: str) -> None:
        entry = self._entries.pop(key_id, None)
        if entry is not None and entry[0] is not None:
            merchant_id = entry[0].key.merchant_id
            keys = self._by_merchant.get(merchant_id)
            if keys is not None:
                keys.discard(key_id)
                if not keys:
                    del self._by_merchant[merchant_id]

    def _apply(self, change: Change) -> None:
        self._generation += 1
        if change.key_id is not None:
            self._evict(change.key_id)
            return
        for key_id in tuple(self._by_merchant.get(change.merchant_id, ())):
            self._evict(key_id)

    def _clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._by_merchant.clear()

    # -------------------------------------------------------------- follower
    async def sync_once(self) -> None:
        """One poll of the change feed. Raises on failure (the follower logs it)."""
        started = self._clock()
        async with asyncio.timeout(self._poll_timeout_s):
            if self._cursor is None:
                # Nothing before this cursor will ever be seen: drop whatever was
                # cached before we knew where the feed stood.
                cursor = await self._store.change_cursor()
                self._clear()
                self._cursor = cursor
            while True:
                changes = await self._store.changes_since(self._cursor, _CHANGES_PAGE)
                for change in changes:
                    self._apply(change)
                    self._cursor = change.seq
                if len(changes) < _CHANGES_PAGE:
                    break
        self._synced_at = started

    async def _follow(self) -> None:
        while True:
            try:
                await self.sync_once()
            except Exception:  # noqa: BLE001 - the follower must outlive any store failure
                if not self._failing:  # log transitions, not every 250 ms
                    _log.warning("key cache change feed failing; reading the store per request")
                    self._failing = True
            else:
                if self._failing:
                    _log.info("key cache change feed recovered")
                    self._failing = False
            await asyncio.sleep(self._refresh_interval_s)

    async def start(self) -> None:
        """Start following the change feed. Never raises: a store that is down at
        start-up only means requests fail closed until it is back."""
        if self._follower is None:
            self._follower = asyncio.create_task(self._follow(), name="key-cache-follower")

    async def stop(self) -> None:
        """Stop the follower and forget everything."""
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        self._clear()
        self._synced_at = -float("inf")


def _retrieve(task: asyncio.Task[AuthRecord | None]) -> None:
    # Every waiter may have been cancelled; mark a failure as seen so asyncio
    # does not log "exception was never retrieved" for an expected outage.
    if not task.cancelled():
        task.exception()
