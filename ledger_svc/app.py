"""Assembles the ledger service: engine, migrations, writer, sweeper, servicer, host."""

from __future__ import annotations

import asyncio
import contextlib

from ledger_svc.adapters.migrate import migrate
from ledger_svc.entrypoints.errors import MAPPER
from ledger_svc.entrypoints.servicer import LedgerServicer
from ledger_svc.service_layer.ledger import Ledger
from ledger_svc.service_layer.posting import PostingWriter
from ledger_svc.service_layer.sweeper import run_sweeper
from ledger_svc.settings import LedgerSettings
from paymesh.ledger.v1 import ledger_pb2_grpc
from svc_kit import db
from svc_kit.ids import new_id
from svc_kit.metrics import register_pool
from svc_kit.server import ServiceBinding, ServiceHost

SERVICE_NAME = "paymesh.ledger.v1.LedgerService"


def database_url(settings: LedgerSettings) -> str:
    """The configured URL, or the default SQLite file under var/."""
    return settings.database_url or db.default_sqlite_url("ledger")


async def create_app(settings: LedgerSettings) -> ServiceHost:
    """Build the ledger's ServiceHost; migrations are applied before it is returned.

    Nothing listens until ``host.start()``; the posting writer and the expiry
    sweeper start with it and stop after the server has drained.
    """
    engine = db.make_engine(database_url(settings), pool_size=settings.db_pool_size)
    register_pool("ledger", engine)
    await migrate(engine)
    writer = PostingWriter(
        engine,
        new_id,
        max_items=settings.batch_max_items,
        window_s=settings.batch_window_ms / 1000,
    )
    ledger = Ledger(engine, writer, new_id)
    servicer = LedgerServicer(ledger)
    sweeper: list[asyncio.Task[None]] = []

    async def probe() -> bool:
        return await db.ping(engine)

    async def start_background() -> None:
        writer.start()
        sweeper.append(asyncio.create_task(run_sweeper(engine, writer, settings.sweep_interval_s)))

    async def shutdown() -> None:
        for task in sweeper:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await writer.stop()
        await engine.dispose()

    return ServiceHost(
        name="ledger",
        settings=settings,
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                lambda server: ledger_pb2_grpc.add_LedgerServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        error_mapper=MAPPER,
        health_probe=probe,
        on_start=[start_background],
        on_stop=[shutdown],
    )
