"""``python -m sandbox``: serve the provider simulators on one port until SIGTERM or SIGINT.

    python -m sandbox [--listen 127.0.0.1:0] [--pki-dir DIR | --tls-cert F --tls-key F |
                      --plaintext] [--ports-file PATH] [--providers stripe,paypal,...]

When ready it prints one line, ``sandbox ready at <url> (<providers>)``, and writes the ports
file ``{"https": port, "pid": pid}`` (``"http"`` with --plaintext) atomically, as svc_kit's
services do, for the stack supervisor. Credentials come from ``SANDBOX_<FIELD>`` variables
(sandbox.config). A provider whose package does not exist yet is skipped with a warning; one
whose package fails to import stops the sandbox with the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.registry import PROVIDERS, SimFactory, UnknownProvider, load_factories
from sandbox.server import start_sandbox
from sandbox.tls import ensure_pki_cert, server_context
from svc_kit.logs import configure_logging
from svc_kit.pki import write_atomically

log = logging.getLogger("sandbox")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default: %(default)s)")
    tls = parser.add_mutually_exclusive_group(required=True)
    tls.add_argument(
        "--pki-dir",
        type=Path,
        help="dev PKI dir: serve DIR/sandbox.pem, issued from DIR/ca.pem when missing",
    )
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate chain (with --tls-key)")
    tls.add_argument("--plaintext", action="store_true", help="plain HTTP (tests only)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument("--ports-file", type=Path, help='write {"https": port, "pid": pid}')
    parser.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help="comma-separated (default: every one whose package exists: %(default)s)",
    )
    parser.add_argument("--log-level", default="WARNING", help="default: %(default)s")
    return parser


def _ssl_context(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> ssl.SSLContext | None:
    if args.plaintext:
        return None
    if args.pki_dir is not None:
        return server_context(*ensure_pki_cert(args.pki_dir))
    if args.tls_key is None:
        parser.error("--tls-cert needs --tls-key")
    return server_context(args.tls_cert, args.tls_key)


def _listen(value: str, parser: argparse.ArgumentParser) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        parser.error(f"--listen must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


async def _serve(
    factories: dict[str, SimFactory],
    listen: tuple[str, int],
    context: ssl.SSLContext | None,
    ports_file: Path | None,
) -> None:
    running = await start_sandbox(
        factories, SandboxConfig.from_env(), host=listen[0], port=listen[1], ssl_context=context
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ports_file is not None:
        ports = {"https" if context else "http": running.port, "pid": os.getpid()}
        ports_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(ports_file, (json.dumps(ports) + "\n").encode(), secret=False)
    print(
        f"sandbox ready at {running.url} ({', '.join(running.sims) or 'no providers'})", flush=True
    )
    await stop.wait()
    await running.close()
    log.info("sandbox stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, set up, and serve until signalled; 0 on a clean stop."""
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging("sandbox", args.log_level)
    listen = _listen(args.listen, parser)
    names = [name.strip() for name in args.providers.split(",") if name.strip()]
    try:
        context = _ssl_context(args, parser)
        factories, missing = load_factories(names)
    except (UnknownProvider, FileNotFoundError) as exc:
        parser.error(str(exc))
    for name in missing:
        log.warning("provider %s not mounted: its package does not exist yet", name)
    coroutine = _serve(factories, listen, context, args.ports_file)
    try:
        import uvloop  # optional: less CPU per request under the gateway benchmark
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
