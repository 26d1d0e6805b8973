"""Fixtures of the identity store tests: a migrated engine per backend, the use cases, an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.adapters.migrate import migrate
from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from svc_kit.db import make_engine
from tests.integration.identity_store.identity_store_support import PEPPER, caller


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def identity(engine: AsyncEngine) -> Identity:
    return Identity(engine, pepper=PEPPER, environment="test")


@pytest.fixture
def store(engine: AsyncEngine) -> SqlIdentityStore:
    return SqlIdentityStore(engine)


@pytest.fixture
async def admin(identity: Identity) -> CallContext:
    """The context of a bootstrap admin key."""
    _merchant, key, _token = await identity.bootstrap_admin()
    return caller(key, request_id="req-admin")
