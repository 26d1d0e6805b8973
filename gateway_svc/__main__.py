"""``python -m gateway_svc [serve|migrate]``: run the payment gateway, or migrate its schema.

Configuration comes from GATEWAY_* environment variables (provider settings nested with a
double underscore, GATEWAY_STRIPE__BASE_URL); ``--help`` lists them, secrets masked.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from collections.abc import Sequence

from gateway_svc.adapters.migrate import migrate
from gateway_svc.app import create_app, database_url
from gateway_svc.settings import GatewaySettings, gateway_settings_help
from svc_kit import db
from svc_kit.logs import configure_logging
from svc_kit.server import run_until_signalled

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
        choices=("serve", "migrate"),
        help="serve (default): run the gRPC service; migrate: apply schema migrations and exit",
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    overrides = {} if args.command == "serve" else _OFFLINE
    settings = GatewaySettings(**overrides)  # type: ignore[arg-type]
    configure_logging("gateway", settings.log_level)
    runner = {"serve": _serve, "migrate": _migrate}[args.command]
    try:
        import uvloop  # optional: less CPU per RPC (edge.md)

        return uvloop.run(runner(settings))
    except ImportError:
        return asyncio.run(runner(settings))


if __name__ == "__main__":
    sys.exit(main())
