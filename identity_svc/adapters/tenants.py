"""Merchants, API keys, their secrets and the auth change feed, inside one transaction.

Every method runs on the connection of the caller's unit of work; nothing
here commits. Listing is keyset pagination on ``(create_time, id)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from identity_svc.domain.model import ApiKey, AuthRecord, Merchant, MerchantStatus
from identity_svc.service_layer.ports import Change

from . import tables as t
from .rows import (
    key_from_row,
    key_values,
    merchant_from_row,
    merchant_values,
    secret_from_row,
    utc,
)

Cursor = tuple[datetime, str]
"""A keyset position: (create_time, id) of the last row of the previous page."""


class TenantRepository:
    """Reads and writes of the tenant tables on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- merchants --------------------------------------------------------

    async def insert_merchant(
        self, merchant: Merchant, *, created_by: str, request_id: str, fingerprint: str
    ) -> None:
        """Insert a new merchant, remembering who asked and under which request_id."""
        values = merchant_values(merchant) | {
            "created_by": created_by,
            "create_request_id": request_id or None,
            "create_fingerprint": fingerprint if request_id else None,
        }
        await self.conn.execute(insert(t.merchants).values(values))

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        """One merchant, or None."""
        stmt = select(t.merchants).where(t.merchants.c.merchant_id == merchant_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else merchant_from_row(row)

    async def merchant_by_request(
        self, created_by: str, request_id: str
    ) -> tuple[Merchant, str] | None:
        """The merchant an earlier CreateMerchant made with this request_id, and its
        request's fingerprint."""
        m = t.merchants
        stmt = select(m).where(m.c.created_by == created_by, m.c.create_request_id == request_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else (merchant_from_row(row), row["create_fingerprint"] or "")

    async def list_merchants(
        self,
        status: MerchantStatus | None,
        after: Cursor | None,
        limit: int,
        *,
        only: str | None = None,
    ) -> list[Merchant]:
        """Merchants in creation order, after ``after``; just ``only`` if given."""
        m = t.merchants
        stmt = select(m).order_by(m.c.create_time, m.c.merchant_id).limit(limit)
        if only is not None:
            stmt = stmt.where(m.c.merchant_id == only)
        if status is not None:
            stmt = stmt.where(m.c.status == status.value)
        if after is not None:
            stmt = stmt.where(tuple_(m.c.create_time, m.c.merchant_id) > tuple_(*after))
        return [merchant_from_row(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def update_merchant(self, merchant: Merchant) -> None:
        """Write a merchant's mutable fields."""
        values = merchant_values(merchant)
        for fixed in ("merchant_id", "create_time"):
            del values[fixed]
        m = t.merchants
        await self.conn.execute(
            update(m).where(m.c.merchant_id == merchant.merchant_id).values(values)
        )

    # -- keys and secrets -------------------------------------------------

    async def insert_key(self, key: ApiKey, *, created_by: str, request_id: str) -> None:
        """Insert a new key (without secrets)."""
        values = key_values(key) | {
            "created_by": created_by,
            "create_request_id": request_id or None,
        }
        await self.conn.execute(insert(t.api_keys).values(values))

    async def insert_secret(
        self,
        key_id: str,
        secret_hash: bytes,
        create_time: datetime,
        *,
        created_by: str | None = None,
        request_id: str = "",
    ) -> None:
        """Add a current secret (not_after NULL) to a key: its hash, never the token."""
        assert len(secret_hash) == 32, "only an HMAC-SHA256 digest is ever stored"
        values: dict[str, Any] = {
            "secret_hash": secret_hash,
            "key_id": key_id,
            "create_time": utc(create_time),
            "not_after": None,
            "created_by": created_by if request_id else None,
            "create_request_id": request_id or None,
        }
        await self.conn.execute(insert(t.api_key_secrets).values(values))

    async def retire_secrets(self, key_id: str, deadline: datetime) -> None:
        """Every secret of the key still accepted after ``deadline`` stops at it."""
        s = t.api_key_secrets
        await self.conn.execute(
            update(s)
            .where(s.c.key_id == key_id, or_(s.c.not_after.is_(None), s.c.not_after > deadline))
            .values(not_after=utc(deadline))
        )

    async def revoke_key(self, key_id: str, at: datetime) -> None:
        """Set revoke_time, once: a second revocation changes nothing."""
        k = t.api_keys
        await self.conn.execute(
            update(k)
            .where(k.c.key_id == key_id, k.c.revoke_time.is_(None))
            .values(revoke_time=utc(at))
        )

    async def get_key(self, key_id: str, now: datetime) -> ApiKey | None:
        """One key, with the deadline of its latest rotated-out secret still accepted."""
        stmt = _keys_select(now).where(t.api_keys.c.key_id == key_id)
        row = (await self.conn.execute(stmt)).mappings().first()
        return None if row is None else key_from_row(row)

    async def list_keys(
        self, merchant_id: str, after: Cursor | None, limit: int, now: datetime
    ) -> list[ApiKey]:
        """A merchant's keys in creation order, after ``after``."""
        k = t.api_keys
        stmt = (
            _keys_select(now)
            .where(k.c.merchant_id == merchant_id)
            .order_by(k.c.create_time, k.c.key_id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(tuple_(k.c.create_time, k.c.key_id) > tuple_(*after))
        return [key_from_row(r) for r in (await self.conn.execute(stmt)).mappings()]

    async def key_by_request(self, created_by: str, request_id: str) -> str | None:
        """The id of the key an earlier CreateApiKey made with this request_id."""
        k = t.api_keys
        stmt = select(k.c.key_id).where(
            k.c.created_by == created_by, k.c.create_request_id == request_id
        )
        return (await self.conn.execute(stmt)).scalar_one_or_none()

    async def rotation_by_request(self, created_by: str, request_id: str) -> str | None:
        """The id of the key an earlier RotateApiKey rotated with this request_id."""
        s = t.api_key_secrets
        stmt = select(s.c.key_id).where(
            s.c.created_by == created_by, s.c.create_request_id == request_id
        )
        return (await self.conn.execute(stmt)).scalar_one_or_none()

    async def auth_record(self, key_id: str, secrets_since: datetime) -> AuthRecord | None:
        """The key, its merchant's status and its secrets not retired before
        ``secrets_since`` (older ones are refused as unknown anyway)."""
        k, m, s = t.api_keys, t.merchants, t.api_key_secrets
        stmt = (
            select(k, m.c.status.label("merchant_status"))
            .join(m, m.c.merchant_id == k.c.merchant_id)
            .where(k.c.key_id == key_id)
        )
        row = (await self.conn.execute(stmt)).mappings().first()
        if row is None:
            return None
        secrets_stmt = (
            select(s)
            .where(s.c.key_id == key_id)
            .where(or_(s.c.not_after.is_(None), s.c.not_after > secrets_since))
            .order_by(s.c.create_time)
        )
        secrets = [secret_from_row(r) for r in (await self.conn.execute(secrets_stmt)).mappings()]
        return AuthRecord(
            key=key_from_row(row),
            merchant_status=MerchantStatus(row["merchant_status"]),
            secrets=tuple(secrets),
        )

    # -- the change feed --------------------------------------------------

    async def record_change(self, merchant_id: str, key_id: str | None, at: datetime) -> None:
        """Tell the edge caches that a key (or, with key_id None, a whole merchant) changed.

        Call only while holding the audit head lock: seq is drawn under it, so
        seq order is commit order and a poller never skips a late commit.
        """
        values = {"merchant_id": merchant_id, "key_id": key_id, "change_time": utc(at)}
        await self.conn.execute(insert(t.auth_changes).values(values))

    async def change_cursor(self) -> int:
        """The newest change's seq, 0 if none."""
        stmt = select(func.coalesce(func.max(t.auth_changes.c.seq), 0))
        return int((await self.conn.execute(stmt)).scalar_one())

    async def changes_since(self, cursor: int, limit: int) -> list[Change]:
        """Changes with seq > cursor, ascending."""
        c = t.auth_changes
        stmt = select(c.c.seq, c.c.merchant_id, c.c.key_id).where(c.c.seq > cursor)
        rows = (await self.conn.execute(stmt.order_by(c.c.seq).limit(limit))).all()
        return [Change(int(seq), merchant, key) for seq, merchant, key in rows]


def _keys_select(now: datetime) -> Select[Any]:
    k, s = t.api_keys, t.api_key_secrets
    previous = (
        select(func.max(s.c.not_after))
        .where(and_(s.c.key_id == k.c.key_id, s.c.not_after > utc(now)))
        .scalar_subquery()
    )
    return select(k, previous.label("previous_secret_expire_time"))
