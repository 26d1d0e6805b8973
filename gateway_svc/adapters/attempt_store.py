"""Provider attempts on one connection: one row per logical call to one provider.

An attempt is written PENDING and committed before its call is sent, then finished with the
outcome; a PENDING attempt found later is a call whose outcome only the provider knows.
Retries of the same attempt (same idempotency key, after a RETRIABLE or UNKNOWN error) are
tries of that attempt: each try's latency and error are kept in the document's ``tries``,
and ``latency_ms`` is their sum.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.attempts import Attempt, Operation, Outcome

from .rows import dumps, utc, utc_or_none
from .tables import attempts


@dataclass(frozen=True, slots=True)
class OwnedAttempt:
    """An attempt with the merchant and idempotency key of the request that made it."""

    attempt: Attempt
    merchant_id: str
    request_key: str


def _doc(attempt: Attempt, tries: Sequence[Mapping[str, Any]]) -> str:
    return dumps({**attempt.to_dict(), "tries": [dict(t) for t in tries]})


# Built once, executed with parameters (see store.py): the statements of every payment.
_INSERT = insert(attempts)
_SAVE = update(attempts).where(attempts.c.id == bindparam("b_id"))
_OF_PAYMENT = (
    select(attempts.c.doc)
    .where(attempts.c.payment_id == bindparam("b_payment"))
    .order_by(attempts.c.seq)
)


class AttemptRepository:
    """``attempts`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, attempt: Attempt, merchant_id: str, request_key: str, *, first: bool = False
    ) -> int:
        """Insert a new attempt as its payment's next in sequence; returns the sequence.

        ``first``: the payment was created in this same transaction, so the attempt is its
        first (sequence 1) and the lookup of the last sequence is skipped. The
        (payment_id, seq) unique index refuses a twin written concurrently, but callers hold
        the payment's lease, so that never happens in practice.
        """
        seq = 1
        if not first:
            last = await self._conn.execute(
                select(func.max(attempts.c.seq)).where(attempts.c.payment_id == attempt.payment_id)
            )
            seq = int(last.scalar_one() or 0) + 1
        values = {
            "id": attempt.id,
            "payment_id": attempt.payment_id,
            "refund_id": attempt.refund_id or None,
            "seq": seq,
            "operation": attempt.operation.value,
            "provider": attempt.provider.value,
            "outcome": attempt.outcome.value,
            "started_at": utc(attempt.started_at),
            "finished_at": utc_or_none(attempt.finished_at),
            "merchant_id": merchant_id,
            "request_key": request_key,
            "doc": _doc(attempt, ()),
        }
        await self._conn.execute(_INSERT, values)
        return seq

    async def save(self, attempt: Attempt, tries: Sequence[Mapping[str, Any]] = ()) -> None:
        """Write a finished (or re-tried) attempt over its row."""
        values = {
            "b_id": attempt.id,
            "outcome": attempt.outcome.value,
            "finished_at": utc_or_none(attempt.finished_at),
            "doc": _doc(attempt, tries),
        }
        await self._conn.execute(_SAVE, values)

    async def get(self, attempt_id: str) -> Attempt | None:
        """One attempt by id."""
        stmt = select(attempts.c.doc).where(attempts.c.id == attempt_id)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else Attempt.from_dict(json.loads(doc))

    async def tries(self, attempt_id: str) -> list[dict[str, Any]]:
        """The tries recorded on an attempt, first first."""
        stmt = select(attempts.c.doc).where(attempts.c.id == attempt_id)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return [] if doc is None else list(json.loads(doc).get("tries", []))

    async def for_payment(self, payment_id: str) -> list[Attempt]:
        """Every attempt of a payment, in the order they were made."""
        docs = (await self._conn.execute(_OF_PAYMENT, {"b_payment": payment_id})).scalars().all()
        return [Attempt.from_dict(json.loads(doc)) for doc in docs]

    async def for_payments(self, payment_ids: Sequence[str]) -> dict[str, list[Attempt]]:
        """The attempts of several payments in one query (a listing page), by payment."""
        out: dict[str, list[Attempt]] = {pid: [] for pid in payment_ids}
        if not payment_ids:
            return out
        stmt = (
            select(attempts.c.payment_id, attempts.c.doc)
            .where(attempts.c.payment_id.in_(list(payment_ids)))
            .order_by(attempts.c.payment_id, attempts.c.seq)
        )
        for payment_id, doc in (await self._conn.execute(stmt)).all():
            out[payment_id].append(Attempt.from_dict(json.loads(doc)))
        return out

    async def latest(
        self, payment_id: str, operation: Operation, refund_id: str = ""
    ) -> Attempt | None:
        """The newest attempt of ``operation`` on a payment (of one refund, when given)."""
        stmt = select(attempts.c.doc).where(
            attempts.c.payment_id == payment_id, attempts.c.operation == operation.value
        )
        if refund_id:
            stmt = stmt.where(attempts.c.refund_id == refund_id)
        stmt = stmt.order_by(attempts.c.seq.desc()).limit(1)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else Attempt.from_dict(json.loads(doc))

    async def stale_pending(self, started_before: datetime, limit: int) -> list[OwnedAttempt]:
        """PENDING attempts started before ``started_before``: their process probably died."""
        stmt = (
            select(attempts.c.doc, attempts.c.merchant_id, attempts.c.request_key)
            .where(attempts.c.outcome == Outcome.PENDING.value)
            .where(attempts.c.started_at < utc(started_before))
            .order_by(attempts.c.started_at, attempts.c.id)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).all()
        return [
            OwnedAttempt(Attempt.from_dict(json.loads(doc)), merchant, key)
            for doc, merchant, key in rows
        ]
