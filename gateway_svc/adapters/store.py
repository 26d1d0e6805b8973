"""Payments on one connection: the aggregate store, its lease, and the reconciler's schedule.

Every read a merchant can cause is scoped by ``merchant_id``: another merchant's payment id
finds nothing, exactly like an id that does not exist (reliability.md, "cross-tenant
answers"). ``get_any`` is for the gateway's own workers (relay, reconciler), never for a
request path.

Writes are optimistic: ``update`` names the version it read and raises
``ConcurrentModification`` when the row moved on. The lease (``take_lease``) is a separate,
coarser guard: it keeps a whole multi-commit mutation (commit, provider call, commit) to one
holder at a time, which a version check alone cannot do because no transaction stays open
across the provider call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import Provider

from .rows import payment_from_doc, payment_values, utc
from .tables import payments


@dataclass(frozen=True, slots=True)
class PaymentFilter:
    """ListPayments filters; None or empty matches everything. ``created_before`` is
    exclusive, ``created_after`` inclusive."""

    statuses: frozenset[PaymentStatus] = frozenset()
    provider: Provider | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    merchant_reference: str = ""


@dataclass(frozen=True, slots=True)
class DueCheck:
    """A payment the reconciler should ask its provider about, and how often it already did."""

    payment: Payment
    checks_done: int


# Built once: executed with their values as parameters, so SQLAlchemy skips rebuilding them
# and hashing bound literals into a cache key on every call (the create path's statements).
_INSERT = insert(payments)
_HELD = payments.c.lease_key == bindparam("b_holder")
_SETTLE = (
    update(payments)
    .where(payments.c.id == bindparam("b_id"), payments.c.version == bindparam("b_read"))
    .values(
        lease_key=case((_HELD, None), else_=payments.c.lease_key),
        lease_until=case((_HELD, None), else_=payments.c.lease_until),
    )
)
_BY_ID = payments.c.id == bindparam("b_id")
_GET_ANY = select(payments.c.doc).where(_BY_ID)
_UPDATE = update(payments).where(_BY_ID, payments.c.version == bindparam("b_read"))
_TAKE_LEASE = (
    update(payments)
    .where(
        _BY_ID,
        or_(
            payments.c.lease_key.is_(None),
            payments.c.lease_until <= bindparam("b_now"),
            _HELD,
        ),
    )
    .values(lease_key=bindparam("b_holder"), lease_until=bindparam("b_until"))
)
_RELEASE_LEASE = update(payments).where(_BY_ID, _HELD).values(lease_key=None, lease_until=None)


class PaymentRepository:
    """``payments`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, payment: Payment, *, lease_key: str = "", lease_until: datetime | None = None
    ) -> None:
        """Insert a new payment, optionally already leased to the request creating it."""
        values = payment_values(payment)
        values |= {"checks_done": 0, "next_check_at": None}
        if lease_key and lease_until is not None:
            values |= {"lease_key": lease_key, "lease_until": utc(lease_until)}
        await self._conn.execute(_INSERT, values)

    async def get(self, merchant_id: str, payment_id: str) -> Payment | None:
        """The merchant's payment with this id; None for a missing or another's payment."""
        stmt = select(payments.c.doc).where(
            payments.c.id == payment_id, payments.c.merchant_id == merchant_id
        )
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else payment_from_doc(json.loads(doc))

    async def get_any(self, payment_id: str) -> Payment | None:
        """Any merchant's payment: for the gateway's workers only, never a request path."""
        doc = (await self._conn.execute(_GET_ANY, {"b_id": payment_id})).scalar_one_or_none()
        return None if doc is None else payment_from_doc(json.loads(doc))

    async def update(self, payment: Payment, read_version: int) -> None:
        """Write ``payment`` over the row at ``read_version``, or raise ConcurrentModification."""
        values = payment_values(payment)
        for column in ("id", "merchant_id", "create_time"):
            values.pop(column)
        values |= {"b_id": payment.id, "b_read": read_version}
        result = await self._conn.execute(_UPDATE, values)
        if result.rowcount != 1:
            raise ConcurrentModification(
                f"payment {payment.id} changed since it was read; retry the request",
                metadata={"payment_id": payment.id},
            )

    async def settle(
        self,
        payment: Payment,
        read_version: int,
        *,
        holder: str,
        next_check_at: datetime | None,
    ) -> None:
        """A use case's last write of a payment in one statement: the payment as it now is
        (over ``read_version``, else ConcurrentModification), its first reconciler check (or
        none), and the lease let go if ``holder`` still has it.

        ``update`` + ``schedule_check`` + ``release_lease`` as three statements cost a create
        two round trips more; the result is the same row.
        """
        values = payment_values(payment)
        for column in ("id", "merchant_id", "create_time"):
            values.pop(column)
        values |= {
            "next_check_at": utc(next_check_at) if next_check_at is not None else None,
            "checks_done": 0,
            "b_id": payment.id,
            "b_read": read_version,
            "b_holder": holder,
        }
        result = await self._conn.execute(_SETTLE, values)
        if result.rowcount != 1:
            raise ConcurrentModification(
                f"payment {payment.id} changed since it was read; retry the request",
                metadata={"payment_id": payment.id},
            )

    async def take_lease(
        self, payment_id: str, holder: str, until: datetime, now: datetime
    ) -> bool:
        """Lease the payment to ``holder`` until ``until``: True when it was free, expired or
        already ``holder``'s (a resumed request takes its own lease back)."""
        params = {"b_id": payment_id, "b_holder": holder, "b_now": utc(now),
                  "b_until": utc(until)}  # fmt: skip
        result = await self._conn.execute(_TAKE_LEASE, params)
        return result.rowcount == 1

    async def release_lease(self, payment_id: str, holder: str) -> None:
        """Let go of the lease if ``holder`` still has it."""
        await self._conn.execute(_RELEASE_LEASE, {"b_id": payment_id, "b_holder": holder})

    async def schedule_check(self, payment_id: str, at: datetime | None, checks_done: int) -> None:
        """When the reconciler should next ask the provider (None: no check is needed)."""
        await self._conn.execute(
            update(payments)
            .where(payments.c.id == payment_id)
            .values(next_check_at=utc(at) if at is not None else None, checks_done=checks_done)
        )

    async def due_checks(self, now: datetime, limit: int) -> list[DueCheck]:
        """Payments whose check is due and that nobody holds a live lease on, oldest first."""
        stmt = (
            select(payments.c.doc, payments.c.checks_done)
            .where(payments.c.next_check_at <= utc(now))
            .where(or_(payments.c.lease_key.is_(None), payments.c.lease_until <= utc(now)))
            .order_by(payments.c.next_check_at, payments.c.id)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).all()
        return [DueCheck(payment_from_doc(json.loads(doc)), int(done)) for doc, done in rows]

    async def list(
        self,
        merchant_id: str,
        f: PaymentFilter,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Payment]:
        """The merchant's payments, newest first, strictly after the key ``after``
        (create_time, id) of the previous page."""
        p = payments.c
        stmt = select(p.doc).where(p.merchant_id == merchant_id)
        if f.statuses:
            stmt = stmt.where(p.status.in_(sorted(s.value for s in f.statuses)))
        if f.provider is not None:
            stmt = stmt.where(p.provider == f.provider.value)
        if f.created_after is not None:
            stmt = stmt.where(p.create_time >= utc(f.created_after))
        if f.created_before is not None:
            stmt = stmt.where(p.create_time < utc(f.created_before))
        if f.merchant_reference:
            stmt = stmt.where(p.merchant_reference == f.merchant_reference)
        if after is not None:
            stmt = stmt.where(tuple_(p.create_time, p.id) < tuple_(utc(after[0]), after[1]))
        stmt = stmt.order_by(p.create_time.desc(), p.id.desc()).limit(limit)
        docs = (await self._conn.execute(stmt)).scalars().all()
        return [payment_from_doc(json.loads(doc)) for doc in docs]

    async def lease_of(self, payment_id: str) -> tuple[str | None, datetime | None]:
        """(holder, until) of the payment's lease; (None, None) when free."""
        stmt = select(payments.c.lease_key, payments.c.lease_until).where(
            payments.c.id == payment_id
        )
        row = (await self._conn.execute(stmt)).one_or_none()
        if row is None or row[0] is None:
            return None, None
        return str(row[0]), utc(row[1])
