"""The shapes every provider simulator shares: requests, replies and the simulator protocol.

One sandbox process serves every simulated provider on one HTTPS port, each under its own
path prefix (``/stripe``, ``/authorizenet``, ``/razorpay``, ``/paypal``), so a gateway
adapter's base URL is ``https://127.0.0.1:<port>/<provider>`` and the path after it is
exactly the real provider's path (``/v1/payment_intents``, ``/xml/v1/request.api`` ...).

A simulator is plain async Python over ``SimRequest`` -> ``SimResponse``: the server
(``sandbox.server``) does HTTP, TLS and fault injection, so each simulator can be unit-tested
by calling ``handle`` directly. The sandbox is test infrastructure: gateway_svc never imports
it (an import contract enforces that).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One HTTP request as a simulator sees it, with the provider prefix removed from path."""

    method: str
    path: str
    """The provider-relative path, for example ``/v1/payment_intents/pi_123/capture``."""
    query: Mapping[str, str]
    headers: Mapping[str, str]
    """Lower-cased names; repeated headers joined with ", "."""
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON (a ValueError for anything else)."""
        return json.loads(self.body.decode("utf-8-sig"))

    def form(self) -> dict[str, str]:
        """The body parsed as application/x-www-form-urlencoded; the last value of a key wins."""
        return dict(parse_qsl(self.body.decode("ascii"), keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class SimResponse:
    """One reply; ``body`` is sent as is, so a simulator controls every byte (BOMs included)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(
        cls, status: int, payload: object, headers: Mapping[str, str] | None = None
    ) -> SimResponse:
        """A JSON reply with ``content-type: application/json``."""
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), merged)


class ProviderSim(Protocol):
    """One simulated provider, stateful, mounted by the server under ``/<name>``."""

    @property
    def name(self) -> str:
        """The path prefix and the name faults are scripted under (``stripe`` ...)."""
        ...

    async def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request as the real provider would, credentials and shape checked."""
        ...

    def fault_reply(self, status: int, retry_after_s: float | None) -> SimResponse:
        """The provider's own error reply for a scripted 5xx or 429 (its body shape, its
        headers, ``Retry-After`` when given)."""
        ...

    def snapshot(self) -> object:
        """Everything the simulator holds, as JSON-able data, for tests that compare the
        ledger with what the provider says happened (``GET /_control/<name>/state``)."""
        ...

    def reset(self) -> None:
        """Forget all state (``POST /_control/reset``)."""
        ...
