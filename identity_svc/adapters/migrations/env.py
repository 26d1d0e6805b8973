"""Alembic environment: runs on the connection ``identity_svc.adapters.migrate`` hands in."""

from __future__ import annotations

from alembic import context

from identity_svc.adapters.migrate import VERSION_TABLE
from identity_svc.adapters.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
