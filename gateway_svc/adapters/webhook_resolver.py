"""Resolving a webhook URL's host when an endpoint is saved (``HostResolver``).

The same lookup the sender makes before each delivery (``webhook_sender``: the event loop's
``getaddrinfo`` for a TCP connect, every address in the resolver's order), with two
differences that suit a request a merchant is waiting on: it is bounded by a timeout, and a
name that does not resolve is an empty answer (the SSRF guard then refuses it: an endpoint
nothing can be delivered to is not saved), never an exception.
"""

from __future__ import annotations

import asyncio
import socket

DEFAULT_TIMEOUT_S = 5.0


class SystemResolver:
    """The system's resolver, through the running event loop."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to for a TCP connect to ``port``; empty when it
        resolves to none within the timeout."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            return []
        # sockaddr[0] keeps an IPv6 zone ("fe80::1%eth0"); check_addresses ignores it.
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
