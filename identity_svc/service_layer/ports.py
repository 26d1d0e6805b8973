"""What the service layer needs from storage, as Protocols.

The edge (``authorizer``) depends only on ``AuthStore``: a narrow read path
plus the usage sink, so that it can be driven by a fake in unit tests and by
``adapters.store.SqlIdentityStore`` everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from identity_svc.domain.model import AuthRecord


@dataclass(frozen=True, slots=True)
class Change:
    """Something that can invalidate cached auth records.

    ``key_id`` is set for a change to one key (revoked, rotated, updated);
    it is None for a change to a whole merchant (suspended, reactivated),
    which invalidates every key of ``merchant_id``.
    """

    seq: int
    merchant_id: str
    key_id: str | None


@dataclass(frozen=True, slots=True)
class UsageDelta:
    """Counts to add for one key, RPC and UTC day, gathered at the edge."""

    key_id: str
    merchant_id: str
    rpc: str
    day: date
    allowed: int
    throttled: int
    last_used: datetime | None
    """Latest allowed use in this delta; None if every request was throttled."""


class AuthStore(Protocol):
    """Storage as the edge sees it."""

    async def load_auth_record(self, key_id: str) -> AuthRecord | None:
        """The key, its accepted secrets and its merchant's status; None if no such key."""
        ...

    async def change_cursor(self) -> int:
        """The newest change's seq (0 if none): where a fresh cache starts following."""
        ...

    async def changes_since(self, cursor: int, limit: int = 1000) -> list[Change]:
        """Changes with seq > cursor, ascending, at most ``limit``."""
        ...

    async def add_usage(self, deltas: Sequence[UsageDelta], *, batch_id: str = "") -> bool:
        """Add the counts atomically (concurrent callers never lose an increment) and
        move each key's last_used_time forward (never back).

        A non-empty ``batch_id`` is applied at most once: sending the same batch
        again (because the reply to the first attempt was lost) changes nothing
        and returns False. Returns True when the counts were added.
        """
        ...
