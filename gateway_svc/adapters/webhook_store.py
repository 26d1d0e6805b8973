"""Webhook endpoints on one connection: merchant scope, version checks, soft deletion.

Every read a merchant can cause names the merchant: another merchant's endpoint id reads as
None, which the use case answers as NOT_FOUND (never 403, so ids cannot be probed). A deleted
endpoint is gone for the merchant but its row stays, so the deliveries and attempts of old
events still name it.

An endpoint that is disabled (by the merchant, or by a 410 from its receiver) or deleted owes
nothing: the same write cancels its unfinished deliveries (``webhook_summary``). They stay
listed, with the reason as their last error, and RedeliverEvent can queue them again once the
endpoint is enabled.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.errors import ConcurrentModification

from .rows import utc, utc_or_none
from .webhook_records import EndpointRecord
from .webhook_summary import cancel_unfinished
from .webhook_tables import webhook_endpoints

DELETED_REASON = "endpoint deleted"
DISABLED_REASON = "endpoint disabled"


def _values(e: EndpointRecord) -> dict[str, Any]:
    return {
        "id": e.id,
        "merchant_id": e.merchant_id,
        "url": e.url,
        "description": e.description,
        "enabled_events": json.dumps(list(e.enabled_events)),
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "secrets": e.secrets,
        "created_at": utc(e.created_at),
        "updated_at": utc(e.updated_at),
        "version": e.version,
        "deleted_at": utc_or_none(e.deleted_at),
    }


def _record(row: RowMapping) -> EndpointRecord:
    return EndpointRecord(
        id=row["id"],
        merchant_id=row["merchant_id"],
        url=row["url"],
        description=row["description"],
        enabled_events=tuple(json.loads(row["enabled_events"])),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        secrets=bytes(row["secrets"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        version=row["version"],
        deleted_at=utc_or_none(row["deleted_at"]),
    )


class WebhookEndpointRepository:
    """``webhook_endpoints`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, endpoint: EndpointRecord) -> None:
        """Insert a new endpoint (its secrets already sealed)."""
        await self._conn.execute(insert(webhook_endpoints).values(_values(endpoint)))

    async def get(
        self, merchant_id: str, endpoint_id: str, *, include_deleted: bool = False
    ) -> EndpointRecord | None:
        """The merchant's endpoint; None when missing, deleted (unless asked for), or
        another merchant's."""
        w = webhook_endpoints.c
        stmt = select(webhook_endpoints).where(w.id == endpoint_id, w.merchant_id == merchant_id)
        if not include_deleted:
            stmt = stmt.where(w.deleted_at.is_(None))
        row = (await self._conn.execute(stmt)).mappings().one_or_none()
        return None if row is None else _record(row)

    async def update(self, endpoint: EndpointRecord, read_version: int) -> EndpointRecord:
        """Write the endpoint's mutable fields over the live row at ``read_version``; the
        stored record (version bumped). Raises ConcurrentModification when the row changed
        or was deleted since it was read. Disabling cancels what the endpoint was owed."""
        values = _values(endpoint)
        for column in ("id", "merchant_id", "created_at", "deleted_at"):
            values.pop(column)
        values["version"] = read_version + 1
        w = webhook_endpoints.c
        stmt = (
            update(webhook_endpoints)
            .where(
                w.id == endpoint.id,
                w.merchant_id == endpoint.merchant_id,
                w.version == read_version,
                w.deleted_at.is_(None),
            )
            .values(values)
        )
        if (await self._conn.execute(stmt)).rowcount != 1:
            raise ConcurrentModification(
                f"webhook endpoint {endpoint.id} changed since it was read; retry",
                metadata={"endpoint_id": endpoint.id},
            )
        if not endpoint.enabled:
            reason = endpoint.disabled_reason or DISABLED_REASON
            await cancel_unfinished(self._conn, endpoint.id, reason, endpoint.updated_at)
        stored = await self.get(endpoint.merchant_id, endpoint.id)
        assert stored is not None  # written above, in this transaction
        return stored

    async def delete(self, merchant_id: str, endpoint_id: str, now: datetime) -> bool:
        """Soft-delete the merchant's live endpoint and cancel what it was owed; False when
        there is none to delete (missing, already deleted, another merchant's)."""
        w = webhook_endpoints.c
        stmt = (
            update(webhook_endpoints)
            .where(w.id == endpoint_id, w.merchant_id == merchant_id, w.deleted_at.is_(None))
            .values(
                deleted_at=utc(now),
                updated_at=utc(now),
                enabled=False,
                disabled_reason=DELETED_REASON,
                version=w.version + 1,
            )
        )
        if (await self._conn.execute(stmt)).rowcount != 1:
            return False
        await cancel_unfinished(self._conn, endpoint_id, DELETED_REASON, now)
        return True

    async def disable(self, endpoint_id: str, reason: str, now: datetime) -> int:
        """Disable a live endpoint for ``reason`` (a 410 from its receiver, say), whatever
        version it is at, and cancel what it was owed; how many deliveries were canceled."""
        w = webhook_endpoints.c
        await self._conn.execute(
            update(webhook_endpoints)
            .where(w.id == endpoint_id, w.deleted_at.is_(None))
            .values(
                enabled=False, disabled_reason=reason, updated_at=utc(now), version=w.version + 1
            )
        )
        return await cancel_unfinished(self._conn, endpoint_id, reason, now)

    async def matching(self, merchant_id: str, event_type: str) -> list[EndpointRecord]:
        """The merchant's enabled, live endpoints whose filter takes ``event_type``, oldest
        first (the order their deliveries are queued in)."""
        w = webhook_endpoints.c
        stmt = (
            select(webhook_endpoints)
            .where(w.merchant_id == merchant_id, w.enabled.is_(True), w.deleted_at.is_(None))
            .order_by(w.created_at, w.id)
        )
        # Filtering in Python: a merchant has a handful of endpoints, and the filter is a JSON
        # list that the two backends would each query differently.
        found = [_record(row) for row in (await self._conn.execute(stmt)).mappings()]
        return [e for e in found if e.accepts(event_type)]

    # Last in the class: below it, ``list`` in an annotation would name this method.
    async def list(
        self, merchant_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[EndpointRecord]:
        """The merchant's live endpoints, newest first, strictly after the keyset position
        ``after`` (the last item of the previous page; ``service_layer.fx_pages`` makes the
        opaque token of it)."""
        w = webhook_endpoints.c
        stmt = select(webhook_endpoints).where(w.merchant_id == merchant_id, w.deleted_at.is_(None))
        if after is not None:
            stmt = stmt.where(tuple_(w.created_at, w.id) < tuple_(utc(after[0]), after[1]))
        stmt = stmt.order_by(w.created_at.desc(), w.id.desc()).limit(limit)
        return [_record(row) for row in (await self._conn.execute(stmt)).mappings()]
