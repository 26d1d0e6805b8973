"""Fixtures of the gateway store and service-layer tests: a migrated engine per backend, the
sandbox with the real provider adapters, and a ``Gateway`` harness (service, relay,
reconciler, recorders, clock) built on them.

The sandbox fixtures are the sandbox tests' own, imported here so both suites start the
sandbox the same way.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.migrate import migrate
from gateway_svc.adapters.tables import metadata
from gateway_svc.domain.breaker import BreakerPolicy, Breakers
from gateway_svc.domain.providers import Provider
from gateway_svc.domain.retry import RetryPolicy
from gateway_svc.service_layer.payments import PaymentService
from gateway_svc.service_layer.ports import PaymentProvider
from gateway_svc.service_layer.reconciler import Reconciler
from gateway_svc.service_layer.relay import OutboxRelay, RelayPolicy
from gateway_svc.service_layer.runtime import GatewayRuntime
from sandbox.testing import SandboxHandle
from svc_kit.db import make_engine
from tests.conftest import TEST_DB_PREFIX
from tests.integration.gateway_store.gateway_support import (
    FAST_RETRY,
    AuditRecorder,
    Clock,
    LedgerRecorder,
    sandbox_providers_for,
)
from tests.integration.gateway_store.test_fx_support import Fx, fx_gateway
from tests.integration.sandbox.conftest import (  # noqa: F401 - fixtures, used by name
    sandbox_config,
    sandbox_pki,
    sandbox_providers,
    sandbox_server,
)


@pytest.fixture(scope="session")
def gateway_pg_database(pg_admin_url: str) -> Iterator[str]:
    """One PostgreSQL database for this folder's tests, emptied before each test.

    CREATE DATABASE costs about half a second (a checkpoint); TRUNCATE a few milliseconds.
    """
    admin = make_url(pg_admin_url)
    name = f"{TEST_DB_PREFIX}gw_{uuid.uuid4().hex}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_database_url(gateway_pg_database: str) -> str:
    """Overrides the suite's fresh-database fixture with the shared one (see above)."""
    return gateway_pg_database


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database on each backend."""
    eng = make_engine(database_url)
    await migrate(eng)
    if eng.dialect.name == "postgresql":
        names = ", ".join(table.name for table in metadata.sorted_tables)
        async with eng.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    yield eng
    await eng.dispose()


@dataclass
class Gateway:
    """One gateway process, as the tests drive it."""

    service: PaymentService
    relay: OutboxRelay
    reconciler: Reconciler
    ledger: LedgerRecorder
    audit: AuditRecorder
    clock: Clock
    sandbox: SandboxHandle
    sleeps: list[float]

    @property
    def runtime(self) -> GatewayRuntime:
        return self.service.runtime


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
async def make_gateway(
    engine: AsyncEngine,
    sandbox_server: SandboxHandle,  # noqa: F811 - the imported fixture, requested by name
) -> AsyncIterator[GatewayFactory]:
    """Builds gateways on the same database and sandbox (a second one is a "restart")."""
    clock = Clock()
    ledger, audit = LedgerRecorder(), AuditRecorder()
    opened: list[dict[Provider, PaymentProvider]] = []

    def build(
        *,
        providers: dict[Provider, PaymentProvider] | None = None,
        timeout_s: float = 5.0,
        breaker: BreakerPolicy | None = None,
        retry: RetryPolicy = FAST_RETRY,
        **knobs: object,
    ) -> Gateway:
        adapters = providers or sandbox_providers_for(sandbox_server, timeout_s=timeout_s)
        opened.append(adapters)
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)  # recorded, not slept: backoff is tested by its value

        relay = OutboxRelay(engine, ledger, audit, RelayPolicy(backoff_base_s=0.001,
                            backoff_cap_s=0.01), clock=clock)  # fmt: skip
        rt = GatewayRuntime(
            engine=engine,
            providers=adapters,
            breakers=Breakers(breaker),
            retry_policy=retry,
            clock=clock,
            monotonic=clock.monotonic,
            sleep=sleep,
            rng=random.Random(7),
            on_commit=relay.kick,
            **knobs,  # type: ignore[arg-type]
        )
        service = PaymentService(rt)
        return Gateway(service, relay, Reconciler(service), ledger, audit, clock,
                       sandbox_server, sleeps)  # fmt: skip

    yield build
    for adapters in opened:
        for adapter in adapters.values():
            await adapter.aclose()


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    """The default gateway: every provider, fast retries, no real sleeping."""
    return make_gateway()


@pytest.fixture
async def fx(
    engine: AsyncEngine,
    sandbox_server: SandboxHandle,  # noqa: F811 - the imported fixture, requested by name
) -> AsyncIterator[Fx]:
    """The FX half of a gateway (quotes, conversions, beneficiaries, payouts) on ``engine``,
    its provider the sandbox's Currencycloud."""
    async with fx_gateway(engine, sandbox_server) as gateway:
        yield gateway
