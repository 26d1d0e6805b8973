"""The gateway's tables, as SQLAlchemy Core metadata (the schema is created by Alembic).

Aggregates (payments, refunds, attempts) are stored as one JSON document each, beside the few
columns that queries filter or sort on. Why documents: the aggregate changes shape with every
provider we add (refs, decline details, routing decisions), it is always read and written
whole, and every write goes through a version check, so nothing needs to join inside it.

Money columns are BIGINT minor units. Every write that changes an aggregate bumps ``version``
and names the version it read, so two writers can never both win.

Issue 6 adds quotes, conversions, beneficiaries and payouts the same way (a document beside
the columns queries need). The database enforces what matters for money a second time
(style.md rule 5): positive amounts, known statuses, two different currencies per quote,
and one conversion per quote (a unique ``quote_id``), whatever a use case gets wrong.

The outbox holds work that must reach another service (ledger postings, audit records, and,
in the next issue, merchant webhooks): it is written in the same transaction as the state
change that caused it, and drained afterwards, so nothing is lost in a crash and each item's
``dedupe_key`` (the request id the other service deduplicates on) keeps it from counting twice.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# SQLite gives INTEGER PRIMARY KEY columns their own autoincrement; BIGINT would not be one.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")

payments = Table(
    "payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("merchant_reference", String(200), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    # When the reconciler should next ask the provider (UNKNOWN payments); NULL otherwise.
    Column("next_check_at", DateTime(timezone=True), nullable=True),
    Column("checks_done", Integer, nullable=False),
    # The lease that serializes mutations of one payment across the commits around a provider
    # call (no transaction stays open during a call): who holds it (the idempotency key's
    # scope, or the reconciler) and until when. An expired lease may be taken over.
    Column("lease_key", String(300), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("doc", Text, nullable=False),
    # The domain refuses these first; the database refuses them again (style.md rule 5).
    CheckConstraint("amount_minor > 0", name="ck_payments_amount_positive"),
    CheckConstraint("version >= 0", name="ck_payments_version"),
)
Index("ix_payments_merchant_time", payments.c.merchant_id, payments.c.create_time, payments.c.id)
Index("ix_payments_merchant_reference", payments.c.merchant_id, payments.c.merchant_reference)
Index(
    "ix_payments_next_check",
    payments.c.next_check_at,
    postgresql_where=text("next_check_at IS NOT NULL"),
    sqlite_where=text("next_check_at IS NOT NULL"),
)

# Migration 0004 also indexes the provider ids inside payments' and refunds' documents, on
# each backend's own JSON expression (adapters.provider_object_refs queries exactly those).
# They are not declared here: the expression differs per backend, and alembic cannot compare
# expression indexes, so a schema comparison leaves these names out (``include_object``).
DOCUMENT_INDEXES = frozenset(
    {"ix_payments_provider_ref", "ix_payments_capture_ref", "ix_refunds_provider_ref"}
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("payment_id", String(40), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("next_check_at", DateTime(timezone=True), nullable=True),
    Column("checks_done", Integer, nullable=False),
    Column("doc", Text, nullable=False),
    CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="ck_refunds_status"),
)
Index("ix_refunds_payment", refunds.c.payment_id, refunds.c.create_time, refunds.c.id)
Index(
    "ix_refunds_next_check",
    refunds.c.next_check_at,
    postgresql_where=text("next_check_at IS NOT NULL"),
    sqlite_where=text("next_check_at IS NOT NULL"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("payment_id", String(40), nullable=False),
    Column("refund_id", String(40), nullable=True),
    Column("seq", Integer, nullable=False),
    Column("operation", String(16), nullable=False),
    Column("provider", String(16), nullable=False),
    # "pending" from before the call is sent until its outcome is written: a pending attempt
    # found after a crash is one whose outcome only the provider knows.
    Column("outcome", String(24), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # The idempotency key whose request made the call: a pending attempt whose key is gone
    # or finished was abandoned, and the reconciler settles it without the key.
    Column("merchant_id", String(64), nullable=False),
    Column("request_key", String(255), nullable=False),
    Column("doc", Text, nullable=False),
)
Index("ux_attempts_payment_seq", attempts.c.payment_id, attempts.c.seq, unique=True)
Index(
    "ix_attempts_pending",
    attempts.c.started_at,
    postgresql_where=text("outcome = 'pending'"),
    sqlite_where=text("outcome = 'pending'"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("merchant_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("recovery_point", String(24), nullable=False),
    Column("locked_at", DateTime(timezone=True), nullable=True),
    Column("payment_id", String(40), nullable=True),
    Column("refund_id", String(40), nullable=True),
    # The stored reply: a gRPC status code (0 = OK) and the serialized response or status.
    Column("response_code", Integer, nullable=True),
    Column("response_body", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_idempotency_keys_created", idempotency_keys.c.created_at)
Index(
    "ix_idempotency_keys_open",
    idempotency_keys.c.locked_at,
    postgresql_where=text("recovery_point <> 'finished'"),
    sqlite_where=text("recovery_point <> 'finished'"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    # Items of one group (a payment) are applied in id order: a capture never reaches the
    # ledger before the hold it posts.
    Column("group_key", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("available_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("done_at", DateTime(timezone=True), nullable=True),
    # Set when the relay gave up on an item (a refusal, or too many failures). A parked item
    # keeps blocking its group, on purpose: a capture must not reach the ledger without the
    # hold it posts. An operator fixes the cause and clears parked_at to resume the group.
    Column("parked_at", DateTime(timezone=True), nullable=True),
)
Index(
    "ix_outbox_pending",
    outbox.c.available_at,
    outbox.c.id,
    postgresql_where=text("done_at IS NULL"),
    sqlite_where=text("done_at IS NULL"),
)
Index("ix_outbox_group", outbox.c.group_key, outbox.c.id)
Index(
    "ix_outbox_parked",
    outbox.c.parked_at,
    postgresql_where=text("parked_at IS NOT NULL"),
    sqlite_where=text("parked_at IS NOT NULL"),
)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    # The posting's deterministic request id -> the ledger's transaction id, so a later post
    # or void can name the hold it resolves.
    Column("request_id", String(200), primary_key=True),
    Column("transaction_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("code", String(200), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


quotes = Table(
    "quotes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("buy_currency", String(3), nullable=False),
    Column("sell_currency", String(3), nullable=False),
    Column("buy_amount_minor", BigInteger, nullable=False),
    Column("sell_amount_minor", BigInteger, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    # The conversion that redeemed the quote; set once, by compare-and-set (fx_store).
    Column("used_by", String(40), nullable=True),
    Column("doc", Text, nullable=False),
    CheckConstraint(
        "buy_amount_minor > 0 AND sell_amount_minor > 0", name="ck_quotes_amounts_positive"
    ),
    CheckConstraint("buy_currency <> sell_currency", name="ck_quotes_currencies_differ"),
)
Index("ix_quotes_merchant_time", quotes.c.merchant_id, quotes.c.create_time)
Index("ix_quotes_expire_time", quotes.c.expire_time)

_CONVERSION_STATUSES = "'pending', 'awaiting_funds', 'funds_arrived', 'completed', 'failed'"
conversions = Table(
    "conversions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("quote_id", String(40), nullable=False),
    Column("status", String(24), nullable=False),
    Column("buy_currency", String(3), nullable=False),
    Column("sell_currency", String(3), nullable=False),
    Column("buy_amount_minor", BigInteger, nullable=False),
    Column("sell_amount_minor", BigInteger, nullable=False),
    Column("provider_ref", String(64), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    # When the status poller should next ask the provider; NULL once final.
    Column("next_check_at", DateTime(timezone=True), nullable=True),
    Column("checks_done", Integer, nullable=False),
    Column("doc", Text, nullable=False),
    CheckConstraint(
        "buy_amount_minor > 0 AND sell_amount_minor > 0", name="ck_conversions_amounts_positive"
    ),
    CheckConstraint(f"status IN ({_CONVERSION_STATUSES})", name="ck_conversions_status"),
    CheckConstraint("version >= 0", name="ck_conversions_version"),
)
Index(
    "ix_conversions_merchant_time",
    conversions.c.merchant_id,
    conversions.c.create_time,
    conversions.c.id,
)
# A quote locks its rate for one conversion: the database refuses a second one too.
Index("ux_conversions_quote", conversions.c.quote_id, unique=True)
Index(
    "ix_conversions_next_check",
    conversions.c.next_check_at,
    postgresql_where=text("next_check_at IS NOT NULL"),
    sqlite_where=text("next_check_at IS NOT NULL"),
)

beneficiaries = Table(
    "beneficiaries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("bank_country", String(2), nullable=False),
    # Empty until the provider created it; only then may payouts name it.
    Column("provider_ref", String(64), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("delete_time", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),
    CheckConstraint("version >= 0", name="ck_beneficiaries_version"),
)
Index(
    "ix_beneficiaries_merchant_time",
    beneficiaries.c.merchant_id,
    beneficiaries.c.create_time,
    beneficiaries.c.id,
)

_PAYOUT_STATUSES = "'pending', 'submitted', 'completed', 'failed', 'canceled'"
payouts = Table(
    "payouts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("beneficiary_id", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("provider_ref", String(64), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("next_check_at", DateTime(timezone=True), nullable=True),
    Column("checks_done", Integer, nullable=False),
    Column("doc", Text, nullable=False),
    CheckConstraint("amount_minor > 0", name="ck_payouts_amount_positive"),
    CheckConstraint(f"status IN ({_PAYOUT_STATUSES})", name="ck_payouts_status"),
    CheckConstraint("version >= 0", name="ck_payouts_version"),
)
Index("ix_payouts_merchant_time", payouts.c.merchant_id, payouts.c.create_time, payouts.c.id)
Index("ix_payouts_beneficiary", payouts.c.beneficiary_id)
Index(
    "ix_payouts_next_check",
    payouts.c.next_check_at,
    postgresql_where=text("next_check_at IS NOT NULL"),
    sqlite_where=text("next_check_at IS NOT NULL"),
)
