"""Stripe's ``Idempotency-Key``: the first reply saved and replayed, byte for byte.

Rules, as Stripe documents them (https://stripe.com/docs/api/idempotent_requests):

- A key names one request: the same key again with the same endpoint and parameters gets the
  saved reply (same status, same body bytes) with ``Idempotent-Replayed: true`` and
  ``Original-Request: <first request id>``, whatever it was, a decline or a 500 included.
- The same key on another endpoint, or with other parameters, is an ``idempotency_error``
  (400); nothing runs.
- While the first request still runs, a second one with its key gets 409
  ``idempotency_key_in_use``; nothing runs, so two charges can never come of one key.
- A request refused before it began executing (auth, parameter shape, unknown object) saves
  nothing (the caller's ``finish(key, None)``): a retry runs again.
- Keys are pruned oldest first beyond ``max_keys`` (Stripe prunes after 24 hours), which keeps
  a long benchmark from growing the sandbox without bound.

Keys are at most 255 characters. The store is scoped to the one simulated account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.core import SimResponse
from sandbox.stripe.errors import error_body, invalid

MAX_KEY_LENGTH = 255
DEFAULT_MAX_KEYS = 100_000


@dataclass(slots=True)
class _Entry:
    endpoint: str
    params: tuple[tuple[str, str], ...]
    request_id: str
    response: SimResponse | None = None
    """None while the first request is still running."""


class IdempotencyStore:
    """Saved replies by key; ``begin`` before running a request, ``finish`` after."""

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._entries: dict[str, _Entry] = {}
        self._max_keys = max_keys

    def __len__(self) -> int:
        return len(self._entries)

    def begin(
        self, key: str, endpoint: str, params: tuple[tuple[str, str], ...], request_id: str
    ) -> SimResponse | None:
        """The reply to send instead of running (a replay or a refusal), or None to run it.

        ``params`` must be canonical (sorted pairs), so a reordered body is the same request.
        """
        if len(key) > MAX_KEY_LENGTH:
            raise invalid(
                f"Invalid Idempotency-Key: keys must be at most {MAX_KEY_LENGTH} characters "
                f"long (this one has {len(key)})."
            )
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(endpoint, params, request_id)
            if len(self._entries) > self._max_keys:
                del self._entries[next(iter(self._entries))]
            return None
        if entry.response is None:
            return _refusal(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                f"going through): {key}. Please try again later.",
                code="idempotency_key_in_use",
                should_retry=True,
            )
        if entry.endpoint != endpoint:
            return _refusal(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ('{entry.endpoint}' vs '{endpoint}'). Try using a key "
                f"other than '{key}' if you meant to execute a different request.",
            )
        if entry.params != params:
            return _refusal(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
            )
        saved = entry.response
        headers = {
            **saved.headers,
            "request-id": request_id,
            "original-request": entry.request_id,
            "idempotent-replayed": "true",
        }
        return SimResponse(saved.status, saved.body, headers)

    def finish(self, key: str, response: SimResponse | None) -> None:
        """Save the reply of the request ``begin`` let run, or forget the key (None)."""
        entry = self._entries.get(key)
        if entry is None or entry.response is not None:
            return  # pruned meanwhile, or not ours
        if response is None:
            del self._entries[key]
        else:
            entry.response = response

    def clear(self) -> None:
        """Forget every key."""
        self._entries.clear()


def _refusal(
    status: int, message: str, *, code: str | None = None, should_retry: bool = False
) -> SimResponse:
    headers = {"stripe-should-retry": "true"} if should_retry else None
    body = {"error": error_body("idempotency_error", message, code=code)}
    return SimResponse.of_json(status, body, headers)
