"""Quotes and conversions on one connection: documents, versions, the poller's schedule.

Stored the way payments are (``tables``): one JSON document per aggregate beside the columns
queries filter and sort on. Every read a merchant can cause is scoped by ``merchant_id``, so
another merchant's id finds nothing, exactly like an id that does not exist.

Writes are optimistic: ``update`` names the version it read and raises
``ConcurrentModification`` when the row moved on. Every write bumps the version, even one the
domain did not count (the provider's id learned without a change of status), so two writers
that read the same version can never both win.

A quote is redeemed by compare-and-set (``redeem``): of two conversions racing for one quote
exactly one gets it, and the unique ``quote_id`` of ``conversions`` refuses the other again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.conversions import Conversion, ConversionState, ConversionTransition
from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.fx import Quote
from gateway_svc.domain.fx_provider import FixedSide

from .rows import dumps, utc, utc_or_none
from .tables import conversions, quotes

Page = tuple[datetime, str]
"""A keyset position: (create_time, id) of the previous page's last item."""
Period = tuple[datetime | None, datetime | None]
"""Created at or after the first (None: any), before the second (None: any)."""


def quote_doc(q: Quote) -> dict[str, Any]:
    """The JSON document of a quote."""
    return {
        "id": q.id,
        "merchant_id": q.merchant_id,
        "buy_currency": q.buy_currency,
        "sell_currency": q.sell_currency,
        "fixed_side": q.fixed_side.value,
        "buy_amount_minor": q.buy_amount_minor,
        "sell_amount_minor": q.sell_amount_minor,
        "client_rate": q.client_rate,
        "provider_rate": q.provider_rate,
        "mid_market_rate": q.mid_market_rate,
        "currency_pair": q.currency_pair,
        "markup_bps": q.markup_bps,
        "created_at": q.created_at.isoformat(),
        "expires_at": q.expires_at.isoformat(),
    }


def quote_from_doc(d: Mapping[str, Any], used_by: str | None) -> Quote:
    """The inverse of ``quote_doc``; ``used_by`` comes from its column (the one truth)."""
    return Quote(
        id=d["id"],
        merchant_id=d["merchant_id"],
        buy_currency=d["buy_currency"],
        sell_currency=d["sell_currency"],
        fixed_side=FixedSide(d["fixed_side"]),
        buy_amount_minor=d["buy_amount_minor"],
        sell_amount_minor=d["sell_amount_minor"],
        client_rate=d["client_rate"],
        provider_rate=d["provider_rate"],
        mid_market_rate=d["mid_market_rate"],
        currency_pair=d["currency_pair"],
        markup_bps=d["markup_bps"],
        created_at=datetime.fromisoformat(d["created_at"]),
        expires_at=datetime.fromisoformat(d["expires_at"]),
        used_by=used_by or "",
    )


def _transition_doc(t: ConversionTransition) -> dict[str, Any]:
    before = t.from_status.value if t.from_status is not None else None
    return {"from": before, "to": t.to_status.value, "at": t.at.isoformat(), "reason": t.reason}


def _transition(d: Mapping[str, Any]) -> ConversionTransition:
    before = ConversionState(d["from"]) if d.get("from") else None
    return ConversionTransition(
        before, ConversionState(d["to"]), datetime.fromisoformat(d["at"]), d.get("reason", "")
    )


def conversion_doc(c: Conversion) -> dict[str, Any]:
    """The JSON document of a conversion, its history included."""
    return {
        "id": c.id,
        "merchant_id": c.merchant_id,
        "quote_id": c.quote_id,
        "buy_currency": c.buy_currency,
        "sell_currency": c.sell_currency,
        "fixed_side": c.fixed_side.value,
        "buy_amount_minor": c.buy_amount_minor,
        "sell_amount_minor": c.sell_amount_minor,
        "client_rate": c.client_rate,
        "mid_market_rate": c.mid_market_rate,
        "currency_pair": c.currency_pair,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "status": c.status.value,
        "provider_ref": c.provider_ref,
        "provider_buy_amount_minor": c.provider_buy_amount_minor,
        "provider_sell_amount_minor": c.provider_sell_amount_minor,
        "failure_reason": c.failure_reason,
        "history": [_transition_doc(t) for t in c.history],
        "version": c.version,
    }


def conversion_from_doc(d: Mapping[str, Any]) -> Conversion:
    """The inverse of ``conversion_doc``."""
    return Conversion(
        id=d["id"],
        merchant_id=d["merchant_id"],
        quote_id=d["quote_id"],
        buy_currency=d["buy_currency"],
        sell_currency=d["sell_currency"],
        fixed_side=FixedSide(d["fixed_side"]),
        buy_amount_minor=d["buy_amount_minor"],
        sell_amount_minor=d["sell_amount_minor"],
        client_rate=d["client_rate"],
        mid_market_rate=d["mid_market_rate"],
        currency_pair=d["currency_pair"],
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        status=ConversionState(d["status"]),
        provider_ref=d.get("provider_ref", ""),
        provider_buy_amount_minor=d.get("provider_buy_amount_minor"),
        provider_sell_amount_minor=d.get("provider_sell_amount_minor"),
        failure_reason=d.get("failure_reason", ""),
        history=[_transition(t) for t in d.get("history", [])],
        version=d["version"],
    )


def _conversion_values(c: Conversion) -> dict[str, Any]:
    return {
        "id": c.id,
        "merchant_id": c.merchant_id,
        "quote_id": c.quote_id,
        "status": c.status.value,
        "buy_currency": c.buy_currency,
        "sell_currency": c.sell_currency,
        "buy_amount_minor": c.buy_amount_minor,
        "sell_amount_minor": c.sell_amount_minor,
        "provider_ref": c.provider_ref,
        "create_time": utc(c.created_at),
        "update_time": utc(c.updated_at),
        "version": c.version,
        "doc": dumps(conversion_doc(c)),
    }


