"""The control API under ``/_control/``: script faults, steer callbacks, read and reset state.

Plain JSON with no authentication: the sandbox is test infrastructure and binds to 127.0.0.1
by default. Routes (every error is ``{"error": "..."}``, a malformed request 400)::

    POST   /_control/faults             script a fault (sandbox.faults) -> 201, the fault
    GET    /_control/faults             {"faults": [...]} armed faults, remaining and fired
    DELETE /_control/faults[?provider=] {"cleared": n}
    GET    /_control/<provider>/state   the simulator's snapshot()
    POST   /_control/reset              every simulator reset(), every fault cleared, the
                                        callbacks' queue, records and modes forgotten
    GET    /_control/stats              {"requests": {...}, "faults_fired": {...},
                                         "connections_accepted": n}
    GET    /_control/webhooks           callback settings and counters (sandbox.webhooks)
    POST   /_control/webhooks           {"target"?, "ca_file"?, "ca_pem"?, "enabled"?} -> same
    POST   /_control/webhooks/mode      {"mode": "normal|duplicate|reverse|bad_signature|
                                         stale", "provider"?} (no provider: all) -> same
    POST   /_control/webhooks/flush     {"timeout_s"?: 20} send held events, wait until idle
                                        -> {"sent": [records finished meanwhile], "pending": n}
    GET    /_control/webhooks/sent[?provider=]  {"sent": [records, oldest first]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from sandbox.core import ProviderSim, SimResponse
from sandbox.faults import FaultBook, InvalidFault
from sandbox.stats import RequestStats
from sandbox.webhooks.records import Record
from sandbox.webhooks.sender import WebhookSender
from sandbox.webhooks.settings import PROVIDERS, InvalidSetting, parsed_mode

PREFIX = "/_control/"
WEBHOOKS = "webhooks"
DEFAULT_FLUSH_TIMEOUT_S = 20.0
MAX_FLUSH_TIMEOUT_S = 120.0


class ControlApi:
    """Answers ``/_control/`` requests from the server's simulators, faults, stats and
    callback sender."""

    def __init__(
        self,
        sims: Mapping[str, ProviderSim],
        faults: FaultBook,
        stats: RequestStats,
        connections: Callable[[], int],
        webhooks: WebhookSender,
    ) -> None:
        self._sims = sims
        self._faults = faults
        self._stats = stats
        self._connections = connections
        self._webhooks = webhooks

    async def handle(
        self, method: str, path: str, query: Mapping[str, str], body: bytes
    ) -> SimResponse:
        """One control request; ``path`` still starts with ``/_control/``."""
        route = path.removeprefix(PREFIX).rstrip("/")
        if route == "faults":
            return self._faults_route(method, query, body)
        if route == "reset":
            return self._reset() if method == "POST" else _not_allowed("POST")
        if route == "stats":
            return self._stats_reply() if method == "GET" else _not_allowed("GET")
        provider, _, leaf = route.partition("/")
        if provider == WEBHOOKS:
            return await self._webhooks_route(method, leaf, query, body)
        if leaf == "state":
            if method != "GET":
                return _not_allowed("GET")
            sim = self._sims.get(provider)
            if sim is None:
                return _error(404, f"no simulator named {provider!r}")
            return SimResponse.of_json(200, sim.snapshot())
        return _error(404, f"no control route {path!r}")

    def _faults_route(self, method: str, query: Mapping[str, str], body: bytes) -> SimResponse:
        if method == "GET":
            return SimResponse.of_json(200, {"faults": [f.to_json() for f in self._faults.list()]})
        if method == "DELETE":
            return SimResponse.of_json(200, {"cleared": self._faults.clear(query.get("provider"))})
        if method != "POST":
            return _not_allowed("GET, POST, DELETE")
        spec = _json_object(body)
        if spec is None:
            return _error(400, "the body must be a JSON object")
        try:
            fault = self._faults.add(spec)
        except InvalidFault as exc:
            return _error(400, str(exc))
        return SimResponse.of_json(201, fault.to_json())

    async def _webhooks_route(
        self, method: str, leaf: str, query: Mapping[str, str], body: bytes
    ) -> SimResponse:
        sender = self._webhooks
        if leaf == "sent":
            if method != "GET":
                return _not_allowed("GET")
            provider = query.get("provider")
            if provider is not None and provider not in PROVIDERS:
                return _error(400, f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
            return _records(sender.records.listed(provider))
        if leaf not in ("", "mode", "flush"):
            return _error(404, f"no control route '/_control/webhooks/{leaf}'")
        if leaf == "" and method == "GET":
            return SimResponse.of_json(200, sender.to_json())
        if method != "POST":
            return _not_allowed("GET, POST" if leaf == "" else "POST")
        spec = _json_object(body or b"{}")
        if spec is None:
            return _error(400, "the body must be a JSON object")
        try:
            if leaf == "flush":
                sent, pending = await sender.flush(_flush_timeout_s(spec))
                return _records(sent, pending=pending)
            if leaf == "mode":
                sender.set_mode(*parsed_mode(spec))
            else:
                await sender.configure(spec)
        except InvalidSetting as exc:
            return _error(400, str(exc))
        return SimResponse.of_json(200, sender.to_json())

    def _reset(self) -> SimResponse:
        for sim in self._sims.values():
            sim.reset()
        cleared = self._faults.clear()
        self._webhooks.reset()
        return SimResponse.of_json(200, {"reset": sorted(self._sims), "faults_cleared": cleared})

    def _stats_reply(self) -> SimResponse:
        fired: dict[str, dict[str, int]] = {}
        for (provider, kind), count in sorted(self._faults.fired.items()):
            fired.setdefault(provider, {})[kind] = count
        return SimResponse.of_json(
            200,
            {
                "requests": self._stats.to_json(),
                "faults_fired": fired,
                "connections_accepted": self._connections(),
            },
        )


def _json_object(body: bytes) -> dict[str, object] | None:
    """The body as a JSON object, or None when it is anything else."""
    try:
        spec = json.loads(body or b"null")
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def _flush_timeout_s(spec: Mapping[str, object]) -> float:
    unknown = sorted(set(spec) - {"timeout_s"})
    if unknown:
        raise InvalidSetting(f"unknown field {unknown[0]!r}; known: timeout_s")
    raw = spec.get("timeout_s", DEFAULT_FLUSH_TIMEOUT_S)
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or not 0 < raw <= MAX_FLUSH_TIMEOUT_S
    ):
        raise InvalidSetting(f"timeout_s must be a number in (0, {MAX_FLUSH_TIMEOUT_S:g}]")
    return float(raw)


def _records(records: list[Record], **extra: object) -> SimResponse:
    return SimResponse.of_json(200, {"sent": [r.to_json() for r in records], **extra})


def _error(status: int, message: str) -> SimResponse:
    return SimResponse.of_json(status, {"error": message})


def _not_allowed(allowed: str) -> SimResponse:
    return SimResponse.of_json(405, {"error": "method not allowed"}, {"allow": allowed})
