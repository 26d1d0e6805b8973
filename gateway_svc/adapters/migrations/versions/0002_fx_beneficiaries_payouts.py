"""Issue 6: FX quotes and conversions, beneficiaries, payouts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CONVERSION_STATUSES = "'pending', 'awaiting_funds', 'funds_arrived', 'completed', 'failed'"
_PAYOUT_STATUSES = "'pending', 'submitted', 'completed', 'failed', 'canceled'"
_CHECK_DUE = "next_check_at IS NOT NULL"


def upgrade() -> None:
    """Create the four tables of ``gateway_svc.adapters.tables`` issue 6 added."""
    _quotes()
    _conversions()
    _beneficiaries()
    _payouts()


def _quotes() -> None:
    """Quotes: a merchant's priced, time-limited rates, each redeemable once."""
    op.create_table(
        "quotes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("buy_currency", sa.String(length=3), nullable=False),
        sa.Column("sell_currency", sa.String(length=3), nullable=False),
        sa.Column("buy_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("sell_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_by", sa.String(length=40), nullable=True),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "buy_amount_minor > 0 AND sell_amount_minor > 0", name="ck_quotes_amounts_positive"
        ),
        sa.CheckConstraint("buy_currency <> sell_currency", name="ck_quotes_currencies_differ"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quotes_merchant_time", "quotes", ["merchant_id", "create_time"])
    op.create_index("ix_quotes_expire_time", "quotes", ["expire_time"])


def _conversions() -> None:
    """Conversions: one per quote (unique), polled while not final."""
    op.create_table(
        "conversions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("quote_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("buy_currency", sa.String(length=3), nullable=False),
        sa.Column("sell_currency", sa.String(length=3), nullable=False),
        sa.Column("buy_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("sell_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checks_done", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "buy_amount_minor > 0 AND sell_amount_minor > 0",
            name="ck_conversions_amounts_positive",
        ),
        sa.CheckConstraint(f"status IN ({_CONVERSION_STATUSES})", name="ck_conversions_status"),
        sa.CheckConstraint("version >= 0", name="ck_conversions_version"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_conversions_merchant_time", "conversions", ["merchant_id", "create_time", "id"]
    )
    op.create_index("ux_conversions_quote", "conversions", ["quote_id"], unique=True)
    op.create_index(
        "ix_conversions_next_check",
        "conversions",
        ["next_check_at"],
        postgresql_where=sa.text(_CHECK_DUE),
        sqlite_where=sa.text(_CHECK_DUE),
    )


def _beneficiaries() -> None:
    """Beneficiaries: soft-deleted, so the payouts that name them keep their payee."""
    op.create_table(
        "beneficiaries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bank_country", sa.String(length=2), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delete_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.CheckConstraint("version >= 0", name="ck_beneficiaries_version"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_beneficiaries_merchant_time", "beneficiaries", ["merchant_id", "create_time", "id"]
    )


def _payouts() -> None:
    """Payouts: polled while not final, like conversions."""
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("beneficiary_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checks_done", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_payouts_amount_positive"),
        sa.CheckConstraint(f"status IN ({_PAYOUT_STATUSES})", name="ck_payouts_status"),
        sa.CheckConstraint("version >= 0", name="ck_payouts_version"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payouts_merchant_time", "payouts", ["merchant_id", "create_time", "id"])
    op.create_index("ix_payouts_beneficiary", "payouts", ["beneficiary_id"])
    op.create_index(
        "ix_payouts_next_check",
        "payouts",
        ["next_check_at"],
        postgresql_where=sa.text(_CHECK_DUE),
        sqlite_where=sa.text(_CHECK_DUE),
    )


def downgrade() -> None:
    """Drop the four tables (their indexes go with them)."""
    for table in ("payouts", "beneficiaries", "conversions", "quotes"):
        op.drop_table(table)
