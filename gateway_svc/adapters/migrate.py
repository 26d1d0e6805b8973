"""Applies the gateway's Alembic migrations (default version table ``alembic_version``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from svc_kit import migrations

_SCRIPTS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every replica.
_MIGRATION_LOCK_KEY = 7_115_003


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; a no-op when it already is."""
    await migrations.upgrade(engine, _SCRIPTS, lock_key=_MIGRATION_LOCK_KEY)
