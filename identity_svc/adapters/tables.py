"""identity's tables, as SQLAlchemy Core metadata (the schema is created by Alembic).

Times are ``DateTime(timezone=True)`` holding UTC; SQLite hands them back
naive (``rows.utc`` puts the zone back). No column ever holds a secret: only
``api_key_secrets.secret_hash``, an HMAC-SHA256 keyed with a pepper that
lives outside the database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite autoincrements only an INTEGER PRIMARY KEY (the rowid alias).
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

merchants = Table(
    "merchants",
    metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("default_currency", String(3), nullable=False),
    Column("metadata_json", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    # AIP-155: request ids are scoped to the caller (its key id, or "system").
    Column("created_by", String(64), nullable=False),
    Column("create_request_id", String(128)),
    Column("create_fingerprint", String(64)),
    CheckConstraint("status IN ('active', 'suspended')", name="ck_merchants_status"),
    UniqueConstraint("created_by", "create_request_id", name="uq_merchants_request"),
)
Index("ix_merchants_created", merchants.c.create_time, merchants.c.merchant_id)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("merchant_id", String(40), ForeignKey("merchants.merchant_id"), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("description", String(500), nullable=False),
    Column("role", String(16), nullable=False),
    Column("environment", String(8), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True)),
    Column("revoke_time", DateTime(timezone=True)),
    Column("last_used_time", DateTime(timezone=True)),
    Column("rate_limit_rps", Integer),
    Column("rate_limit_burst", Integer),
    Column("created_by", String(64), nullable=False),
    Column("create_request_id", String(128)),
    CheckConstraint(
        "role IN ('admin', 'owner', 'developer', 'finance', 'viewer')", name="ck_api_keys_role"
    ),
    CheckConstraint("environment IN ('test', 'live')", name="ck_api_keys_environment"),
    CheckConstraint(
        "(rate_limit_rps IS NULL) = (rate_limit_burst IS NULL)", name="ck_api_keys_rate_limit"
    ),
    CheckConstraint(
        "rate_limit_rps IS NULL OR (rate_limit_rps BETWEEN 1 AND 100000"
        " AND rate_limit_burst BETWEEN 1 AND 100000)",
        name="ck_api_keys_rate_limit_range",
    ),
    UniqueConstraint("created_by", "create_request_id", name="uq_api_keys_request"),
)
Index("ix_api_keys_merchant", api_keys.c.merchant_id, api_keys.c.create_time, api_keys.c.key_id)

api_key_secrets = Table(
    "api_key_secrets",
    metadata,
    # HMAC-SHA256(pepper, whole token): 32 bytes. Never the token.
    Column("secret_hash", LargeBinary(32), primary_key=True),
    Column("key_id", String(16), ForeignKey("api_keys.key_id"), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    # NULL for the current secret; the overlap deadline once rotated out.
    Column("not_after", DateTime(timezone=True)),
    # Set on secrets made by RotateApiKey, for its request_id (AIP-155).
    Column("created_by", String(64)),
    Column("create_request_id", String(128)),
    UniqueConstraint("created_by", "create_request_id", name="uq_api_key_secrets_request"),
)
Index("ix_api_key_secrets_key", api_key_secrets.c.key_id)

# The feed the edge's key cache polls. Written only while holding the audit
# head lock, so seq order is commit order and a poller never skips a row.
auth_changes = Table(
    "auth_changes",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("merchant_id", String(40), nullable=False),
    Column("key_id", String(16)),
    Column("change_time", DateTime(timezone=True), nullable=False),
)

# No foreign key to api_keys: the edge flushes counts in batches, and one
# stale row must not make a whole batch (and every count in it) fail.
usage_counters = Table(
    "usage_counters",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("rpc", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("merchant_id", String(40), nullable=False),
    Column("allowed_count", BigInteger, nullable=False),
    Column("throttled_count", BigInteger, nullable=False),
    CheckConstraint(
        "allowed_count >= 0 AND throttled_count >= 0", name="ck_usage_counters_non_negative"
    ),
)
Index("ix_usage_counters_merchant_day", usage_counters.c.merchant_id, usage_counters.c.day)

# Usage batches already applied: an edge that re-sends a batch whose reply it
# lost must not have it counted twice. Rows older than a couple of days go.
usage_batches = Table(
    "usage_batches",
    metadata,
    Column("batch_id", String(40), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)
Index("ix_usage_batches_applied_at", usage_batches.c.applied_at)

# Append-only: triggers in the migration refuse UPDATE and DELETE.
audit_events = Table(
    "audit_events",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(256), nullable=False),
    Column("actor_merchant_id", String(40), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(200), nullable=False),
    Column("merchant_id", String(40), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("source_address", String(256), nullable=False),
    Column("details_json", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("outcome IN ('success', 'failure')", name="ck_audit_events_outcome"),
)
Index("ix_audit_events_merchant", audit_events.c.merchant_id, audit_events.c.sequence)
Index("ix_audit_events_action", audit_events.c.action, audit_events.c.sequence)

# One row (id = 1): the chain's last record. Every append locks it first, which
# gives the chain one order, and lets verification catch deletions at the end.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sequence", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
