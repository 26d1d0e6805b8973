"""``python -m identity_svc [serve|migrate|bootstrap-admin|verify-audit]``.

Configuration comes from IDENTITY_* environment variables; ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.adapters.migrate import migrate
from identity_svc.adapters.pepper import load_pepper
from identity_svc.app import create_app, database_url
from identity_svc.service_layer.identity import Identity
from identity_svc.settings import IdentitySettings
from svc_kit import db
from svc_kit.logs import configure_logging
from svc_kit.server import run_until_signalled
from svc_kit.settings import settings_help

COMMANDS = ("serve", "migrate", "bootstrap-admin", "verify-audit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m identity_svc",
        description="paymesh identity: merchants, API keys, roles, ext_authz, audit log.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment variables:\n" + textwrap.indent(settings_help(IdentitySettings), "  "),
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=COMMANDS,
        help="serve (default): run the gRPC service; migrate: apply schema migrations and exit;"
        " bootstrap-admin: create a platform admin key and print it once;"
        " verify-audit: recompute the audit hash chain, exit 1 if it was tampered with",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="bootstrap-admin: write the key to FILE (created with mode 0600, never overwritten)"
        " instead of printing it",
    )
    return parser


async def _serve(settings: IdentitySettings, _args: argparse.Namespace) -> int:
    host = await create_app(settings)
    await run_until_signalled(host)
    return 0


async def _with_identity(settings: IdentitySettings) -> tuple[Identity, AsyncEngine]:
    engine = db.make_engine(database_url(settings))
    await migrate(engine)
    pepper = load_pepper(settings.key_pepper_file, environment=settings.environment)
    return Identity(engine, pepper=pepper, environment=settings.environment), engine


async def _migrate(settings: IdentitySettings, _args: argparse.Namespace) -> int:
    engine = db.make_engine(database_url(settings))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print(f"identity schema is up to date ({db.backend(engine)})")
    return 0


async def _bootstrap_admin(settings: IdentitySettings, args: argparse.Namespace) -> int:
    identity, engine = await _with_identity(settings)
    try:
        merchant, key, secret = await identity.bootstrap_admin()
    finally:
        await engine.dispose()
    print(f"admin key {key.key_id} created for platform merchant {merchant.merchant_id}")
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
        print(f"the key was written to {out} (mode 0600); it is shown nowhere else")
    else:
        print("store it now; it is never shown again:")
        print(secret)
    return 0


async def _verify_audit(settings: IdentitySettings, _args: argparse.Namespace) -> int:
    identity, engine = await _with_identity(settings)
    try:
        print("verifying the audit log's hash chain ...", flush=True)
        checked, problems = await identity.verify_audit_log()
    finally:
        await engine.dispose()
    print(f"checked {checked} audit events")
    for p in problems:
        print(f"  sequence {p.sequence}: {p.kind.value}: {p.description}")
    print("audit log OK" if not problems else f"{len(problems)} problems found")
    return 0 if not problems else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    # Only serving needs the transport settings; the other commands open no port.
    overrides = {} if args.command == "serve" else {"plaintext": True, "listen_addr": "127.0.0.1:0"}
    settings = IdentitySettings(**overrides)  # type: ignore[arg-type]
    configure_logging("identity", settings.log_level)
    runner = {
        "serve": _serve,
        "migrate": _migrate,
        "bootstrap-admin": _bootstrap_admin,
        "verify-audit": _verify_audit,
    }[args.command]
    try:
        import uvloop  # optional: 15-20% less CPU per RPC (edge.md)

        return uvloop.run(runner(settings, args))
    except ImportError:
        return asyncio.run(runner(settings, args))


if __name__ == "__main__":
    sys.exit(main())
