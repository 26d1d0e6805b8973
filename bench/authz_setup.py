"""The authz bench's data: a migrated identity database, a merchant and its API keys.

Keys are made in-process with identity's own use cases (the same code the API runs), on
SQLite in the run's temporary directory or on a fresh PostgreSQL database
``paymesh_bench_identity``. Every key carries the highest rate-limit override identity
accepts, so that the limiter never refuses during the bench.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from bench import pg
from identity_svc.adapters.migrate import migrate
from identity_svc.adapters.pepper import load_pepper
from identity_svc.domain.model import Principal
from identity_svc.domain.permissions import RateLimit, Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from svc_kit import db

IDENTITY_DB = "paymesh_bench_identity"
ENVIRONMENT = "test"
# identity's validation caps both at 100,000 (validation.MAX_RATE).
BENCH_RATE_LIMIT = RateLimit(requests_per_second=100_000, burst=100_000)
_PROGRESS_EVERY = 500


@dataclass(frozen=True)
class BenchKeys:
    """The tokens the bench calls with: one warm key, and cold keys used once each."""

    merchant_id: str
    warm: str
    cold: list[str]


@dataclass(frozen=True)
class IdentityData:
    """Where the service finds its data: database URL and pepper file, and the keys."""

    database_url: str
    pepper_file: Path
    pepper: bytes
    keys: BenchKeys
    setup_s: float


def database_url(work_dir: Path, pg_admin_url: str | None) -> str:
    """The identity database to use: SQLite under ``work_dir``, or a fresh PostgreSQL one."""
    if pg_admin_url is None:
        return f"sqlite+aiosqlite:///{(work_dir / 'identity.db').resolve()}"
    pg.recreate_database(pg_admin_url, IDENTITY_DB)
    return pg.sqlalchemy_url(pg_admin_url, IDENTITY_DB)


def drop_database(pg_admin_url: str | None) -> None:
    """Drop the PostgreSQL bench database, if this run made one."""
    if pg_admin_url is not None:
        pg.drop_database(pg_admin_url, IDENTITY_DB)
        print(f"  dropped {IDENTITY_DB}", flush=True)


async def prepare(url: str, work_dir: Path, cold_keys: int) -> IdentityData:
    """Migrate, bootstrap an admin, create a merchant, a warm key and ``cold_keys`` more."""
    started = time.perf_counter()
    pepper_file = work_dir / "pepper"
    pepper = load_pepper(str(pepper_file), environment=ENVIRONMENT)
    engine = db.make_engine(url)
    try:
        print(f"  migrating {db.backend(engine)} database", flush=True)
        await migrate(engine)
        identity = Identity(engine, pepper=pepper, environment=ENVIRONMENT)
        keys = await _make_keys(identity, cold_keys)
    finally:
        await engine.dispose()
    setup_s = time.perf_counter() - started
    print(f"  setup done in {setup_s:.1f} s", flush=True)
    return IdentityData(url, pepper_file, pepper, keys, setup_s)


async def _make_keys(identity: Identity, cold_keys: int) -> BenchKeys:
    platform, admin_key, _admin_token = await identity.bootstrap_admin()
    print(f"  bootstrapped admin key {admin_key.key_id} ({platform.merchant_id})", flush=True)
    admin = Principal(platform.merchant_id, admin_key.key_id, Role.ADMIN, ENVIRONMENT)
    ctx = CallContext(principal=admin, request_id="", source_address="127.0.0.1:0")
    merchant = await identity.create_merchant(
        ctx,
        display_name="authz bench merchant",
        default_currency="USD",
        metadata={},
        status=None,
        request_id="",
    )
    print(f"  merchant {merchant.merchant_id}", flush=True)

    async def owner_key(name: str) -> str:
        _key, token = await identity.create_api_key(
            ctx,
            merchant.merchant_id,
            display_name=name,
            description="authz bench",
            role=Role.OWNER,
            expire_time=None,
            rate_limit=BENCH_RATE_LIMIT,
            request_id="",
        )
        return token

    warm = await owner_key("bench warm")
    print(f"  creating {cold_keys:,} cold owner keys", flush=True)
    cold: list[str] = []
    slots = asyncio.Semaphore(4)  # the writes serialise anyway; this only overlaps round trips

    async def one(index: int) -> None:
        async with slots:
            cold.append(await owner_key(f"bench cold {index}"))
        if len(cold) % _PROGRESS_EVERY == 0:
            print(f"    {len(cold):,} / {cold_keys:,}", flush=True)

    await asyncio.gather(*(one(i) for i in range(cold_keys)))
    return BenchKeys(merchant.merchant_id, warm, cold)
