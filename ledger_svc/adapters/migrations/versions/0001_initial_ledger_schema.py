"""Initial ledger schema: tables, append-only guards and the balance check.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _accounts()
    _entries()
    _idempotency()
    _journal()
    _transactions()
    op.execute("INSERT INTO ledger_head (id, sequence, hash) VALUES (1, 0, '" + "0" * 64 + "')")
    _guards()


def _accounts() -> None:
    """Accounts, with their limit flags and running totals."""
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("debits_must_not_exceed_credits", sa.Boolean(), nullable=False),
        sa.Column("credits_must_not_exceed_debits", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('OPEN', 'CLOSED')", name="ck_accounts_status"),
        sa.CheckConstraint(
            "NOT (credits_must_not_exceed_debits AND credits_posted + credits_pending > debits_posted)",
            name="ck_accounts_credits_limit",
        ),
        sa.CheckConstraint(
            "NOT (debits_must_not_exceed_credits AND debits_posted + debits_pending > credits_posted)",
            name="ck_accounts_debits_limit",
        ),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
            name="ck_accounts_totals_non_negative",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_owner", ["owner"], unique=False)


def _entries() -> None:
    """Entries, the legs of transactions, and their indexes."""
    op.create_table(
        "entries",
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("effective_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("direction IN ('DEBIT', 'CREDIT')", name="ck_entries_direction"),
        sa.CheckConstraint("amount > 0", name="ck_entries_amount_positive"),
        sa.CheckConstraint(
            "pending OR balance_after IS NOT NULL", name="ck_entries_posted_balance"
        ),
        sa.PrimaryKeyConstraint("sequence", "idx"),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entries_account_effective", ["account_id", "effective_time"], unique=False
        )
        batch_op.create_index("ix_entries_account_seq", ["account_id", "sequence"], unique=False)
        batch_op.create_index("ix_entries_transaction", ["transaction_id"], unique=False)


def _idempotency() -> None:
    """Request ids, each with its fingerprint and the id of its result."""
    op.create_table(
        "idempotency",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("fingerprint_json", sa.Text(), nullable=False),
        sa.Column("result_id", sa.String(length=40), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )


def _journal() -> None:
    """The hash-chained journal and its head."""
    op.create_table(
        "journal",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('CREATE', 'POST', 'VOID', 'EXPIRE')", name="ck_journal_kind"),
        sa.PrimaryKeyConstraint("sequence"),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _transactions() -> None:
    """Transactions, with their status, times and reversal links."""
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("effective_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverses_id", sa.String(length=40), nullable=True),
        sa.Column("reversed_by_id", sa.String(length=40), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING', 'POSTED', 'VOIDED', 'EXPIRED')", name="ck_transactions_status"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_id"),
        sa.UniqueConstraint("sequence"),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index("ix_transactions_effective", ["effective_time"], unique=False)
        batch_op.create_index(
            "ix_transactions_pending_expiry", ["status", "expire_time"], unique=False
        )


def _guards() -> None:
    """The append-only triggers and the balance check of the dialect in use."""
    bind = op.get_bind()
    for statement in _PG_GUARDS if bind.dialect.name == "postgresql" else _SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Dropping the tables drops their triggers; the functions stay behind.
        for fn in ("refuse_change", "check_transaction_update", "check_balanced"):
            op.execute(f"DROP FUNCTION IF EXISTS ledger_{fn}() CASCADE")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_pending_expiry")
        batch_op.drop_index("ix_transactions_effective")

    op.drop_table("transactions")
    op.drop_table("ledger_head")
    op.drop_table("journal")
    op.drop_table("idempotency")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_transaction")
        batch_op.drop_index("ix_entries_account_seq")
        batch_op.drop_index("ix_entries_account_effective")

    op.drop_table("entries")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_owner")

    op.drop_table("accounts")


# Entries and the journal are append-only, and so is every column of a
# transaction except the one-way PENDING -> resolved move and the reversal link
# (ledger.md invariant 3). The code never issues such statements; these make
# the database itself refuse them, whoever connects.
_PG_GUARDS = [
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'ledger: % on % is refused; rows are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    """
    CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE FUNCTION ledger_check_transaction_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (NEW.id, NEW.sequence, NEW.hash, NEW.description, NEW.external_ref,
          NEW.metadata_json, NEW.effective_time, NEW.create_time, NEW.expire_time,
          NEW.reverses_id)
         IS DISTINCT FROM
         (OLD.id, OLD.sequence, OLD.hash, OLD.description, OLD.external_ref,
          OLD.metadata_json, OLD.effective_time, OLD.create_time, OLD.expire_time,
          OLD.reverses_id) THEN
        RAISE EXCEPTION 'ledger: transaction % is immutable', OLD.id
          USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      IF NEW.status IS DISTINCT FROM OLD.status AND OLD.status <> 'PENDING' THEN
        RAISE EXCEPTION 'ledger: transaction % is % and final', OLD.id, OLD.status
          USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      IF OLD.reversed_by_id IS NOT NULL
         AND NEW.reversed_by_id IS DISTINCT FROM OLD.reversed_by_id THEN
        RAISE EXCEPTION 'ledger: transaction % is already reversed', OLD.id
          USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER transactions_guard_update BEFORE UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_update()
    """,
    # Every journal event writes its entries in one INSERT statement, so a
    # statement-level check over the inserted rows sees each posting whole.
    """
    CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE bad record;
    BEGIN
      SELECT sequence, currency INTO bad FROM new_rows
        GROUP BY sequence, currency
        HAVING sum(CASE WHEN direction = 'DEBIT' THEN amount ELSE -amount END) <> 0
        LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION 'ledger: entries of event % do not balance in %',
          bad.sequence, bad.currency USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER entries_balanced AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced()
    """,
]

_SQLITE_GUARDS = [
    f"""
    CREATE TRIGGER {table}_no_{op_name} BEFORE {op_name.upper()} ON {table}
    BEGIN SELECT RAISE(ABORT, 'ledger: {op_name} on {table} is refused; rows are append-only');
    END
    """
    for table, op_name in [
        ("entries", "update"),
        ("entries", "delete"),
        ("journal", "update"),
        ("journal", "delete"),
        ("transactions", "delete"),
        ("accounts", "delete"),
    ]
] + [
    """
    CREATE TRIGGER transactions_final_status BEFORE UPDATE OF status ON transactions
    WHEN OLD.status <> 'PENDING' AND NEW.status <> OLD.status
    BEGIN SELECT RAISE(ABORT, 'ledger: a resolved transaction is final'); END
    """
]
