"""No merchant event is lost when the process delivering it is SIGKILLed (issue 7, "No loss").

The processes are the real ones, configured only by GATEWAY_* variables, on one SQLite file:

- the gateway (``python -m gateway_svc serve``, plaintext on loopback, the sandbox as Stripe,
  no ledger: its relay just keeps retrying) takes a payment; its own delivery worker's first
  attempt meets a receiver that is down (503), and the gateway is killed before the retry.
  Restarted, it delivers the event: the state change was committed with its event, and the
  queue is in the database, not in the dead process;
- ``python -m gateway_svc worker`` twice over on PostgreSQL (replicas claiming with
  ``FOR UPDATE SKIP LOCKED``), each SIGKILLed at random once it runs and restarted, while
  this test writes 1,000 events (through the emission path the state changes use) for
  several endpoints: every event reaches every endpoint, verified by the reference receiver,
  and each endpoint's first arrivals are in creation order. A delivery cut off mid-attempt
  comes back when its claim's lease runs out (2 s here), so some arrive twice; none arrive
  zero times.

The receiver (``bench.webhook_receiver``) verifies each delivery with ``standardwebhooks``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.webhook_receiver import WebhookReceiver, ids_in_order
from gateway_svc.adapters.migrate import migrate
from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.adapters.webhook_records import (
    EndpointRecord,
    EventQuery,
    EventStatus,
    seal_secrets,
)
from gateway_svc.adapters.webhook_tables import webhook_deliveries
from gateway_svc.domain import webhooks as wh
from gateway_svc.domain.webhooks import EventType
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.webhook_emit import new_event
from paymesh.common.v1.money_pb2 import Money
from paymesh.gateway.v1 import payments_pb2, payments_pb2_grpc
from sandbox.testing import SandboxHandle
from svc_kit import db
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.run_stack_support import REPO_ROOT
from tests.integration.sandbox.conftest import (  # noqa: F401 - fixtures, used by name
    sandbox_config,
    sandbox_pki,
    sandbox_providers,
    sandbox_server,
)

pytestmark = pytest.mark.slow

MERCHANT = "mer_nolosse2e"
SECRET = wh.new_secret(bytes(range(32)))
BOX = SecretBox.development()  # what a gateway without GATEWAY_WEBHOOK_SECRET_KEY opens with
EVENTS = int(os.environ.get("WEBHOOK_NO_LOSS_EVENTS", "1000"))
ENDPOINTS = 3
WORKERS = 2
LEASE_S = 2.0
DEADLINE_S = 110.0


def _closed_port() -> int:
    """A loopback port nothing listens on (the ledger and identity of these tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(database_url: str) -> dict[str, str]:
    """Ours without the caller's GATEWAY_*, plus the database and the development webhook
    settings (a receiver on plain HTTP at 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return env | {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_WEBHOOK_ALLOW_PRIVATE_DESTINATIONS": "true",
        "GATEWAY_WEBHOOK_ALLOW_INSECURE_HTTP": "true",
        "GATEWAY_LOG_LEVEL": "INFO",
    }


async def add_endpoints(engine: AsyncEngine, receiver: WebhookReceiver, count: int) -> list[str]:
    """``count`` live endpoints of MERCHANT at the receiver's /e<i>; their paths."""
    now = datetime.now(UTC)
    paths = [f"/e{i}" for i in range(count)]
    async with GatewayUnitOfWork(engine) as uow:
        for i, path in enumerate(paths):
            eid = f"we_e2e_{i}"
            sealed = seal_secrets(BOX, eid, [wh.EndpointSecret(SECRET)])
            url = receiver.url(path, "127.0.0.1")
            record = EndpointRecord(eid, MERCHANT, url, "e2e", (), True, "", sealed, now, now)
            await uow.webhook_endpoints.add(record)
            receiver.expect(path, SECRET)
        await uow.commit()
    return paths


Check = Callable[[], Awaitable[bool]]


async def until(what: str, check: Check, timeout_s: float) -> None:
    """Wait until ``check()`` is true."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(0.05)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    found = WebhookReceiver()
    await found.start()
    yield found
    await found.stop()


async def test_a_gateway_killed_before_delivering_delivers_after_its_restart(
    tmp_path: Path,
    receiver: WebhookReceiver,
    sandbox_server: SandboxHandle,  # noqa: F811 - the imported fixture, requested by name
) -> None:
    nowhere = f"127.0.0.1:{_closed_port()}"
    env = base_env(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}") | {
        "GATEWAY_PLAINTEXT": "true",
        "GATEWAY_LISTEN_ADDR": "127.0.0.1:0",
        "GATEWAY_LEDGER_ADDR": nowhere,
        "GATEWAY_IDENTITY_ADDR": nowhere,
        "GATEWAY_PORTS_FILE": str(tmp_path / "gateway-ports.json"),
        "GATEWAY_STRIPE__BASE_URL": sandbox_server.base_url("stripe"),
        "GATEWAY_STRIPE__CA_FILE": str(sandbox_server.ca_file),
    }
    gateway = GatewayProcess(env, tmp_path)
    engine = db.make_engine(env["GATEWAY_DATABASE_URL"])
    try:
        await gateway.start()  # migrates the database
        [path] = await add_endpoints(engine, receiver, 1)
        receiver.script(path, (503, {}, b"receiver down"))
        payment = await _pay(gateway.port)
        await until("the first attempt, recorded", _retry_scheduled(engine), 10)
        await gateway.kill()  # the events are committed; their delivery is not done
        print(f"\ngateway killed after attempt 1 of {payment.id}'s events", flush=True)

        await gateway.start()
        # The retry is due 4 to 6 s after the first attempt (5 s, jittered).
        await until("delivery after the restart", _delivered(receiver, path, 2), 15)
        async with GatewayUnitOfWork(engine) as uow:
            events = await uow.webhook_events.list(MERCHANT, EventQuery(), None, 10)
        assert sorted(e.type for e in events) == ["payment.authorized", "payment.captured"]
        assert receiver.ids(path) == [e.id for e in sorted(events, key=lambda e: e.id)]
        assert receiver.ids(path, status=503) == [min(e.id for e in events)]
        assert receiver.refused == []
        await until("the summary", _all_delivered(engine), 5)
    finally:
        await gateway.stop()
        await engine.dispose()


async def _pay(port: int) -> payments_pb2.Payment:
    principal = EdgePrincipal(MERCHANT, "KeyId0123456789a", "owner", "test").to_header()
    request = payments_pb2.CreatePaymentRequest(
        amount=Money(currency_code="USD", minor_units=2_500),
        payment_method=payments_pb2.PaymentMethod(token="pm_card_visa"),
        request_id=f"e2e-{random.getrandbits(48)}",
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = payments_pb2_grpc.PaymentServiceStub(channel)
        reply = await stub.CreatePayment(request, metadata=((PRINCIPAL_HEADER, principal),))
    assert reply.payment.status == payments_pb2.PAYMENT_STATUS_CAPTURED, reply
    return reply.payment


def _retry_scheduled(engine: AsyncEngine) -> Check:
    """The first attempt is recorded (a retry is scheduled, the claim let go): killing the
    process now leaves nothing leased, only a delivery due in about 5 s."""

    async def check() -> bool:
        d = webhook_deliveries.c
        async with engine.connect() as conn:
            rows = (await conn.execute(select(d.attempts, d.claimed_until))).all()
        return any(attempts == 1 and leased is None for attempts, leased in rows)

    return check


def _delivered(receiver: WebhookReceiver, path: str, count: int) -> Check:
    async def check() -> bool:
        return len(receiver.ids(path)) >= count

    return check


def _all_delivered(engine: AsyncEngine) -> Check:
    async def check() -> bool:
        async with GatewayUnitOfWork(engine) as uow:
            pending = await uow.webhook_deliveries.unfinished_count()
            events = await uow.webhook_events.list(MERCHANT, EventQuery(), None, 10_000)
        return pending == 0 and all(e.status is EventStatus.DELIVERED for e in events)

    return check


@dataclass
class Worker:
    """``python -m gateway_svc worker``, killed and restarted at will."""

    env: dict[str, str]
    workdir: Path
    name: str
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    kills: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def ports_file(self) -> Path:
        return self.workdir / f"{self.name}-ports.json"

    async def start(self) -> None:
        """Start it; it writes its ports file once it delivers."""
        self.starts += 1
        self.ports_file.unlink(missing_ok=True)
        log_path = self.workdir / f"{self.name}-{self.starts}.log"
        self.logs.append(log_path)
        env = self.env | {"GATEWAY_PORTS_FILE": str(self.ports_file)}
        with log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway_svc", "worker", "--lease-s", str(LEASE_S),
                "--attempt-timeout-s", "1", "--idle-poll-s", "0.05", "--report-every-s", "1",
                cwd=REPO_ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    @property
    def running(self) -> bool:
        return self.ports_file.exists() and self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kills += 1

    async def stop(self) -> int | None:
        if self.proc is None or self.proc.returncode is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return None

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


async def _write_events(engine: AsyncEngine, count: int, written: list[str]) -> None:
    """``count`` events in committed changes of 1 to 20 events each, a few ms apart."""
    rng = random.Random(11)
    made = 0
    while made < count:
        size = min(rng.randint(1, 20), count - made)
        at = datetime.now(UTC)
        batch = [
            new_event(
                MERCHANT,
                EventType.PAYMENT_CAPTURED,
                at,
                (f"pay_{made + i}",),
                {"id": f"pay_{made + i}", "n": made + i},
            )
            for i in range(size)
        ]
        async with GatewayUnitOfWork(engine) as uow:
            written += await uow.webhook_events.emit(batch)
            await uow.commit()
        made += size
        await asyncio.sleep(rng.uniform(0.005, 0.03))


async def _kill_at_random(workers: list[Worker], stop: asyncio.Event) -> None:
    """SIGKILL a worker that is delivering, at a random moment, and start it again.

    Every 0.3 to 1 s: the thousand events take the two workers about ten seconds on an
    unloaded machine, and the test wants ten kills or more inside that window (kills slow
    delivery down, which leaves room for more)."""
    rng = random.Random(5)
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0.3, 1.0))
        running = [w for w in workers if w.running]
        if stop.is_set() or not running:
            continue
        victim = rng.choice(running)
        await victim.kill()
        await victim.start()


async def test_no_event_is_lost_over_a_thousand_events_with_workers_killed_at_random(
    tmp_path: Path, receiver: WebhookReceiver, pg_database_url: str
) -> None:
    env = base_env(pg_database_url)
    engine = db.make_engine(env["GATEWAY_DATABASE_URL"])
    await migrate(engine)
    paths = await add_endpoints(engine, receiver, ENDPOINTS)
    workers = [Worker(env, tmp_path, f"worker{i}") for i in range(WORKERS)]
    written: list[str] = []
    stop_killing = asyncio.Event()
    started = time.monotonic()
    try:
        for worker in workers:
            await worker.start()
        killer = asyncio.create_task(_kill_at_random(workers, stop_killing))
        await _write_events(engine, EVENTS, written)
        print(f"\n{len(written)} events written in {time.monotonic() - started:.1f} s", flush=True)
        expected = dict.fromkeys(paths, written)
        deadline = started + DEADLINE_S
        while _first_arrivals(got := ids_in_order(receiver.received)) != expected:
            done = sum(len(set(v)) for v in got.values())
            kills = sum(w.kills for w in workers)
            print(f"{time.monotonic() - started:5.1f} s: {done}/{EVENTS * ENDPOINTS} "
                  f"delivered, {kills} kills", flush=True)  # fmt: skip
            assert time.monotonic() < deadline, "\n".join(w.log()[-3000:] for w in workers)
            await asyncio.sleep(1.0)
        stop_killing.set()
        await killer
        await until("every delivery recorded", _all_delivered(engine), 30)
        # A worker the killer just restarted may still be importing, before its SIGTERM
        # handler exists: stop them once they run, to see the clean stop.
        await until("the workers running", _all_running(workers), 30)
    finally:
        stop_killing.set()
        codes = [await w.stop() for w in workers]
        await engine.dispose()
    got = ids_in_order(receiver.received)
    arrivals = sum(len(v) for v in got.values())
    kills = sum(w.kills for w in workers)
    print(f"{EVENTS} events x {ENDPOINTS} endpoints delivered in "
          f"{time.monotonic() - started:.1f} s with {kills} SIGKILLs; {arrivals} arrivals, "
          f"{arrivals - EVENTS * ENDPOINTS} repeats, 0 lost", flush=True)  # fmt: skip
    assert _first_arrivals(got) == dict.fromkeys(paths, written)
    assert receiver.refused == []
    assert kills >= 10, "too few kills to prove anything"
    assert codes == [0] * WORKERS  # SIGTERM: a clean stop
    assert all("webhook worker stopped" in w.log() for w in workers)


def _all_running(workers: list[Worker]) -> Check:
    async def check() -> bool:
        return all(w.running for w in workers)

    return check


def _first_arrivals(got: dict[str, list[str]]) -> dict[str, list[str]]:
    return {path: list(dict.fromkeys(ids)) for path, ids in got.items()}
