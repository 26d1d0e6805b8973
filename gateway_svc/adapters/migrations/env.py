"""Alembic environment: runs on the connection ``gateway_svc.adapters.migrate`` hands in."""

from __future__ import annotations

from alembic import context

import gateway_svc.adapters.webhook_tables  # noqa: F401 - registers the issue-7 tables on metadata
from gateway_svc.adapters.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
