"""``python -m gateway_svc [serve|migrate|worker]``: run the payment gateway, migrate its
schema, or run only the webhook delivery worker.

Configuration comes from GATEWAY_* environment variables (provider settings nested with a
double underscore, GATEWAY_STRIPE__BASE_URL); ``--help`` lists them, secrets masked.

``worker`` sends merchant webhooks from the gateway's database (GATEWAY_DATABASE_URL, the
secret key and the two webhook destination settings are all it reads), beside the gateway
processes, which run the same worker themselves: more delivery capacity without more API
servers. It logs what it does, serves /metrics on GATEWAY_METRICS_ADDR when set, writes
GATEWAY_PORTS_FILE once it runs, and on SIGTERM or SIGINT lets its attempts in flight finish
for a moment, records them, hands the rest back to the queue, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from gateway_svc.adapters.migrate import migrate
from gateway_svc.app import create_app, database_url
from gateway_svc.service_layer.webhook_delivery import DeliveryPolicy
from gateway_svc.service_layer.webhook_delivery_wiring import build_delivery
from gateway_svc.settings import GatewaySettings, gateway_settings_help
from svc_kit import db
from svc_kit.logs import configure_logging
from svc_kit.metrics import register_pool, start_metrics_server
from svc_kit.server import run_until_signalled

_log = logging.getLogger("gateway_svc.worker")

# Migrating opens no port and calls nobody: the transport settings must not stand in the way.
_OFFLINE = {
    "plaintext": True,
    "listen_addr": "127.0.0.1:0",
    "ledger_addr": "127.0.0.1:0",
    "identity_addr": "127.0.0.1:0",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway_svc",
        description="paymesh's payment gateway (gRPC: paymesh.gateway.v1.PaymentService, "
        "FxService, BeneficiaryService, PayoutService); it reaches the ledger and identity "
        "through Envoy's internal listener.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment variables (provider settings nest with a double underscore):\n"
        + textwrap.indent(gateway_settings_help(), "  "),
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=("serve", "migrate", "worker"),
        help="serve (default): run the gRPC service; migrate: apply schema migrations and "
        "exit; worker: deliver merchant webhooks only, until SIGTERM",
    )
    worker = parser.add_argument_group("worker options")
    defaults = DeliveryPolicy()
    worker.add_argument("--batch", type=int, default=defaults.batch,
                        help="deliveries claimed per statement")  # fmt: skip
    worker.add_argument("--max-in-flight", type=int, default=defaults.max_in_flight,
                        help="attempts at once (each to a different endpoint)")  # fmt: skip
    worker.add_argument("--lease-s", type=float, default=defaults.lease_s,
                        help="seconds a claim is held; a killed worker's deliveries wait "
                        "this long before another worker takes them")  # fmt: skip
    worker.add_argument("--idle-poll-s", type=float, default=0.25,
                        help="seconds between looks at the queue when idle")  # fmt: skip
    worker.add_argument("--attempt-timeout-s", type=float, default=15.0,
                        help="one attempt's whole budget (the contract's 15 s)")  # fmt: skip
    worker.add_argument("--report-every-s", type=float, default=defaults.report_every_s,
                        help="how often to log what was delivered")  # fmt: skip
    return parser


async def _serve(settings: GatewaySettings) -> int:
    host = await create_app(settings)

    async def announce() -> None:
        while True:
            try:
                port = host.port
                break
            except RuntimeError:
                await asyncio.sleep(0.05)
        mode = "plaintext" if settings.plaintext else "mTLS"
        addr = settings.listen_addr.rsplit(":", 1)[0]
        print(
            f"gateway listening on {addr}:{port} ({mode}); ledger via {settings.ledger_addr},"
            f" audit via {settings.identity_addr}",
            file=sys.stderr,
            flush=True,
        )

    announcer = asyncio.create_task(announce())
    await run_until_signalled(host)
    announcer.cancel()
    return 0


async def _migrate(settings: GatewaySettings) -> int:
    engine = db.make_engine(database_url(settings))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print(f"gateway schema is up to date ({db.backend(engine)})")
    return 0


async def _work(settings: GatewaySettings, args: argparse.Namespace) -> int:
    """The webhook delivery worker alone, until SIGTERM or SIGINT."""
    # httpx logs every request at INFO: one line per delivery would bury the worker's own
    # reports (what it delivered, retried, dead-lettered), which say the same in summary.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # from the start: a stop while migrating
        loop.add_signal_handler(sig, stop.set)
    engine = db.make_engine(database_url(settings), pool_size=settings.db_pool_size)
    register_pool("gateway", engine)
    await migrate(engine)  # locked: safe beside gateways migrating the same database
    policy = DeliveryPolicy(
        batch=args.batch,
        max_in_flight=args.max_in_flight,
        lease_s=args.lease_s,
        idle_poll_s=args.idle_poll_s,
        report_every_s=args.report_every_s,
    )
    delivery = build_delivery(settings, engine, policy=policy,
                              attempt_timeout_s=args.attempt_timeout_s)  # fmt: skip
    metrics_port = start_metrics_server(settings.metrics_addr)
    delivery.start()
    p = delivery.worker.policy
    _log.info(
        "webhook worker delivering from %s: batch %d, up to %d in flight, lease %.0f s, "
        "private destinations %s, http %s",
        db.backend(engine), p.batch, p.max_in_flight, p.lease_s,
        "allowed" if p.allow_private else "refused",
        "allowed" if settings.webhook_allow_insecure_http else "refused",
    )  # fmt: skip
    if settings.ports_file:
        _publish(Path(settings.ports_file), metrics_port)
    await stop.wait()
    _log.info("stopping")
    await delivery.stop()
    await engine.dispose()
    return 0


def _publish(path: Path, metrics_port: int | None) -> None:
    """The worker's ports file, written atomically as the server's is: a supervisor waits
    for it to know the worker runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"metrics": metrics_port, "pid": os.getpid()}) + "\n")
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    overrides = {} if args.command == "serve" else _OFFLINE
    settings = GatewaySettings(**overrides)  # type: ignore[arg-type]
    configure_logging("gateway", settings.log_level)
    if args.command == "worker":
        return _run(_work(settings, args))
    runner = {"serve": _serve, "migrate": _migrate}[args.command]
    return _run(runner(settings))


def _run(main_coroutine: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop  # optional: less CPU per RPC (edge.md)

        return uvloop.run(main_coroutine)
    except ImportError:
        return asyncio.run(main_coroutine)


if __name__ == "__main__":
    sys.exit(main())
