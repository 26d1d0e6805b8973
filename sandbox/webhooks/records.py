"""What was sent: one ``Record`` per delivery (an event, or one copy of it in duplicate mode),
kept in completion order, the oldest forgotten past ``MAX_RECORDS``."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_RECORDS = 10_000
"""A long benchmark with callbacks on must not grow the sandbox without bound."""

Outcome = int | str
"""One attempt's result: the target's HTTP status, or the network error's text."""


@dataclass(slots=True)
class Record:
    """One delivery and its attempts (``seq`` numbers records in the order they finished)."""

    provider: str
    event_id: str
    type: str
    mode: str
    url: str
    attempts: list[Outcome] = field(default_factory=list)
    seq: int = 0

    @property
    def delivered(self) -> bool:
        """True when the last attempt got a 2xx."""
        last = self.attempts[-1] if self.attempts else None
        return isinstance(last, int) and 200 <= last < 300

    def to_json(self) -> dict[str, object]:
        """The control API's view: ``status`` / ``error`` of the last attempt, ``tries``."""
        last = self.attempts[-1] if self.attempts else None
        return {
            "seq": self.seq,
            "provider": self.provider,
            "event_id": self.event_id,
            "type": self.type,
            "mode": self.mode,
            "url": self.url,
            "status": last if isinstance(last, int) else None,
            "error": last if isinstance(last, str) else None,
            "tries": len(self.attempts),
            "attempts": list(self.attempts),
            "delivered": self.delivered,
        }


class SentLog:
    """The finished deliveries, newest last."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._records: deque[Record] = deque(maxlen=max_records)
        self.last_seq = 0

    def add(self, record: Record) -> None:
        """Keep a finished delivery, numbering it."""
        self.last_seq += 1
        record.seq = self.last_seq
        self._records.append(record)

    def listed(self, provider: str | None = None, after_seq: int = 0) -> list[Record]:
        """Records finished after ``after_seq``, of ``provider`` only when given."""
        return [
            r
            for r in self._records
            if r.seq > after_seq and (provider is None or r.provider == provider)
        ]

    def clear(self) -> None:
        """Forget every record (numbering goes on, so a later flush never sees old ones)."""
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)
