"""Scripted faults: what the sandbox does instead of (or around) a simulator's answer.

A test scripts a fault for one provider through ``POST /_control/faults``; the server asks
``FaultBook.take`` for every provider request. Kinds, and whether the simulator's state
changes (what a gateway must reconcile afterwards):

==================== ==================================================== ===========
kind                 what the client sees                                 committed?
==================== ==================================================== ===========
latency              the normal reply, ``latency_ms`` later               yes
error                ``sim.fault_reply(status)`` (default 500)            no
rate_limit           ``sim.fault_reply(429, retry_after_s)``              no
reset                the TCP connection reset (RST), no reply             no
reset_after_commit   the TCP connection reset after the sim handled it    yes
commit_then_timeout  silence until it gives up (the sim handled it)       yes
==================== ==================================================== ===========

Matching: a fault applies to a request when the provider matches, the request path starts with
``path`` (when given) and the method equals ``method`` (when given). Faults of a provider are
consulted in the order scripted and exactly one fires per request: the first matching fault
with a remaining count, which then loses one (``count: -1`` never runs out, so it shadows the
faults scripted after it until cleared). This module does no I/O; the server acts on the fault.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """What a fault does; the table in the module docstring says what each one commits."""

    LATENCY = "latency"
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    RESET = "reset"
    RESET_AFTER_COMMIT = "reset_after_commit"
    COMMIT_THEN_TIMEOUT = "commit_then_timeout"


UNTIL_CLEARED = -1
_FIELDS = frozenset(
    {"provider", "kind", "count", "path", "method", "latency_ms", "status", "retry_after_s"}
)


class InvalidFault(ValueError):
    """A fault specification the control API refuses (answered 400 with this message)."""


@dataclass(slots=True)
class Fault:
    """One scripted fault and how much of it is left."""

    id: str
    provider: str
    kind: FaultKind
    count: int
    """As scripted: how many requests it applies to, or -1 for every one until cleared."""
    path: str | None = None
    method: str | None = None
    latency_ms: int = 0
    status: int = 500
    retry_after_s: float = 1.0
    fired: int = 0

    @property
    def remaining(self) -> int:
        """Requests it will still apply to (-1: unlimited)."""
        return UNTIL_CLEARED if self.count == UNTIL_CLEARED else self.count - self.fired

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to a request (remaining count not considered)."""
        return (self.path is None or path.startswith(self.path)) and (
            self.method is None or self.method == method
        )

    def to_json(self) -> dict[str, object]:
        """The control API's view of the fault."""
        out: dict[str, object] = {
            "id": self.id,
            "provider": self.provider,
            "kind": self.kind.value,
            "count": self.count,
            "remaining": self.remaining,
            "fired": self.fired,
            "path": self.path,
            "method": self.method,
        }
        if self.kind is FaultKind.LATENCY:
            out["latency_ms"] = self.latency_ms
        elif self.kind is FaultKind.ERROR:
            out["status"] = self.status
        elif self.kind is FaultKind.RATE_LIMIT:
            out["retry_after_s"] = self.retry_after_s
        return out


class FaultBook:
    """The scripted faults of every provider, in order, and how many of each kind fired."""

    def __init__(self, providers: Iterable[str]) -> None:
        self._providers = frozenset(providers)
        self._by_provider: dict[str, list[Fault]] = {}
        self._ids = itertools.count(1)
        self.fired: Counter[tuple[str, str]] = Counter()
        """(provider, kind) -> times fired, kept across clears (``/_control/stats``)."""

    def add(self, spec: Mapping[str, object]) -> Fault:
        """Validate a specification (the ``POST /_control/faults`` body) and script it."""
        fault = parse_fault(spec, self._providers, f"flt_{next(self._ids)}")
        self._by_provider.setdefault(fault.provider, []).append(fault)
        return fault

    def take(self, provider: str, method: str, path: str) -> Fault | None:
        """The fault for this request, its count consumed, or None (the hot path: one dict
        lookup when nothing is scripted for the provider)."""
        faults = self._by_provider.get(provider)
        if not faults:
            return None
        for index, fault in enumerate(faults):
            if fault.matches(method, path):
                fault.fired += 1
                self.fired[provider, fault.kind.value] += 1
                if fault.remaining == 0:
                    del faults[index]  # spent; the list stays what is still armed
                return fault
        return None

    def list(self) -> list[Fault]:
        """Every armed fault, by provider then in scripted order."""
        return [fault for name in sorted(self._by_provider) for fault in self._by_provider[name]]

    def clear(self, provider: str | None = None) -> int:
        """Disarm every fault (of ``provider`` only when given); returns how many."""
        if provider is None:
            count = sum(len(faults) for faults in self._by_provider.values())
            self._by_provider.clear()
            return count
        return len(self._by_provider.pop(provider, []))


def parse_fault(spec: Mapping[str, object], providers: frozenset[str], fault_id: str) -> Fault:
    """A Fault from its JSON specification, or InvalidFault saying what is wrong."""
    unknown = set(spec) - _FIELDS
    if unknown:
        raise InvalidFault(f"unknown field(s): {', '.join(sorted(unknown))}")
    provider = spec.get("provider")
    if provider not in providers:
        raise InvalidFault(f"provider must be one of {sorted(providers)}, got {provider!r}")
    try:
        kind = FaultKind(str(spec.get("kind")))
    except ValueError:
        raise InvalidFault(
            f"kind must be one of {[k.value for k in FaultKind]}, got {spec.get('kind')!r}"
        ) from None
    count = _int(spec, "count", 1)
    if count == 0 or count < UNTIL_CLEARED:
        raise InvalidFault("count must be a positive integer, or -1 for until cleared")
    path = _optional_str(spec, "path")
    if path is not None and not path.startswith("/"):
        raise InvalidFault("path must start with '/' (provider-relative: /v1/payment_intents)")
    method = _optional_str(spec, "method")
    fault = Fault(fault_id, str(provider), kind, count, path, method and method.upper())
    fault.latency_ms = _int(spec, "latency_ms", 0)
    fault.status = _int(spec, "status", 500)
    fault.retry_after_s = _number(spec, "retry_after_s", 1.0)
    _check_kind_fields(fault, spec)
    return fault


def _check_kind_fields(fault: Fault, spec: Mapping[str, object]) -> None:
    if fault.kind is FaultKind.LATENCY and ("latency_ms" not in spec or fault.latency_ms < 0):
        raise InvalidFault("a latency fault needs latency_ms >= 0")
    if not 400 <= fault.status <= 599:
        raise InvalidFault("status must be an HTTP error status (400-599)")
    if fault.retry_after_s < 0:
        raise InvalidFault("retry_after_s must be >= 0")


def _int(spec: Mapping[str, object], key: str, default: int) -> int:
    value = spec.get(key, default)
    # bool is an int subclass; `"count": true` is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidFault(f"{key} must be an integer, got {value!r}")
    return value


def _number(spec: Mapping[str, object], key: str, default: float) -> float:
    value = spec.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidFault(f"{key} must be a number, got {value!r}")
    return float(value)


def _optional_str(spec: Mapping[str, object], key: str) -> str | None:
    value = spec.get(key)
    if value is not None and not (isinstance(value, str) and value):
        raise InvalidFault(f"{key} must be a non-empty string, got {value!r}")
    return value
