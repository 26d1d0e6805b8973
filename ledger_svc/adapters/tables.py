"""The ledger's tables, as SQLAlchemy Core metadata (the schema is created by Alembic).

Money columns are BIGINT minor units. Totals are running sums kept on the
account row and changed only by ``x = x + delta`` updates. Entries and the
journal are append-only: triggers in the migration refuse UPDATE and DELETE.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("code", String(200), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("type", String(16), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("metadata_json", Text, nullable=False),
    Column("debits_must_not_exceed_credits", Boolean, nullable=False),
    Column("credits_must_not_exceed_debits", Boolean, nullable=False),
    Column("status", String(8), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0"
        " AND debits_pending >= 0 AND credits_pending >= 0",
        name="ck_accounts_totals_non_negative",
    ),
    CheckConstraint(
        "NOT (debits_must_not_exceed_credits AND debits_posted + debits_pending > credits_posted)",
        name="ck_accounts_debits_limit",
    ),
    CheckConstraint(
        "NOT (credits_must_not_exceed_debits AND credits_posted + credits_pending > debits_posted)",
        name="ck_accounts_credits_limit",
    ),
    CheckConstraint("status IN ('OPEN', 'CLOSED')", name="ck_accounts_status"),
)
Index("ix_accounts_owner", accounts.c.owner)

transactions = Table(
    "transactions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("sequence", BigInteger, nullable=False, unique=True),
    Column("hash", String(64), nullable=False),
    Column("status", String(8), nullable=False),
    Column("description", String(500), nullable=False),
    Column("external_ref", String(200), nullable=False),
    Column("metadata_json", Text, nullable=False),
    Column("effective_time", DateTime(timezone=True), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True)),
    Column("resolve_time", DateTime(timezone=True)),
    Column("reverses_id", String(40), unique=True),
    Column("reversed_by_id", String(40)),
    CheckConstraint(
        "status IN ('PENDING', 'POSTED', 'VOIDED', 'EXPIRED')", name="ck_transactions_status"
    ),
)
Index("ix_transactions_pending_expiry", transactions.c.status, transactions.c.expire_time)
Index("ix_transactions_effective", transactions.c.effective_time)

entries = Table(
    "entries",
    metadata,
    # (sequence, idx) is the journal event that wrote the entry and its position.
    Column("sequence", BigInteger, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("transaction_id", String(40), nullable=False),
    Column("account_id", String(40), nullable=False),
    Column("direction", String(6), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("effective_time", DateTime(timezone=True), nullable=False),
    Column("balance_after", BigInteger),
    CheckConstraint("amount > 0", name="ck_entries_amount_positive"),
    CheckConstraint("direction IN ('DEBIT', 'CREDIT')", name="ck_entries_direction"),
    CheckConstraint("pending OR balance_after IS NOT NULL", name="ck_entries_posted_balance"),
)
Index("ix_entries_account_seq", entries.c.account_id, entries.c.sequence)
Index("ix_entries_account_effective", entries.c.account_id, entries.c.effective_time)
Index("ix_entries_transaction", entries.c.transaction_id)

journal = Table(
    "journal",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(8), nullable=False),
    Column("transaction_id", String(40), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('CREATE', 'POST', 'VOID', 'EXPIRE')", name="ck_journal_kind"),
)

# One row (id = 1): the last journal event. Every writer locks it first, which
# gives the hash chain its single order and makes the checks in a flush race-free.
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sequence", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("fingerprint_json", Text, nullable=False),
    Column("result_id", String(40), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)
