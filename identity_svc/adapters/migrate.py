"""Applies identity's Alembic migrations to a database, serialised across replicas.

The version table is ``identity_alembic_version``, so identity can share a
database with the ledger (whose Alembic keeps the default ``alembic_version``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

VERSION_TABLE = "identity_alembic_version"
_SCRIPTS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every replica (and differ
# from the ledger's, so the two services never wait on each other).
_MIGRATION_LOCK_KEY = 7_115_002


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together would otherwise race to create the schema.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; a no-op when it already is."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
