"""``SqlIdentityStore``: the edge's view of storage (``ports.AuthStore``) on SQLite or PostgreSQL.

Each call is its own short transaction. Reads use a deferred begin, so on
SQLite they read a WAL snapshot instead of queueing for the write lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.domain.model import AuthRecord
from identity_svc.service_layer.ports import AuthStore, Change, UsageDelta
from svc_kit.db import deferred_begin, retrying

from .tenants import TenantRepository
from .usage import UsageRepository

# A rotated-out secret is still returned this long after its deadline, so that
# the edge can answer "expired: use the new secret" rather than "invalid".
RETIRED_SECRET_GRACE = timedelta(days=7)


class SqlIdentityStore:
    """Implements ``ports.AuthStore`` over an engine from ``svc_kit.db.make_engine``."""

    def __init__(
        self, engine: AsyncEngine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = engine
        self._reader = deferred_begin(engine)
        self._clock = clock

    async def load_auth_record(self, key_id: str) -> AuthRecord | None:
        """The key, its accepted (and recently retired) secrets and its merchant's status."""
        since = self._clock() - RETIRED_SECRET_GRACE
        async with self._reader.begin() as conn:
            return await TenantRepository(conn).auth_record(key_id, since)

    async def change_cursor(self) -> int:
        """The newest change's seq (0 if none)."""
        async with self._reader.begin() as conn:
            return await TenantRepository(conn).change_cursor()

    async def changes_since(self, cursor: int, limit: int = 1000) -> list[Change]:
        """Changes with seq > cursor, ascending, at most ``limit``."""
        async with self._reader.begin() as conn:
            return await TenantRepository(conn).changes_since(cursor, limit)

    async def add_usage(self, deltas: Sequence[UsageDelta], *, batch_id: str = "") -> bool:
        """Add the counts in one transaction; re-run it whole on a serialization
        failure or deadlock, so no increment is lost or doubled. A batch id is
        claimed in that same transaction: a re-sent batch adds nothing."""
        if not deltas:
            return True

        async def flush() -> bool:
            async with self._engine.begin() as conn:
                usage = UsageRepository(conn)
                if batch_id and not await usage.claim_batch(batch_id, self._clock()):
                    return False
                await usage.add(deltas)
                return True

        return await retrying(flush)


def _conforms(store: SqlIdentityStore) -> AuthStore:
    # mypy checks here, once, that the class satisfies the Protocol.
    return store
