"""What a simulator hands to the callback sender: a built ``Event``, through its ``EventSink``.

A simulator owns one ``EventSink`` (its ``webhooks`` attribute) and calls ``emit`` at the line
where its state changes, with a function that builds the event::

    self._webhooks.emit(lambda: stripe_event(SUCCEEDED, intent_json(intent, self._store)))

The function runs at once, inside the request (so the event shows the object exactly as the
change left it), but only when a sender is connected and sending: with callbacks off, the
hook costs one call and no rendering. Sending happens later, on the sender's own task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    """One provider callback, its body already serialized: duplicates and retries resend
    exactly these bytes; only the signature headers are computed per attempt."""

    provider: str
    """``stripe``, ``authorizenet``, ``razorpay``, ``paypal`` or ``currencycloud``."""
    event_id: str
    """The provider's own event id (the receiver's dedupe key)."""
    type: str
    body: bytes
    about: str = ""
    """The provider object the event concerns (its payment, charge or conversion id): the
    events about one object are sent in order, one at a time (sandbox.webhooks.sender)."""


EventBuilder = Callable[[], Event]
Listener = Callable[[EventBuilder], None]


class EventSink:
    """A simulator's outlet for callbacks; unconnected (unit tests of a simulator) it drops
    everything without building it."""

    def __init__(self) -> None:
        self._listener: Listener | None = None

    def connect(self, listener: Listener) -> None:
        """Hand every emitted builder to ``listener`` from now on (the server's sender)."""
        self._listener = listener

    def emit(self, build: EventBuilder) -> None:
        """One state change happened; ``build`` makes its event if anyone is listening."""
        if self._listener is not None:
            self._listener(build)
