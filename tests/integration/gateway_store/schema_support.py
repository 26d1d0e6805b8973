"""The gateway's database against its tables module, as alembic compares them."""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from gateway_svc.adapters.tables import DOCUMENT_INDEXES, metadata


def _compared(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    # Migration 0004's expression indexes exist only in the database (tables.DOCUMENT_INDEXES).
    return not (kind == "index" and name in DOCUMENT_INDEXES)


def schema_diff(conn: Connection) -> list[Any]:
    """What autogenerate would change to make the database match ``metadata``."""
    context = MigrationContext.configure(conn, opts={"include_object": _compared})
    with warnings.catch_warnings():
        # SQLite's reflection skips those same expression indexes, saying so.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        diff: list[Any] = compare_metadata(context, metadata)
    return diff
