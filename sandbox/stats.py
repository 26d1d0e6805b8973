"""Request counts per provider and path, for ``GET /_control/stats``.

Paths carry ids (``/v1/payment_intents/pi_123/capture``), so a long benchmark would grow one
counter per payment without bound; past ``MAX_PATHS_PER_PROVIDER`` distinct paths a provider's
further new paths are counted under ``OTHER``. The total per provider stays exact.
"""

from __future__ import annotations

from collections import Counter

MAX_PATHS_PER_PROVIDER = 1000
OTHER = "(other paths)"


class RequestStats:
    """Counts, kept until the sandbox stops (``POST /_control/reset`` does not clear them)."""

    def __init__(self) -> None:
        self._by_provider: dict[str, Counter[str]] = {}
        self._totals: Counter[str] = Counter()

    def count(self, provider: str, method: str, path: str) -> None:
        """Record one request (the hot path: two dict updates)."""
        self._totals[provider] += 1
        paths = self._by_provider.get(provider)
        if paths is None:
            paths = self._by_provider[provider] = Counter()
        key = f"{method} {path}"
        if key in paths or len(paths) < MAX_PATHS_PER_PROVIDER:
            paths[key] += 1
        else:
            paths[OTHER] += 1

    def to_json(self) -> dict[str, object]:
        """``{provider: {"total": n, "paths": {"POST /v1/x": n}}}``."""
        return {
            provider: {"total": self._totals[provider], "paths": dict(paths)}
            for provider, paths in sorted(self._by_provider.items())
        }
