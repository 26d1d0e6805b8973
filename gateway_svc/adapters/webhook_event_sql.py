"""The statements ``WebhookEventRepository.emit`` runs on every state change, built once.

Everything that varies is an SQL parameter (``bindparam``), so each statement is built once
per process (per backend) and SQLAlchemy reuses its
compiled form: built per event with the values inside, they were compiled again for every
state change (a tenth of the gateway's time per payment, measured with py-spy).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Column,
    ColumnElement,
    and_,
    bindparam,
    case,
    exists,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .rows import utc
from .webhook_records import DeliveryStatus, EventStatus, NewEvent
from .webhook_tables import webhook_deliveries, webhook_endpoints, webhook_events

_LIKE_ESCAPE = "/"


def type_filter_pattern(event_type: str) -> str:
    """The LIKE pattern that finds ``event_type``, with its quotes, in a filter's JSON list
    (``webhook_store`` writes ``json.dumps``: ``[]`` or quoted names). The quotes keep one name
    from matching inside another; LIKE's wildcards in the name are escaped."""
    quoted = f'"{event_type}"'
    for special in (_LIKE_ESCAPE, "%", "_"):  # the escape character itself first
        quoted = quoted.replace(special, _LIKE_ESCAPE + special)
    return f"%{quoted}%"


def wanted_by(merchant_id: Any, type_filter: Any) -> ColumnElement[bool]:
    """The SQL twin of ``EndpointRecord.accepts`` over the merchant's live endpoints: enabled,
    not deleted, and a filter that is empty or matches ``type_filter``
    (``type_filter_pattern`` of the event's type).
    """
    e = webhook_endpoints.c
    return and_(
        e.merchant_id == merchant_id,
        e.enabled.is_(True),
        e.deleted_at.is_(None),
        (e.enabled_events == "[]") | e.enabled_events.like(type_filter, escape=_LIKE_ESCAPE),
    )


def event_params(event: NewEvent) -> dict[str, object]:
    """The parameters of one event in ``emit_statement``."""
    return {
        "id": event.id,
        "merchant_id": event.merchant_id,
        "type": event.type,
        "document": event.document,
        "created_at": utc(event.created_at),
        "type_filter": type_filter_pattern(event.type),
    }


def _param(name: str, column: Column[Any]) -> BindParameter[Any]:
    return bindparam(name, type_=column.type)


_EMITS: dict[str, Any] = {}
_QUEUES: dict[str, Any] = {}
CHOSEN = ("event_id", "endpoint_id", "merchant_id")
"""The columns of a queued delivery that come from the event and its endpoint."""


def emit_statement(dialect: str) -> Any:
    """``INSERT`` of one event (parameters named as its columns, and ``type_filter``) unless
    its id is stored, ``RETURNING`` id and status; built once per backend.

    The row computes its own status with an EXISTS over the endpoints: PENDING when one
    wants the event, DELIVERED when nobody does (nothing is owed). Executed with a list of
    events, SQLAlchemy sends them as one multi-row statement (its "insertmanyvalues"), from
    this one cached compilation; a multi-row ``.values([...])`` statement is never cached
    by SQLAlchemy, and compiling it cost a tenth of the gateway's time per payment.
    """
    stmt = _EMITS.get(dialect)
    if stmt is None:
        w = webhook_events.c
        merchant = _param("merchant_id", w.merchant_id)
        someone = exists().where(wanted_by(merchant, bindparam("type_filter", "")))
        row = {
            "id": _param("id", w.id),
            "merchant_id": merchant,
            "type": _param("type", w.type),
            "document": _param("document", w.document),
            "created_at": _param("created_at", w.created_at),
            "status": case((someone, EventStatus.PENDING.value), else_=EventStatus.DELIVERED.value),
        }
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = _EMITS[dialect] = (
            make(webhook_events)
            .values(row)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(w.id, w.status)
        )
    return stmt


def queue_statement(dialect: str) -> Any:
    """``INSERT ... SELECT`` of one event's delivery (parameters ``id``, ``merchant_id``,
    ``type_filter`` and the rest of ``new_delivery``'s row) to each endpoint that wants it,
    ``RETURNING`` the new ids; built once per backend."""
    stmt = _QUEUES.get(dialect)
    if stmt is None:
        e, d = webhook_endpoints.c, webhook_deliveries.c
        fixed = [
            name
            for name in new_delivery("", "", "", datetime.min.replace(tzinfo=UTC))
            if name not in CHOSEN
        ]
        chosen = (
            select(
                _param("id", d.event_id),
                e.id,
                e.merchant_id,
                *(_param(name, d[name]) for name in fixed),
            )
            .where(wanted_by(_param("merchant_id", e.merchant_id), bindparam("type_filter", "")))
            # Ids follow the insertion order: an endpoint's deliveries go out in id order.
            .order_by(e.created_at, e.id)
            # The endpoints chosen stay as they are until this transaction ends: a concurrent
            # disable or delete waits, then its cancel sees these deliveries (under READ
            # COMMITTED it would otherwise miss them, and they would stay pending for an
            # endpoint that no longer takes anything). One that disabled first is not chosen.
            # SQLite needs none: its writers take turns.
            .with_for_update(read=True, of=webhook_endpoints)
        )
        stmt = _QUEUES[dialect] = (
            insert(webhook_deliveries)
            .from_select([*CHOSEN, *fixed], chosen)
            .returning(webhook_deliveries.c.id)
        )
    return stmt


def new_delivery(
    event_id: str, endpoint_id: str, merchant_id: str, at: datetime
) -> dict[str, object]:
    """The row of a delivery queued at ``at``, due at once."""
    return {
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "merchant_id": merchant_id,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "round_base": 0,
        "next_attempt_at": at,
        "created_at": at,
        "updated_at": at,
    }
