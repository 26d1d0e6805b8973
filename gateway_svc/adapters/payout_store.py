"""Payouts on one connection: documents with their history, versions, the poller's schedule.

Stored like conversions (``fx_store``): a JSON document beside the columns queries need,
every write a compare-and-set on the version read (and a bump of it), every merchant read
scoped by ``merchant_id``. A payout is due for a status check from the moment its provider
call ended until it is final.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.fx_provider import PaymentType
from gateway_svc.domain.payouts import Payout, PayoutState, PayoutTransition

from .fx_store import Period
from .rows import dumps, utc, utc_or_none
from .tables import payouts


def _transition_doc(t: PayoutTransition) -> dict[str, Any]:
    before = t.from_status.value if t.from_status is not None else None
    return {"from": before, "to": t.to_status.value, "at": t.at.isoformat(), "reason": t.reason}


def _transition(d: Mapping[str, Any]) -> PayoutTransition:
    before = PayoutState(d["from"]) if d.get("from") else None
    return PayoutTransition(
        before, PayoutState(d["to"]), datetime.fromisoformat(d["at"]), d.get("reason", "")
    )


def payout_doc(p: Payout) -> dict[str, Any]:
    """The JSON document of a payout, its history included."""
    return {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "beneficiary_id": p.beneficiary_id,
        "provider_beneficiary_id": p.provider_beneficiary_id,
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "reason": p.reason,
        "reference": p.reference,
        "payment_type": p.payment_type.value,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
        "status": p.status.value,
        "provider_ref": p.provider_ref,
        "fee_minor": p.fee_minor,
        "fee_currency": p.fee_currency,
        "failure_reason": p.failure_reason,
        "history": [_transition_doc(t) for t in p.history],
        "version": p.version,
    }


def payout_from_doc(d: Mapping[str, Any]) -> Payout:
    """The inverse of ``payout_doc``."""
    return Payout(
        id=d["id"],
        merchant_id=d["merchant_id"],
        beneficiary_id=d["beneficiary_id"],
        provider_beneficiary_id=d["provider_beneficiary_id"],
        amount_minor=d["amount_minor"],
        currency=d["currency"],
        reason=d["reason"],
        reference=d["reference"],
        payment_type=PaymentType(d["payment_type"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
        status=PayoutState(d["status"]),
        provider_ref=d.get("provider_ref", ""),
        fee_minor=d.get("fee_minor"),
        fee_currency=d.get("fee_currency", ""),
        failure_reason=d.get("failure_reason", ""),
        history=[_transition(t) for t in d.get("history", [])],
        version=d["version"],
    )


def _values(p: Payout) -> dict[str, Any]:
    return {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "beneficiary_id": p.beneficiary_id,
        "status": p.status.value,
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "provider_ref": p.provider_ref,
        "create_time": utc(p.created_at),
        "update_time": utc(p.updated_at),
        "version": p.version,
        "doc": dumps(payout_doc(p)),
    }


class PayoutRepository:
    """``payouts`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, payout: Payout) -> None:
        """Insert a new (PENDING) payout, with no check scheduled yet."""
        values = _values(payout) | {"checks_done": 0, "next_check_at": None}
        await self._conn.execute(insert(payouts).values(values))

    async def get(self, merchant_id: str, payout_id: str) -> Payout | None:
        """The merchant's payout; None for a missing or another merchant's payout."""
        p = payouts.c
        stmt = select(p.doc).where(p.id == payout_id, p.merchant_id == merchant_id)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else payout_from_doc(json.loads(doc))

    async def get_any(self, payout_id: str) -> Payout | None:
        """Any merchant's payout: for the gateway's own workers, never a request path."""
        stmt = select(payouts.c.doc).where(payouts.c.id == payout_id)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else payout_from_doc(json.loads(doc))

    async def update(self, payout: Payout, read_version: int) -> None:
        """Write over the row at ``read_version`` (bumping the version), or raise
        ConcurrentModification."""
        payout.version = max(payout.version, read_version + 1)
        values = _values(payout)
        for column in ("id", "merchant_id", "beneficiary_id", "create_time"):
            values.pop(column)
        p = payouts.c
        stmt = update(payouts).where(p.id == payout.id, p.version == read_version)
        if (await self._conn.execute(stmt.values(values))).rowcount != 1:
            raise ConcurrentModification(
                f"payout {payout.id} changed since it was read; retry",
                metadata={"payout_id": payout.id},
            )

    async def schedule_check(self, payout_id: str, at: datetime | None, checks_done: int) -> None:
        """When the poller should next ask the provider (None: never again)."""
        stmt = update(payouts).where(payouts.c.id == payout_id)
        await self._conn.execute(
            stmt.values(next_check_at=utc_or_none(at), checks_done=checks_done)
        )

    async def due(self, now: datetime, limit: int) -> list[tuple[Payout, int]]:
        """Payouts whose check is due, oldest due first, with the checks done so far."""
        p = payouts.c
        stmt = (
            select(p.doc, p.checks_done)
            .where(p.next_check_at <= utc(now))
            .order_by(p.next_check_at, p.id)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).all()
        return [(payout_from_doc(json.loads(doc)), int(done)) for doc, done in rows]

    async def list(
        self,
        merchant_id: str,
        statuses: Sequence[PayoutState],
        beneficiary_id: str,
        period: Period,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Payout]:
        """The merchant's payouts, newest first, after the keyset position ``after``."""
        p = payouts.c
        stmt = select(p.doc).where(p.merchant_id == merchant_id)
        if statuses:
            stmt = stmt.where(p.status.in_(sorted(s.value for s in statuses)))
        if beneficiary_id:
            stmt = stmt.where(p.beneficiary_id == beneficiary_id)
        if period[0] is not None:
            stmt = stmt.where(p.create_time >= utc(period[0]))
        if period[1] is not None:
            stmt = stmt.where(p.create_time < utc(period[1]))
        if after is not None:
            stmt = stmt.where(tuple_(p.create_time, p.id) < tuple_(utc(after[0]), after[1]))
        stmt = stmt.order_by(p.create_time.desc(), p.id.desc()).limit(limit)
        docs = (await self._conn.execute(stmt)).scalars().all()
        return [payout_from_doc(json.loads(doc)) for doc in docs]
