"""Initial gateway schema: payments, refunds, attempts, idempotency keys, outbox, ledger refs.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table and index of ``gateway_svc.adapters.tables``."""
    _attempts()
    _keys()
    _ledger()
    _outbox()
    _payments()
    _refunds()


def _attempts() -> None:
    """Provider attempts, numbered per payment; pending ones are indexed for the reconciler."""
    op.create_table(
        "attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("refund_id", sa.String(length=40), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("request_key", sa.String(length=255), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_attempts_payment_seq", "attempts", ["payment_id", "seq"], unique=True)
    op.create_index(
        "ix_attempts_pending",
        "attempts",
        ["started_at"],
        unique=False,
        postgresql_where=sa.text("outcome = 'pending'"),
        sqlite_where=sa.text("outcome = 'pending'"),
    )


def _keys() -> None:
    """Idempotency keys; unfinished ones are indexed for the completer."""
    op.create_table(
        "idempotency_keys",
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recovery_point", sa.String(length=24), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("refund_id", sa.String(length=40), nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "key"),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"], unique=False)
    op.create_index(
        "ix_idempotency_keys_open",
        "idempotency_keys",
        ["locked_at"],
        unique=False,
        postgresql_where=sa.text("recovery_point <> 'finished'"),
        sqlite_where=sa.text("recovery_point <> 'finished'"),
    )


def _ledger() -> None:
    """What the gateway remembers about the ledger: account and transaction ids."""
    op.create_table(
        "ledger_accounts",
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )


def _outbox() -> None:
    """The outbox; undone and parked items are indexed for the relay and operators."""
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_outbox_group", "outbox", ["group_key", "id"], unique=False)
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["available_at", "id"],
        unique=False,
        postgresql_where=sa.text("done_at IS NULL"),
        sqlite_where=sa.text("done_at IS NULL"),
    )
    op.create_index(
        "ix_outbox_parked",
        "outbox",
        ["parked_at"],
        unique=False,
        postgresql_where=sa.text("parked_at IS NOT NULL"),
        sqlite_where=sa.text("parked_at IS NOT NULL"),
    )


def _payments() -> None:
    """Payments: a JSON document beside the columns queries filter and sort on."""
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("merchant_reference", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checks_done", sa.Integer(), nullable=False),
        sa.Column("lease_key", sa.String(length=300), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint("version >= 0", name="ck_payments_version"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_payments_merchant_reference",
        "payments",
        ["merchant_id", "merchant_reference"],
        unique=False,
    )
    op.create_index(
        "ix_payments_merchant_time", "payments", ["merchant_id", "create_time", "id"], unique=False
    )
    op.create_index(
        "ix_payments_next_check",
        "payments",
        ["next_check_at"],
        unique=False,
        postgresql_where=sa.text("next_check_at IS NOT NULL"),
        sqlite_where=sa.text("next_check_at IS NOT NULL"),
    )


def _refunds() -> None:
    """Refunds, the same way as payments."""
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checks_done", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name="ck_refunds_status"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_refunds_next_check",
        "refunds",
        ["next_check_at"],
        unique=False,
        postgresql_where=sa.text("next_check_at IS NOT NULL"),
        sqlite_where=sa.text("next_check_at IS NOT NULL"),
    )
    op.create_index(
        "ix_refunds_payment", "refunds", ["payment_id", "create_time", "id"], unique=False
    )


def downgrade() -> None:
    """Drop every gateway table (their indexes go with them)."""
    for table in (
        "attempts",
        "idempotency_keys",
        "ledger_accounts",
        "ledger_transactions",
        "outbox",
        "payments",
        "refunds",
    ):
        op.drop_table(table)
