"""Issue 7: webhook endpoints, events, deliveries and attempts; provider callbacks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Spelled out, not imported: a migration must keep meaning what it meant when it was written.
_EVENT_STATUSES = "'pending', 'delivered', 'failing', 'dead_letter'"
_DELIVERY_STATUSES = "'pending', 'delivering', 'delivered', 'dead', 'canceled'"
_ATTEMPT_OUTCOMES = "'delivered', 'retry_scheduled', 'dead_lettered', 'endpoint_gone'"
_INBOUND_OUTCOMES = "'received', 'processed', 'ignored', 'failed'"
_UNFINISHED = "status IN ('pending', 'delivering')"
_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the five tables of ``gateway_svc.adapters.webhook_tables``."""
    _endpoints()
    _events()
    _deliveries()
    _attempts()
    _provider_events()


def _endpoints() -> None:
    """A merchant's receivers; soft-deleted, secrets sealed."""
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled_events", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=False),
        sa.Column("secrets", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("version >= 0", name="ck_webhook_endpoints_version"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_endpoints_merchant_time",
        "webhook_endpoints",
        ["merchant_id", "created_at", "id"],
    )


def _events() -> None:
    """The merchant events outbox: exact document bytes and a summary status."""
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint(f"status IN ({_EVENT_STATUSES})", name="ck_webhook_events_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_events_merchant_time", "webhook_events", ["merchant_id", "created_at", "id"]
    )
    op.create_index(
        "ix_webhook_events_merchant_type_time",
        "webhook_events",
        ["merchant_id", "type", "created_at", "id"],
    )


def _deliveries() -> None:
    """One queue row per (event, endpoint); the unfinished ones indexed for the claim."""
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("round_base", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            f"status IN ({_DELIVERY_STATUSES})", name="ck_webhook_deliveries_status"
        ),
        sa.CheckConstraint(
            "attempts >= 0 AND round_base >= 0 AND round_base <= attempts",
            name="ck_webhook_deliveries_attempts",
        ),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["webhook_events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_webhook_deliveries_event_endpoint",
        "webhook_deliveries",
        ["event_id", "endpoint_id"],
        unique=True,
    )
    op.create_index(
        "ix_webhook_deliveries_unfinished",
        "webhook_deliveries",
        ["endpoint_id", "id"],
        postgresql_where=sa.text(_UNFINISHED),
        sqlite_where=sa.text(_UNFINISHED),
    )


def _attempts() -> None:
    """Every HTTP attempt, numbered per delivery across redeliveries."""
    op.create_table(
        "webhook_attempts",
        sa.Column("delivery_id", _SERIAL, autoincrement=False, nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.String(length=512), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.CheckConstraint("attempt >= 1 AND latency_ms >= 0", name="ck_webhook_attempts_numbers"),
        sa.CheckConstraint(f"outcome IN ({_ATTEMPT_OUTCOMES})", name="ck_webhook_attempts_outcome"),
        sa.CheckConstraint("length(response_excerpt) <= 512", name="ck_webhook_attempts_excerpt"),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"]),
        sa.PrimaryKeyConstraint("delivery_id", "attempt"),
    )


def _provider_events() -> None:
    """Provider callbacks, once per (provider, event id), raw bytes kept for audit."""
    op.create_table(
        "provider_webhook_events",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_event_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("raw_body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            f"outcome IN ({_INBOUND_OUTCOMES})", name="ck_provider_webhook_events_outcome"
        ),
        sa.PrimaryKeyConstraint("provider", "provider_event_id"),
    )
    op.create_index(
        "ix_provider_webhook_events_received", "provider_webhook_events", ["received_at"]
    )


def downgrade() -> None:
    """Drop the five tables, referencing ones first (their indexes go with them)."""
    for table in (
        "provider_webhook_events",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_events",
        "webhook_endpoints",
    ):
        op.drop_table(table)
