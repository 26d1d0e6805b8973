"""Applies a service's Alembic migrations, serialised across replicas.

Each service keeps its own scripts, advisory-lock key and version table (set
in its migrations' env.py), so services sharing one PostgreSQL database never
wait on, or overwrite, each other's schema history.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine


def _upgrade(connection: Connection, scripts: Path, lock_key: int) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together would otherwise race to create the schema.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine, scripts: Path, *, lock_key: int) -> None:
    """Bring the schema to the newest revision in ``scripts``; a no-op when it already is."""
    async with engine.begin() as conn:
        await conn.run_sync(partial(_upgrade, scripts=scripts, lock_key=lock_key))
