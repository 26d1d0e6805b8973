"""A started identity service per test, on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.integration.identity.support import Edge, serve_identity


@pytest_asyncio.fixture
async def edge(database_url: str, tmp_path: Path) -> AsyncIterator[Edge]:
    """The service, its Check, and a bootstrapped admin key."""
    async with serve_identity(database_url, tmp_path) as served:
        yield served
