"""An httpx transport whose connections go only to addresses the SSRF guard checked.

Why not resolve, check, and then request ``https://<ip>/...`` with a ``Host`` header and the
``sni_hostname`` extension: httpcore pools connections by URL origin, so two merchant hosts
behind one IP (a CDN, shared hosting) would share connections, and a connection whose
certificate was verified for ``a.example`` would carry ``b.example``'s events without
``b.example``'s certificate ever being checked. Someone who can point ``b.example`` at their
own server (a DNS hijack, which TLS exists to defeat) and owns a certificate for any name
they host could then read ``b.example``'s events.

So the URL keeps the merchant's host name (pool key, SNI and certificate check all use it),
and only the TCP connect is redirected: ``pinned`` records the checked addresses for a
(host, port) in a context variable around one request, and ``_PinnedBackend`` (an httpcore
network backend, its documented extension point) connects to those addresses and nothing
else. httpcore opens a connection in the task of the request that needs it, so the request's
context, and its pin, is the one in effect. A connect without a pin is refused: nothing in
this transport ever resolves a name. A pooled connection that is reused was opened to an
address checked when it was opened.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

import httpcore
import httpx

from .http_transport import AsyncioBackend, CoreTransport

__all__ = ["PinnedTransport", "pinned"]

_Pins = Mapping[tuple[str, int], tuple[str, ...]]
_PINS: ContextVar[_Pins] = ContextVar("webhook_pins", default=MappingProxyType({}))


@contextmanager
def pinned(host: str, port: int, addresses: Sequence[str]) -> Iterator[None]:
    """Within the block, a connection to ``host``:``port`` goes to ``addresses`` (in order,
    the first that accepts) and nowhere else. ``host`` is the URL's host as httpx normalizes
    it (``request.url.raw_host``)."""
    assert addresses, "pin at least one checked address"
    token = _PINS.set(MappingProxyType({**_PINS.get(), (host, port): tuple(addresses)}))
    try:
        yield
    finally:
        _PINS.reset(token)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects a (host, port) to its pinned addresses; refuses any other connect."""

    def __init__(self) -> None:
        self._inner = AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = _PINS.get().get((host, port))
        if not addresses:
            raise httpcore.ConnectError(f"no checked address for {host}:{port}; not resolving")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                # Another checked address may answer (a host with IPv6 and IPv4 records whose
                # receiver listens on one family only); the attempt's deadline bounds it all.
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are never sent over a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(CoreTransport):
    """HTTP/1.1 over one httpcore pool that connects only as ``pinned`` says."""

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(ssl_context=ssl_context, limits=limits, network_backend=_PinnedBackend())
