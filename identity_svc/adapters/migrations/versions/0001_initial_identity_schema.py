"""Initial identity schema: merchants, keys and secrets, change feed, usage, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _merchants_and_keys()
    _key_secrets_and_changes()
    _usage()
    _audit_log()


def _merchants_and_keys() -> None:
    """Merchants and their API keys."""
    op.create_table(
        "merchants",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("create_time", _TZ, nullable=False),
        sa.Column("update_time", _TZ, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("create_request_id", sa.String(length=128), nullable=True),
        sa.Column("create_fingerprint", sa.String(length=64), nullable=True),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="ck_merchants_status"),
        sa.PrimaryKeyConstraint("merchant_id"),
        sa.UniqueConstraint("created_by", "create_request_id", name="uq_merchants_request"),
    )
    op.create_index("ix_merchants_created", "merchants", ["create_time", "merchant_id"])

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.Column("create_time", _TZ, nullable=False),
        sa.Column("expire_time", _TZ, nullable=True),
        sa.Column("revoke_time", _TZ, nullable=True),
        sa.Column("last_used_time", _TZ, nullable=True),
        sa.Column("rate_limit_rps", sa.Integer(), nullable=True),
        sa.Column("rate_limit_burst", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("create_request_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'owner', 'developer', 'finance', 'viewer')", name="ck_api_keys_role"
        ),
        sa.CheckConstraint("environment IN ('test', 'live')", name="ck_api_keys_environment"),
        sa.CheckConstraint(
            "(rate_limit_rps IS NULL) = (rate_limit_burst IS NULL)", name="ck_api_keys_rate_limit"
        ),
        sa.CheckConstraint(
            "rate_limit_rps IS NULL OR (rate_limit_rps BETWEEN 1 AND 100000 AND rate_limit_burst BETWEEN 1 AND 100000)",
            name="ck_api_keys_rate_limit_range",
        ),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.merchant_id"]),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("created_by", "create_request_id", name="uq_api_keys_request"),
    )
    op.create_index("ix_api_keys_merchant", "api_keys", ["merchant_id", "create_time", "key_id"])


def _key_secrets_and_changes() -> None:
    """Secret hashes per key, and the change feed the edge's key cache follows."""
    op.create_table(
        "api_key_secrets",
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("create_time", _TZ, nullable=False),
        sa.Column("not_after", _TZ, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("create_request_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.key_id"]),
        sa.PrimaryKeyConstraint("secret_hash"),
        sa.UniqueConstraint("created_by", "create_request_id", name="uq_api_key_secrets_request"),
    )
    op.create_index("ix_api_key_secrets_key", "api_key_secrets", ["key_id"])

    op.create_table(
        "auth_changes",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("change_time", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def _usage() -> None:
    """Counters per key, RPC and day, and the batch ids that make re-sent flushes no-ops."""
    op.create_table(
        "usage_counters",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("rpc", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("allowed_count", sa.BigInteger(), nullable=False),
        sa.Column("throttled_count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "allowed_count >= 0 AND throttled_count >= 0", name="ck_usage_counters_non_negative"
        ),
        sa.PrimaryKeyConstraint("key_id", "rpc", "day"),
    )
    op.create_index("ix_usage_counters_merchant_day", "usage_counters", ["merchant_id", "day"])
    op.create_table(
        "usage_batches",
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("applied_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_index("ix_usage_batches_applied_at", "usage_batches", ["applied_at"])


def _audit_log() -> None:
    """The hash-chained log, its head, and the triggers that make it append-only."""
    op.create_table(
        "audit_events",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_time", _TZ, nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=256), nullable=False),
        sa.Column("actor_merchant_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("source_address", sa.String(length=256), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("outcome IN ('success', 'failure')", name="ck_audit_events_outcome"),
        sa.PrimaryKeyConstraint("sequence"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_audit_events_merchant", "audit_events", ["merchant_id", "sequence"])
    op.create_index("ix_audit_events_action", "audit_events", ["action", "sequence"])

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO audit_head (id, sequence, hash) VALUES (1, 0, '" + "0" * 64 + "')")

    bind = op.get_bind()
    for statement in _PG_GUARDS if bind.dialect.name == "postgresql" else _SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Dropping the table drops its triggers; the function stays behind.
        op.execute("DROP FUNCTION IF EXISTS identity_audit_refuse_change() CASCADE")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.drop_index("ix_audit_events_merchant", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_usage_batches_applied_at", table_name="usage_batches")
    op.drop_table("usage_batches")
    op.drop_index("ix_usage_counters_merchant_day", table_name="usage_counters")
    op.drop_table("usage_counters")
    op.drop_table("auth_changes")
    op.drop_index("ix_api_key_secrets_key", table_name="api_key_secrets")
    op.drop_table("api_key_secrets")
    op.drop_index("ix_api_keys_merchant", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_merchants_created", table_name="merchants")
    op.drop_table("merchants")


# The audit log is append-only (reliability.md, "Audit log"). The code never
# issues UPDATE or DELETE on it; these make the database itself refuse them,
# whoever connects. The hash chain catches whoever gets past them anyway.
_PG_GUARDS = [
    """
    CREATE FUNCTION identity_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'identity: % on % is refused; the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION identity_audit_refuse_change()
    """,
    # Row triggers do not fire on TRUNCATE.
    """
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION identity_audit_refuse_change()
    """,
]

_SQLITE_GUARDS = [
    f"""
    CREATE TRIGGER audit_events_no_{op_name} BEFORE {op_name.upper()} ON audit_events
    BEGIN SELECT RAISE(ABORT, 'identity: {op_name} on audit_events is refused; the audit log is append-only');
    END
    """
    for op_name in ("update", "delete")
]
