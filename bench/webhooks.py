"""Merchant webhook delivery throughput: events/s delivered to a local receiver (issue 7).

Run it as ``.venv/bin/python -m bench.webhooks`` (``--help`` for the flags). It:

1. makes a database: a SQLite file in a temporary directory, or with ``--pg`` a fresh
   ``paymesh_bench_webhooks`` on the local PostgreSQL (dropped at the end), migrated;
2. starts the receiver (``bench.webhook_receiver``) in a process of its own, on 127.0.0.1
   over HTTPS with a throwaway CA (``--plain-http`` for HTTP), every delivery verified by
   the reference ``standardwebhooks`` package, as the merchant's own code would;
3. registers ``--endpoints`` endpoints for one merchant and writes ``--events`` events
   through the path the state changes use (``WebhookEventRepository.emit``, 50 a commit), so
   each event is owed to every endpoint;
4. runs the delivery worker's pipeline (``WebhookDeliveryWorker.run_forever`` with the
   gateway's sender pool, what the gateway runs) ``--workers`` times over in this process,
   and times the deliveries from the first claim to the last result recorded, printing
   progress every second.

One endpoint receives one event at a time (its order is creation order), so the worker's
concurrency is at most the number of endpoints; the figure is deliveries/s (every event to
every endpoint) and events/s (whole events delivered to all their endpoints). The receiver,
the database and the worker share this machine's cores: the number is a floor for a gateway
sending to receivers elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import ssl
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bench import pg
from bench.webhook_receiver import WebhookReceiver
from gateway_svc.adapters.migrate import migrate
from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.adapters.webhook_records import EndpointRecord, seal_secrets
from gateway_svc.adapters.webhook_sender import WebhookSender
from gateway_svc.domain import webhooks as wh
from gateway_svc.domain.webhooks import EventType
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.webhook_delivery import DeliveryPolicy, WebhookDeliveryWorker
from gateway_svc.service_layer.webhook_delivery_wiring import SENDER_POOLS, SenderPool
from gateway_svc.service_layer.webhook_emit import new_event
from svc_kit import db
from svc_kit.pki import generate_ca, issue_cert

BENCH_DB = "paymesh_bench_webhooks"
MERCHANT = "mer_bench"
SECRET = wh.new_secret(bytes(range(32)))
BOX = SecretBox.development()
WRITE_BATCH = 50


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--events", type=int, default=1000, help="events to deliver (1000)")
    add("--endpoints", type=int, default=10, help="endpoints, each owed every event (10)")
    add("--workers", type=int, default=1, help="delivery workers in this process (1)")
    add("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    add("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL of the PostgreSQL server (%(default)s)")  # fmt: skip
    add("--plain-http", action="store_true", help="HTTP instead of HTTPS to the receiver")
    add("--timeout-s", type=float, default=600.0, help="give up after (600)")
    return parser.parse_args(argv)


def tls_files(folder: Path) -> ssl.SSLContext:
    """A throwaway CA and the receiver's certificate in ``folder``; the sender's context,
    trusting only that CA."""
    ca_pem, ca_key = generate_ca("webhook bench CA")
    cert_pem, key_pem = issue_cert(ca_pem, ca_key, "receiver")
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    return ssl.create_default_context(cadata=ca_pem.decode())


def serve_receiver(conn: Connection, folder: str | None, paths: list[str]) -> None:
    """The receiver's process: sends its port, serves until told to stop, then sends how
    many deliveries it verified and refused."""

    async def serve() -> tuple[int, int]:
        tls = None
        if folder is not None:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
        receiver = WebhookReceiver(tls=tls)
        for path in paths:
            receiver.expect(path, SECRET)
        conn.send(await receiver.start())
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await receiver.stop()
        return len(receiver.ids()), len(receiver.refused)

    conn.send(asyncio.run(serve()))


async def prepare(engine: AsyncEngine, base_url: str, args: argparse.Namespace) -> int:
    """Endpoints at ``base_url``/hooks/<i> and the events written; the deliveries owed."""
    await migrate(engine)
    now = datetime.now(UTC)
    async with GatewayUnitOfWork(engine) as uow:
        for i in range(args.endpoints):
            eid = f"we_bench_{i:04d}"
            sealed = seal_secrets(BOX, eid, [wh.EndpointSecret(SECRET)])
            url = f"{base_url}/hooks/{i}"
            record = EndpointRecord(eid, MERCHANT, url, "bench", (), True, "", sealed, now, now)
            await uow.webhook_endpoints.add(record)
        await uow.commit()
    written = 0
    while written < args.events:
        size = min(WRITE_BATCH, args.events - written)
        at = datetime.now(UTC)
        batch = [
            new_event(
                MERCHANT,
                EventType.PAYMENT_CAPTURED,
                at,
                (f"pay_{written + i}",),
                {"id": f"pay_{written + i}", "amount": {"minor_units": 1000}},
            )
            for i in range(size)
        ]
        async with GatewayUnitOfWork(engine) as uow:
            await uow.webhook_events.emit(batch)
            await uow.commit()
        written += size
    return int(args.events * args.endpoints)


async def measure(
    engine: AsyncEngine, owed: int, args: argparse.Namespace, client_tls: ssl.SSLContext | None
) -> float:
    """Run the workers until every delivery is recorded; the seconds it took."""
    sender = SenderPool(
        [
            WebhookSender(ssl_context=client_tls, allow_insecure_http=args.plain_http)
            for _ in range(SENDER_POOLS)
        ]
    )
    workers = [
        WebhookDeliveryWorker(
            engine,
            sender,
            BOX,
            DeliveryPolicy(allow_private=True, idle_poll_s=0.05, report_every_s=3600),
        )
        for _ in range(args.workers)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    try:
        while True:
            await asyncio.sleep(1.0)
            async with GatewayUnitOfWork(engine, read_only=True) as uow:
                left = await uow.webhook_deliveries.unfinished_count()
            elapsed = time.perf_counter() - started
            done = owed - left
            print(f"{elapsed:6.1f} s  {done:>7}/{owed} delivered  {done / elapsed:8.1f}/s",
                  flush=True)  # fmt: skip
            if left == 0:
                return elapsed
            if elapsed > args.timeout_s:
                raise TimeoutError(f"{left} deliveries still owed after {elapsed:.0f} s")
    finally:
        for worker in workers:
            await worker.stop()
        await sender.aclose()


async def run(args: argparse.Namespace) -> int:
    """Prepare, measure, report; the exit code."""
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        folder = Path(tmp)
        client_tls = None if args.plain_http else tls_files(folder)
        mine, theirs = multiprocessing.get_context("spawn").Pipe()
        paths = [f"/hooks/{i}" for i in range(args.endpoints)]
        shared = None if args.plain_http else str(folder)
        child = multiprocessing.get_context("spawn").Process(
            target=serve_receiver, args=(theirs, shared, paths), daemon=True
        )
        child.start()
        port = int(mine.recv())
        scheme = "http" if args.plain_http else "https"
        if args.pg:
            pg.recreate_database(args.pg_url, BENCH_DB)
            url = pg.sqlalchemy_url(args.pg_url, BENCH_DB)
        else:
            url = f"sqlite+aiosqlite:///{folder / 'gateway.db'}"
        engine = db.make_engine(url, pool_size=20)
        try:
            owed = await prepare(engine, f"{scheme}://localhost:{port}", args)
            print(f"{args.events} events x {args.endpoints} endpoints = {owed} deliveries owed"
                  f" ({db.backend(engine)}, {scheme}, {args.workers} worker(s))",
                  flush=True)  # fmt: skip
            elapsed = await measure(engine, owed, args, client_tls)
        finally:
            mine.send("stop")
            verified, refused = mine.recv()
            child.join(10)
            await engine.dispose()
            if args.pg:
                pg.drop_database(args.pg_url, BENCH_DB)
    print(f"\n{owed} deliveries in {elapsed:.1f} s: {owed / elapsed:.0f} deliveries/s, "
          f"{args.events / elapsed:.0f} events/s (each to {args.endpoints} endpoints); "
          f"{verified} verified by standardwebhooks, {refused} refused", flush=True)  # fmt: skip
    return 0 if verified >= owed and not refused else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(run(args))
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
