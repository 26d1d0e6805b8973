"""The sandbox host: every simulator on one port under ``/<provider>``, with scripted faults.

``start_sandbox`` binds the socket first, so the simulators are built from a config whose
``public_url`` is already the real address (3DS pages and redirect links point back here), then
serves HTTP/1.1 (sandbox.http_wire) over TLS or, for unit tests, plaintext. Routing::

    GET  /healthz                 200 {"status": "ok", "providers": [...]}
    ANY  /_control/...            sandbox.control
    ANY  /<provider>/<path>?<q>   sim.handle(SimRequest(method, "/<path>", q, headers, body))
    else                          404 {"error": ...}

Simulators' callbacks (sandbox.webhooks) go out through one WebhookSender per sandbox, built
from the same config and stopped by ``close()``.

The path after the prefix is passed as sent (not percent-decoded), like the query's keys and
values are decoded by parse_qsl (the last value of a repeated key wins).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from urllib.parse import parse_qsl

from sandbox.config import SandboxConfig
from sandbox.control import PREFIX as CONTROL_PREFIX
from sandbox.control import ControlApi
from sandbox.core import ProviderSim, SimRequest, SimResponse
from sandbox.faults import Fault, FaultBook, FaultKind
from sandbox.http_wire import Abort, Action, Hold, HttpConnection, Reply
from sandbox.registry import SimFactory
from sandbox.stats import RequestStats
from sandbox.webhooks.sender import WebhookSender

DEFAULT_HOLD_CAP_S = 120.0
_BACKLOG = 1024
_HANDSHAKE_TIMEOUT_S = 10.0
_ABORT = Abort()
_EMPTY_QUERY: Mapping[str, str] = {}


class Sandbox:
    """The routing, fault and control logic, independent of sockets (``dispatch``)."""

    def __init__(
        self,
        sims: Mapping[str, ProviderSim],
        *,
        hold_cap_s: float,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.sims = dict(sims)
        self.faults = FaultBook(self.sims)
        self.stats = RequestStats()
        self.webhooks = webhooks or WebhookSender(SandboxConfig())
        """Sends the simulators' callbacks (off until given a target)."""
        self.webhooks.attach(self.sims.values())
        self._control = ControlApi(
            self.sims, self.faults, self.stats, lambda: self.connections_accepted, self.webhooks
        )
        self._hold = Hold(hold_cap_s)
        self.connections_accepted = 0
        """TCP connections accepted so far (a test of client keep-alive reads it)."""
        self._healthy = Reply(
            SimResponse.of_json(200, {"status": "ok", "providers": sorted(self.sims)})
        )

    async def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Action:
        """What to do with one request (sandbox.http_wire calls it)."""
        path, _, query_string = target.partition("?")
        query = (
            dict(parse_qsl(query_string, keep_blank_values=True)) if query_string else _EMPTY_QUERY
        )
        if path.startswith(CONTROL_PREFIX):
            return Reply(await self._control.handle(method, path, query, body))
        if path == "/healthz":
            return self._healthy
        name, slash, rest = path[1:].partition("/")
        sim = self.sims.get(name)
        if sim is None or not path.startswith("/"):
            return Reply(SimResponse.of_json(404, {"error": f"no simulator mounted at /{name}"}))
        sub_path = slash + rest or "/"
        self.stats.count(name, method, sub_path)
        request = SimRequest(method, sub_path, query, headers, body)
        fault = self.faults.take(name, method, sub_path)
        if fault is None:
            return Reply(await sim.handle(request))
        return await self._faulted(sim, fault, request)

    async def _faulted(self, sim: ProviderSim, fault: Fault, request: SimRequest) -> Action:
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.latency_ms / 1000)
            return Reply(await sim.handle(request))
        if kind is FaultKind.ERROR:
            return Reply(sim.fault_reply(fault.status, None))
        if kind is FaultKind.RATE_LIMIT:
            return Reply(sim.fault_reply(429, fault.retry_after_s))
        if kind is FaultKind.RESET:
            return _ABORT
        await sim.handle(request)  # committed: what follows only hides the outcome
        return _ABORT if kind is FaultKind.RESET_AFTER_COMMIT else self._hold


class RunningSandbox:
    """A started sandbox: its address, its simulators and its faults; ``close()`` stops it."""

    def __init__(
        self,
        sandbox: Sandbox,
        config: SandboxConfig,
        server: asyncio.Server,
        live: set[HttpConnection],
        port: int,
    ) -> None:
        self.sandbox = sandbox
        self.config = config
        self.port = port
        self._server = server
        self._live = live

    @property
    def url(self) -> str:
        """The base URL (``https://127.0.0.1:<port>``), as in ``config.public_url``."""
        return self.config.public_url

    @property
    def sims(self) -> Mapping[str, ProviderSim]:
        """The mounted simulators by name."""
        return self.sandbox.sims

    async def close(self) -> None:
        """Stop accepting, close idle connections, and reset busy ones, cancelling what they
        were doing: a stopping sandbox owes no reply, and a held request would take minutes."""
        self._server.close()
        pending = []
        for connection in list(self._live):
            task = connection.task
            connection.close(abort=task is not None)
            if task is not None:
                task.cancel()
                pending.append(task)
        await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()
        await self.sandbox.webhooks.close()


async def start_sandbox(
    factories: Mapping[str, SimFactory],
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    hold_cap_s: float = DEFAULT_HOLD_CAP_S,
) -> RunningSandbox:
    """Bind, build every simulator with the bound ``public_url``, and start serving.

    Raises ValueError when two factories build simulators of the same name, or a simulator's
    name differs from the one it is registered under (it would be mounted at the wrong path),
    and InvalidSetting (a ValueError) for a malformed ``webhook_target`` or ``webhook_ca_file``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=_BACKLOG)
    try:
        bound_port = int(sock.getsockname()[1])
        scheme = "https" if ssl_context is not None else "http"
        # A configured public_url (SANDBOX_PUBLIC_URL: compose's published port) wins: the
        # bound address is the container's own, which the payer's browser cannot reach.
        if not config.public_url:
            config = dataclasses.replace(
                config, public_url=f"{scheme}://{_url_host(host)}:{bound_port}"
            )
        sandbox = Sandbox(
            _build_sims(factories, config), hold_cap_s=hold_cap_s, webhooks=WebhookSender(config)
        )
        live: set[HttpConnection] = set()

        def accept() -> HttpConnection:
            sandbox.connections_accepted += 1
            return HttpConnection(sandbox.dispatch, live)

        server = await asyncio.get_running_loop().create_server(
            accept,
            sock=sock,
            ssl=ssl_context,
            ssl_handshake_timeout=_HANDSHAKE_TIMEOUT_S if ssl_context is not None else None,
        )
    except BaseException:
        sock.close()
        raise
    return RunningSandbox(sandbox, config, server, live, bound_port)


def _build_sims(
    factories: Mapping[str, SimFactory], config: SandboxConfig
) -> dict[str, ProviderSim]:
    sims: dict[str, ProviderSim] = {}
    for name, factory in factories.items():
        sim = factory(config)
        if sim.name != name:
            raise ValueError(f"the simulator registered as {name!r} calls itself {sim.name!r}")
        sims[name] = sim
    return sims


def _url_host(host: str) -> str:
    """The host to put in URLs: a wildcard bind is reached on loopback; IPv6 is bracketed."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a bind address we translate, not bind
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{address}]" if address.version == 6 else host
