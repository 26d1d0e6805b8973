"""The webhook tables (issue 7), on the same ``metadata`` as ``tables`` (Alembic 0003).

Outbound, merchant webhooks:

- ``webhook_endpoints``: a merchant's receivers. Soft-deleted (``deleted_at``), so the
  deliveries and attempts of old events still name their endpoint. The signing secrets are
  one sealed blob (``secret_box``): a database dump alone does not let anyone forge our
  signatures.
- ``webhook_events``: the outbox of merchant events, written in the transaction of the state
  change that caused them. ``document`` holds the exact bytes sent (and signed) on every
  attempt; ``status`` is a summary of the event's deliveries, kept in step by the delivery
  repository, so ListEvents can filter on it (dead letters above all) without a join.
- ``webhook_deliveries``: one row per (event, endpoint), its queue state. ``id`` is a
  database sequence, so it is also the order of creation: an endpoint receives its events in
  ``id`` order, one unfinished delivery (the head) at a time.
- ``webhook_attempts``: the history of every HTTP try, numbered per delivery, kept across
  redeliveries.

Inbound: ``provider_webhook_events`` records each provider callback once per (provider,
provider event id), with the raw bytes for audit. The unique key is the deduplication.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from .tables import metadata
from .webhook_records import (
    UNFINISHED,
    AttemptOutcome,
    DeliveryStatus,
    EventStatus,
    InboundOutcome,
)

# SQLite gives INTEGER PRIMARY KEY columns their own autoincrement; BIGINT would not be one.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")

RESPONSE_EXCERPT_CHARS = 512


def _in(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


EVENT_STATUSES = _in(EventStatus)
DELIVERY_STATUSES = _in(DeliveryStatus)
ATTEMPT_OUTCOMES = _in(AttemptOutcome)
INBOUND_OUTCOMES = _in(InboundOutcome)
UNFINISHED_WHERE = f"status IN ({_in(UNFINISHED)})"
"""The deliveries still owed: the claim's partial index and the per-endpoint head."""


webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False),
    # JSON list of event type names; an empty list means every type.
    Column("enabled_events", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text, nullable=False),
    # secret_box-sealed JSON list of [secret, expires_at or null].
    Column("secrets", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("version >= 0", name="ck_webhook_endpoints_version"),
)
Index(
    "ix_webhook_endpoints_merchant_time",
    webhook_endpoints.c.merchant_id,
    webhook_endpoints.c.created_at,
    webhook_endpoints.c.id,
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("document", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    CheckConstraint(f"status IN ({EVENT_STATUSES})", name="ck_webhook_events_status"),
)
Index(
    "ix_webhook_events_merchant_time",
    webhook_events.c.merchant_id,
    webhook_events.c.created_at,
    webhook_events.c.id,
)
Index(
    "ix_webhook_events_merchant_type_time",
    webhook_events.c.merchant_id,
    webhook_events.c.type,
    webhook_events.c.created_at,
    webhook_events.c.id,
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("event_id", String(40), ForeignKey("webhook_events.id"), nullable=False),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    # Every attempt ever made; the next one is number attempts + 1 (webhook_attempts' key).
    Column("attempts", Integer, nullable=False),
    # ``attempts`` when the latest redelivery began: the retry schedule counts from here.
    Column("round_base", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    # The claim's lease. A worker that dies mid-attempt leaves the row to be claimed again
    # once it passes; it also fences a late worker's result out (see webhook_delivery_store).
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(f"status IN ({DELIVERY_STATUSES})", name="ck_webhook_deliveries_status"),
    CheckConstraint(
        "attempts >= 0 AND round_base >= 0 AND round_base <= attempts",
        name="ck_webhook_deliveries_attempts",
    ),
)
# An event is queued once per endpoint; a redelivery reuses the row.
Index(
    "ux_webhook_deliveries_event_endpoint",
    webhook_deliveries.c.event_id,
    webhook_deliveries.c.endpoint_id,
    unique=True,
)
# The claim looks only at unfinished rows: small however long the history grows.
Index(
    "ix_webhook_deliveries_unfinished",
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.id,
    postgresql_where=text(UNFINISHED_WHERE),
    sqlite_where=text(UNFINISHED_WHERE),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "delivery_id",
        _SERIAL,
        ForeignKey("webhook_deliveries.id"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("attempt", Integer, primary_key=True, autoincrement=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("response_excerpt", String(RESPONSE_EXCERPT_CHARS), nullable=False),
    Column("outcome", String(16), nullable=False),
    CheckConstraint("attempt >= 1 AND latency_ms >= 0", name="ck_webhook_attempts_numbers"),
    CheckConstraint(f"outcome IN ({ATTEMPT_OUTCOMES})", name="ck_webhook_attempts_outcome"),
    CheckConstraint(
        f"length(response_excerpt) <= {RESPONSE_EXCERPT_CHARS}",
        name="ck_webhook_attempts_excerpt",
    ),
)

provider_webhook_events = Table(
    "provider_webhook_events",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("provider_event_id", String(200), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("raw_body", LargeBinary, nullable=False),
    # JSON object of the headers that signed and identified the callback.
    Column("headers", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    CheckConstraint(f"outcome IN ({INBOUND_OUTCOMES})", name="ck_provider_webhook_events_outcome"),
)
Index("ix_provider_webhook_events_received", provider_webhook_events.c.received_at)
