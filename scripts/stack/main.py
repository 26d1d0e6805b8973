"""Entry point: check what can be checked without starting anything, then supervise."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from collections.abc import Sequence

from scripts.stack import databases, ports
from scripts.stack.children import Console
from scripts.stack.services import SERVICES
from scripts.stack.settings import SettingsError, StackSettings, load

EXIT_USAGE = 2


def _preflight(settings: StackSettings, console: Console) -> bool:
    """False (after saying why) when a fixed port is taken."""
    problems = ports.busy_ports(
        {
            "PAYMESH_REST_ADDR": settings.rest_addr,
            "PAYMESH_GRPC_ADDR": settings.grpc_addr,
            "PAYMESH_ADMIN_ADDR": settings.admin_addr,
        }
    )
    for problem in problems:
        console.say(f"cannot start: {problem}")
    return not problems


async def _supervise(settings: StackSettings, console: Console) -> int:
    # Imported here: the supervisor needs a running loop, the checks above do not.
    from scripts.stack.supervisor import Supervisor

    # The gateway is told where Envoy's internal listener is before Envoy starts: with
    # port 0, a port is chosen now and held until Envoy has it (ports.reserve).
    internal = ports.reserve(settings.grpc_addr)
    try:
        settings = dataclasses.replace(settings, grpc_addr=internal.addr)
        dbs = databases.resolve(settings, SERVICES, os.environ)
        return await Supervisor(settings, console, SERVICES, dbs).run()
    finally:
        internal.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack; the process exit code (0 after Ctrl-C, 1 on any failure, 2 on bad usage)."""
    console = Console()
    try:
        settings = load(argv)
        databases.resolve(settings, SERVICES, os.environ)  # a bad URL is a usage error
    except SettingsError as exc:
        console.say(f"error: {exc}")
        return EXIT_USAGE
    if not _preflight(settings, console):
        return 1
    try:
        return asyncio.run(_supervise(settings, console))
    except KeyboardInterrupt:  # Ctrl-C before the supervisor's handlers were installed
        return 130


if __name__ == "__main__":
    sys.exit(main())
