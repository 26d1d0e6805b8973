"""No secret is ever stored or logged: scan the database's bytes and the log for tokens."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.adapters.migrate import migrate
from identity_svc.domain.keys import CHECKSUM_LEN, SECRET_LEN
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.identity import Identity
from svc_kit.db import make_engine
from tests.integration.identity_store.identity_store_support import PEPPER, caller, new_tenant

PG_DUMP = "/usr/bin/pg_dump"


async def _issue_tokens(engine: AsyncEngine) -> list[str]:
    """Bootstrap, a tenant, more keys and rotations (and one refused replay): every token."""
    identity = Identity(engine, pepper=PEPPER)
    _, admin_key, admin_token = await identity.bootstrap_admin()
    tenant = await new_tenant(identity, caller(admin_key), "vault")
    tokens = [admin_token, tenant.owner_token]
    for i in range(3):
        key, token = await identity.create_api_key(
            tenant.ctx,
            tenant.merchant.merchant_id,
            display_name=f"k{i}",
            description="",
            role=Role.DEVELOPER,
            expire_time=None,
            rate_limit=None,
            request_id=f"issue-{i}",
        )
        tokens.append(token)
        for overlap in (timedelta(hours=1), timedelta(0)):
            _, rotated = await identity.rotate_api_key(
                tenant.ctx, key.key_id, overlap=overlap, request_id=""
            )
            tokens.append(rotated)
    return tokens


def _needles(tokens: list[str]) -> list[bytes]:
    """Each whole token, and its secret part alone (with and without the checksum)."""
    out: list[bytes] = []
    for token in tokens:
        tail = token[-(SECRET_LEN + CHECKSUM_LEN) :]
        out += [token.encode(), tail.encode(), tail[:SECRET_LEN].encode()]
    return out


def _assert_absent(haystack: bytes, tokens: list[str], where: str) -> None:
    found = [n for n in _needles(tokens) if n in haystack]
    assert found == [], f"{len(found)} secret(s) found in {where}"


async def test_the_sqlite_file_holds_no_secret(
    sqlite_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine(sqlite_database_url)
    await migrate(engine)
    tokens = await _issue_tokens(engine)
    path = Path(make_url(sqlite_database_url).database or "")
    files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    contents = b"".join([await asyncio.to_thread(p.read_bytes) for p in files])
    await engine.dispose()
    contents += await asyncio.to_thread(path.read_bytes)  # after the checkpoint on close, too
    assert len(tokens) == 11 and len(set(tokens)) == 11
    assert b"audit_events" in contents  # we are scanning the right bytes
    _assert_absent(contents, tokens, "the SQLite database")
    _assert_absent(caplog.text.encode(), tokens, "the log")


async def test_a_postgresql_dump_holds_no_secret(
    pg_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine(pg_database_url)
    await migrate(engine)
    tokens = await _issue_tokens(engine)
    await engine.dispose()
    libpq = make_url(pg_database_url).set(drivername="postgresql")
    dump = await asyncio.to_thread(
        subprocess.run,
        [PG_DUMP, "--data-only", libpq.render_as_string(hide_password=False)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert b"COPY public.api_key_secrets" in dump.stdout  # we are scanning the right bytes
    _assert_absent(dump.stdout, tokens, "pg_dump")
    _assert_absent(caplog.text.encode(), tokens, "the log")
