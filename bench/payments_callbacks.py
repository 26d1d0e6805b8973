"""The sandbox's provider callbacks as the payments bench counts them.

With callbacks on (``make run``'s default), each payment's state changes come back from the
sandbox as signed callbacks that the gateway verifies, records and applies. The sandbox sends
a provider's callbacks one at a time, in order (sandbox/webhooks/sender.py), so under load they
can fall behind the payments: a step's window would then hold fewer callbacks than its
payments caused, and its CPU per payment would leave out work the stack still owes. As with
the outbox, a step's settled rate therefore subtracts the callback backlog the window left,
and the next step starts only once the sandbox has sent everything (``wait_idle``).
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class CallbackState:
    """The sandbox's callback counters at one moment."""

    pending: int
    """Queued or being sent (retries included)."""
    finished: int
    """Delivered or given up, since the sandbox started."""


class CallbackProbe:
    """Reads ``GET /_control/webhooks`` of the stack's sandbox."""

    def __init__(self, control_url: str, ca_file: Path) -> None:
        trust = ssl.create_default_context(cafile=str(ca_file))
        self._client = httpx.Client(verify=trust, timeout=10.0)
        self._url = f"{control_url.rstrip('/')}/webhooks"

    def state(self) -> CallbackState:
        reply = self._client.get(self._url)
        reply.raise_for_status()
        body = reply.json()
        return CallbackState(pending=int(body["pending"]) + int(body["held"]),
                             finished=int(body["finished"]))  # fmt: skip

    def wait_idle(self, timeout_s: float, poll_s: float = 0.1) -> tuple[CallbackState, float]:
        """Wait until nothing is queued; (last state, seconds waited)."""
        started = time.monotonic()
        state = self.state()
        while state.pending and time.monotonic() - started < timeout_s:
            time.sleep(poll_s)
            state = self.state()
        return state, time.monotonic() - started

    def close(self) -> None:
        self._client.close()
