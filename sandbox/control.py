"""The control API under ``/_control/``: script faults, read and reset simulator state.

Plain JSON with no authentication: the sandbox is test infrastructure and binds to 127.0.0.1
by default. Routes (every error is ``{"error": "..."}``)::

    POST   /_control/faults             script a fault (sandbox.faults) -> 201, the fault
    GET    /_control/faults             {"faults": [...]} armed faults, remaining and fired
    DELETE /_control/faults[?provider=] {"cleared": n}
    GET    /_control/<provider>/state   the simulator's snapshot()
    POST   /_control/reset              every simulator reset(), every fault cleared
    GET    /_control/stats              {"requests": {...}, "faults_fired": {...},
                                         "connections_accepted": n}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from sandbox.core import ProviderSim, SimResponse
from sandbox.faults import FaultBook, InvalidFault
from sandbox.stats import RequestStats

PREFIX = "/_control/"


class ControlApi:
    """Answers ``/_control/`` requests from the server's simulators, faults and stats."""

    def __init__(
        self,
        sims: Mapping[str, ProviderSim],
        faults: FaultBook,
        stats: RequestStats,
        connections: Callable[[], int],
    ) -> None:
        self._sims = sims
        self._faults = faults
        self._stats = stats
        self._connections = connections

    def handle(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> SimResponse:
        """One control request; ``path`` still starts with ``/_control/``."""
        route = path.removeprefix(PREFIX).rstrip("/")
        if route == "faults":
            return self._faults_route(method, query, body)
        if route == "reset":
            return self._reset() if method == "POST" else _not_allowed("POST")
        if route == "stats":
            return self._stats_reply() if method == "GET" else _not_allowed("GET")
        provider, _, leaf = route.partition("/")
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
        try:
            spec = json.loads(body or b"null")
        except ValueError:
            return _error(400, "the body must be a JSON object")
        if not isinstance(spec, dict):
            return _error(400, "the body must be a JSON object")
        try:
            fault = self._faults.add(spec)
        except InvalidFault as exc:
            return _error(400, str(exc))
        return SimResponse.of_json(201, fault.to_json())

    def _reset(self) -> SimResponse:
        for sim in self._sims.values():
            sim.reset()
        cleared = self._faults.clear()
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


def _error(status: int, message: str) -> SimResponse:
    return SimResponse.of_json(status, {"error": message})


def _not_allowed(allowed: str) -> SimResponse:
    return SimResponse.of_json(405, {"error": "method not allowed"}, {"allow": allowed})