class QuoteRepository:
    """``quotes`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, quote: Quote) -> None:
        """Insert a new quote (``used_by`` set when a conversion priced it for itself)."""
        await self._conn.execute(
            insert(quotes).values(
                id=quote.id,
                merchant_id=quote.merchant_id,
                buy_currency=quote.buy_currency,
                sell_currency=quote.sell_currency,
                buy_amount_minor=quote.buy_amount_minor,
                sell_amount_minor=quote.sell_amount_minor,
                create_time=utc(quote.created_at),
                expire_time=utc(quote.expires_at),
                used_by=quote.used_by or None,
                doc=dumps(quote_doc(quote)),
            )
        )

    async def get(self, merchant_id: str, quote_id: str) -> Quote | None:
        """The merchant's quote; None for a missing or another merchant's quote."""
        stmt = select(quotes.c.doc, quotes.c.used_by).where(
            quotes.c.id == quote_id, quotes.c.merchant_id == merchant_id
        )
        row = (await self._conn.execute(stmt)).one_or_none()
        return None if row is None else quote_from_doc(json.loads(row[0]), row[1])

    async def redeem(self, quote_id: str, conversion_id: str) -> bool:
        """Mark the quote used by ``conversion_id`` unless another conversion has it; True
        when it is now ``conversion_id``'s (a resumed request redeems its own quote again)."""
        free = or_(quotes.c.used_by.is_(None), quotes.c.used_by == conversion_id)
        result = await self._conn.execute(
            update(quotes).where(quotes.c.id == quote_id, free).values(used_by=conversion_id)
        )
        return result.rowcount == 1

    async def reap(self, expired_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` quotes nobody redeemed that expired before the time given
        (a used quote stays: its conversion names it)."""
        doomed = (
            select(quotes.c.id)
            .where(quotes.c.used_by.is_(None), quotes.c.expire_time < utc(expired_before))
            .limit(limit)
        )
        ids = list((await self._conn.execute(doomed)).scalars().all())
        if ids:
            await self._conn.execute(delete(quotes).where(quotes.c.id.in_(ids)))
        return len(ids)


class ConversionRepository:
    """``conversions`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, conversion: Conversion) -> None:
        """Insert a new (PENDING) conversion, with no check scheduled yet."""
        values = _conversion_values(conversion) | {"checks_done": 0, "next_check_at": None}
        await self._conn.execute(insert(conversions).values(values))

    async def get(self, merchant_id: str, conversion_id: str) -> Conversion | None:
        """The merchant's conversion; None for a missing or another merchant's one."""
        c = conversions.c
        stmt = select(c.doc).where(c.id == conversion_id, c.merchant_id == merchant_id)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else conversion_from_doc(json.loads(doc))

    async def get_any(self, conversion_id: str) -> Conversion | None:
        """Any merchant's conversion: for the gateway's own workers, never a request path."""
        stmt = select(conversions.c.doc).where(conversions.c.id == conversion_id)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else conversion_from_doc(json.loads(doc))

    async def update(self, conversion: Conversion, read_version: int) -> None:
        """Write over the row at ``read_version`` (bumping the version), or raise
        ConcurrentModification."""
        conversion.version = max(conversion.version, read_version + 1)
        values = _conversion_values(conversion)
        for column in ("id", "merchant_id", "quote_id", "create_time"):
            values.pop(column)
        c = conversions.c
        stmt = update(conversions).where(c.id == conversion.id, c.version == read_version)
        if (await self._conn.execute(stmt.values(values))).rowcount != 1:
            raise ConcurrentModification(
                f"conversion {conversion.id} changed since it was read; retry",
                metadata={"conversion_id": conversion.id},
            )

    async def schedule_check(
        self, conversion_id: str, at: datetime | None, checks_done: int
    ) -> None:
        """When the poller should next ask the provider (None: never again)."""
        stmt = update(conversions).where(conversions.c.id == conversion_id)
        await self._conn.execute(
            stmt.values(next_check_at=utc_or_none(at), checks_done=checks_done)
        )

    async def due(self, now: datetime, limit: int) -> list[tuple[Conversion, int]]:
        """Conversions whose check is due, oldest due first, with the checks done so far."""
        c = conversions.c
        stmt = (
            select(c.doc, c.checks_done)
            .where(c.next_check_at <= utc(now))
            .order_by(c.next_check_at, c.id)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).all()
        return [(conversion_from_doc(json.loads(doc)), int(done)) for doc, done in rows]

    async def list(
        self,
        merchant_id: str,
        statuses: Sequence[ConversionState],
        period: Period,
        after: Page | None,
        limit: int,
    ) -> list[Conversion]:
        """The merchant's conversions, newest first, after the keyset position ``after``."""
        c = conversions.c
        stmt = select(c.doc).where(c.merchant_id == merchant_id)
        if statuses:
            stmt = stmt.where(c.status.in_(sorted(s.value for s in statuses)))
        if period[0] is not None:
            stmt = stmt.where(c.create_time >= utc(period[0]))
        if period[1] is not None:
            stmt = stmt.where(c.create_time < utc(period[1]))
        if after is not None:
            stmt = stmt.where(tuple_(c.create_time, c.id) < tuple_(utc(after[0]), after[1]))
        stmt = stmt.order_by(c.create_time.desc(), c.id.desc()).limit(limit)
        docs = (await self._conn.execute(stmt)).scalars().all()
        return [conversion_from_doc(json.loads(doc)) for doc in docs]
