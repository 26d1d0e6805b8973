"""Which of our objects a provider callback names: lookups by the provider's own ids.

A callback names a payment by the provider's id for it (Stripe ``pi_...``, an Authorize.net
transId, Razorpay ``pay_...``, a PayPal order id), sometimes by another id of it (a PayPal
capture id), sometimes by the reference we sent when creating it (our attempt id, in Stripe's
metadata, Razorpay's notes and PayPal's ``custom_id``), and a refund by the refund's own id.

Conversions and payouts keep the provider's id in a column of their own. Payments and refunds
keep it only inside their JSON document (``rows.payment_doc``), so those lookups read the
document with the backend's JSON function (``jsonb_extract_path_text`` on PostgreSQL,
``json_extract`` on SQLite). Migration 0004 indexes exactly those expressions (a payment's
with its ``provider`` first), so each lookup is an index seek, not a scan of a provider's
payments; ``_json_text`` must keep spelling them the same way, path included
(tests/integration/gateway_store/test_provider_ref_indexes.py explains the plans).
Callbacks that carry our attempt id are resolved by ``payment_by_attempt``, a primary-key
read, first.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.providers import Provider

from .tables import attempts, conversions, payments, payouts, refunds

_PATH_KEY = re.compile(r"[a-z_]{1,40}")
PROVIDER_REF = ("provider_ref",)
"""The document path of a payment's or refund's provider id; ``("provider_refs", key)`` is
where a payment keeps another of its provider ids (PayPal's ``capture_id``)."""

# Built once (see store.py): a callback that echoes our attempt id is resolved by this alone.
_BY_ATTEMPT = select(attempts.c.payment_id).where(
    attempts.c.id == bindparam("b_id"), attempts.c.provider == bindparam("b_provider")
)


class ProviderObjectRefs:
    """Read-only lookups on one connection (bound by the callbacks' unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    def _json_text(self, column: ColumnElement[str], path: tuple[str, ...]) -> ColumnElement[str]:
        """The text at ``path`` in a JSON document column, spelled exactly as migration 0004's
        indexes are, the path as constants in the SQL: a bound path would keep PostgreSQL's
        generic plans (psycopg prepares a statement after five runs) and SQLite's planner from
        matching the index, and every lookup would read all of a provider's payments."""
        for key in path:
            # Constants of this package (PROVIDER_REF, the service layer's provider_refs
            # keys), never a caller's input; checked anyway, as they are written into SQL.
            if not _PATH_KEY.fullmatch(key):
                raise ValueError(f"not a document key: {key!r}")
        if self._conn.dialect.name == "postgresql":
            keys: list[ColumnElement[str]] = [literal_column(f"'{key}'") for key in path]
            return func.jsonb_extract_path_text(cast(column, JSONB), *keys)
        return func.json_extract(column, literal_column(f"'$.{'.'.join(path)}'"))

    async def payment_by_ref(
        self, provider: Provider, value: str, path: tuple[str, ...] = PROVIDER_REF
    ) -> str | None:
        """The id of ``provider``'s payment whose document holds ``value`` at ``path``
        (the oldest, should two); None when no payment does."""
        if not value:
            return None
        stmt = (
            select(payments.c.id)
            .where(payments.c.provider == provider.value)
            .where(self._json_text(payments.c.doc, path) == value)
            .order_by(payments.c.create_time, payments.c.id)
            .limit(1)
        )
        found: str | None = (await self._conn.execute(stmt)).scalar_one_or_none()
        return found

    async def payment_by_attempt(self, provider: Provider, attempt_id: str) -> str | None:
        """The id of the payment whose attempt at ``provider`` had this id (our reference,
        echoed back in a callback); None for another provider's or no attempt."""
        if not attempt_id:
            return None
        params = {"b_id": attempt_id, "b_provider": provider.value}
        found: str | None = (await self._conn.execute(_BY_ATTEMPT, params)).scalar_one_or_none()
        return found

    async def refund_by_ref(self, provider: Provider, value: str) -> tuple[str, str] | None:
        """(payment id, refund id) of the refund ``provider`` calls ``value``; None if none."""
        if not value:
            return None
        stmt = (
            select(refunds.c.payment_id, refunds.c.id)
            .join(payments, payments.c.id == refunds.c.payment_id)
            .where(payments.c.provider == provider.value)
            .where(self._json_text(refunds.c.doc, PROVIDER_REF) == value)
            .limit(1)
        )
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else (str(row[0]), str(row[1]))

    async def conversion_by_ref(self, value: str) -> str | None:
        """The id of the conversion the FX provider calls ``value``."""
        return await self._by_column(conversions.c.id, conversions.c.provider_ref, value)

    async def payout_by_ref(self, value: str) -> str | None:
        """The id of the payout the FX provider calls ``value``."""
        return await self._by_column(payouts.c.id, payouts.c.provider_ref, value)

    async def _by_column(
        self, id_column: ColumnElement[str], ref_column: ColumnElement[str], value: str
    ) -> str | None:
        if not value:
            return None
        stmt = select(id_column).where(ref_column == value).limit(1)
        found: str | None = (await self._conn.execute(stmt)).scalar_one_or_none()
        return found
