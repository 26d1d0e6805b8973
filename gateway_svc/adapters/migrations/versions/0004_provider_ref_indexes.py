"""Indexes for provider callbacks that name our objects by the provider's own ids.

A callback that does not echo our attempt id (Authorize.net, Razorpay, PayPal, and refunds
everywhere; conversions and payouts have a column of their own) is resolved by the provider's id inside the object's JSON document; without an
index that lookup read every payment of the provider, once per callback. These are indexes
on exactly the expressions ``adapters.provider_object_refs`` queries, per backend: the query
spells the path as a constant, so PostgreSQL's generic plans (psycopg prepares a statement
after five runs) and SQLite's planner can both match it to the index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (index, table, leading plain columns, document path): spelled out, not imported, so the
# migration keeps meaning what it meant when it was written.
_INDEXES = (
    ("ix_payments_provider_ref", "payments", "provider", ("provider_ref",)),
    ("ix_payments_capture_ref", "payments", "provider", ("provider_refs", "capture_id")),
    ("ix_refunds_provider_ref", "refunds", "", ("provider_ref",)),
)


def _expression(dialect: str, path: tuple[str, ...]) -> str:
    if dialect == "postgresql":
        keys = ", ".join(f"'{key}'" for key in path)
        return f"jsonb_extract_path_text(CAST(doc AS JSONB), {keys})"
    return f"json_extract(doc, '$.{'.'.join(path)}')"


def upgrade() -> None:
    """One index per provider-id lookup, on the backend's own JSON expression."""
    dialect = op.get_bind().dialect.name
    for name, table, lead, path in _INDEXES:
        columns = ", ".join(filter(None, (lead, f"({_expression(dialect, path)})")))
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")


def downgrade() -> None:
    """Drop them."""
    for name, table, _, _ in _INDEXES:
        op.drop_index(name, table_name=table)
