"""Provider callbacks on one connection: deduplication by the provider's event id, and the
raw record for audit.

Record a callback in the transaction that applies it. A rollback (the ledger down, a crash)
then forgets it too, so the provider's retry is processed afresh; once committed, a replay
is recognised (``record_provider_event`` answers False) and has no second effect. A callback
whose processing was marked FAILED (committed on purpose, to keep the evidence) is taken
over by the next retry, so a failure is never mistaken for a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .dialect import insert_or_ignore
from .rows import utc, utc_or_none
from .webhook_records import InboundOutcome, ProviderEventRecord
from .webhook_tables import provider_webhook_events

_ERROR_CHARS = 2000
_p = provider_webhook_events.c
# Built once, executed with parameters (see store.py): every callback runs these.
_KEY = (_p.provider == bindparam("b_provider"), _p.provider_event_id == bindparam("b_event"))
_OUTCOME = select(_p.outcome).where(*_KEY)
_MARK = update(provider_webhook_events).where(*_KEY)


class ProviderEventRepository:
    """``provider_webhook_events`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def record_provider_event(
        self,
        provider: str,
        provider_event_id: str,
        event_type: str,
        raw_body: bytes,
        headers: Mapping[str, str],
        received_at: datetime,
    ) -> bool:
        """Record a verified callback; True when this call should process it (first seen,
        or a retry of one that failed), False for a duplicate. Concurrent deliveries of one
        event have exactly one winner (``dialect.insert_or_ignore``)."""
        values = {
            "provider": provider,
            "provider_event_id": provider_event_id,
            "received_at": utc(received_at),
            "event_type": event_type,
            "raw_body": raw_body,
            "headers": json.dumps(dict(headers), separators=(",", ":"), sort_keys=True),
            "outcome": InboundOutcome.RECEIVED.value,
        }
        keys = ("provider", "provider_event_id")
        if await insert_or_ignore(self._conn, provider_webhook_events, values, keys):
            return True
        takeover = (
            update(provider_webhook_events)
            .where(*self._key(provider, provider_event_id))
            .where(_p.outcome == InboundOutcome.FAILED.value)
            .values(outcome=InboundOutcome.RECEIVED.value, processed_at=None)
        )
        return bool((await self._conn.execute(takeover)).rowcount == 1)

    async def mark_processed(
        self,
        provider: str,
        provider_event_id: str,
        now: datetime,
        *,
        ignored: bool = False,
        note: str = "",
    ) -> None:
        """The callback was applied (or, ``ignored``, needed nothing: a type we do not act
        on, or a state already reached). ``note`` says why it was ignored; it is kept in the
        ``error`` column, which an IGNORED row otherwise leaves empty."""
        outcome = InboundOutcome.IGNORED if ignored else InboundOutcome.PROCESSED
        values = {"outcome": outcome.value, "processed_at": utc(now),
                  "error": note[:_ERROR_CHARS] or None}  # fmt: skip
        await self._conn.execute(
            _MARK, {**values, "b_provider": provider, "b_event": provider_event_id}
        )

    async def mark_failed(
        self, provider: str, provider_event_id: str, error: str, now: datetime
    ) -> None:
        """Processing failed with ``error``; the provider's next retry takes it over."""
        await self._conn.execute(
            update(provider_webhook_events)
            .where(*self._key(provider, provider_event_id))
            .values(
                outcome=InboundOutcome.FAILED.value,
                processed_at=utc(now),
                error=error[:_ERROR_CHARS],
            )
        )

    async def outcome(self, provider: str, provider_event_id: str) -> InboundOutcome | None:
        """How the recorded callback ended so far (None: never received); cheaper than
        ``get``, which reads the raw body too."""
        params = {"b_provider": provider, "b_event": provider_event_id}
        found = (await self._conn.execute(_OUTCOME, params)).scalar_one_or_none()
        return None if found is None else InboundOutcome(found)

    async def get(self, provider: str, provider_event_id: str) -> ProviderEventRecord | None:
        """The recorded callback, raw bytes and headers as received."""
        stmt = select(provider_webhook_events).where(*self._key(provider, provider_event_id))
        row = (await self._conn.execute(stmt)).mappings().one_or_none()
        if row is None:
            return None
        return ProviderEventRecord(
            provider=row["provider"],
            provider_event_id=row["provider_event_id"],
            event_type=row["event_type"],
            received_at=utc(row["received_at"]),
            raw_body=bytes(row["raw_body"]),
            headers=json.loads(row["headers"]),
            outcome=InboundOutcome(row["outcome"]),
            processed_at=utc_or_none(row["processed_at"]),
            error=row["error"],
        )

    @staticmethod
    def _key(provider: str, provider_event_id: str) -> tuple[ColumnElement[bool], ...]:
        return (_p.provider == provider, _p.provider_event_id == provider_event_id)
