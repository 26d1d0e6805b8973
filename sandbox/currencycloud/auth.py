"""Currencycloud's login, its session tokens, and its protection against password guessing.

``POST /v2/authenticate/api`` takes ``login_id`` and ``api_key`` (64 characters) and returns
``{"auth_token": "<32 hex>"}``; every other call sends the token as ``X-Auth-Token``.

- A token expires after ``idle_ttl_s`` without use (Currencycloud: 30 minutes of inactivity);
  each accepted call restarts its clock. An expired, closed or unknown token gets the 401
  ``auth_failed`` body Currencycloud sends, and so does a call without one.
- Shape errors come first, as 400 ``auth_invalid_user_login_details`` (``login_id_is_required``,
  ``api_key_is_required``, ``api_key_length_is_invalid`` with ``{"length": 64}``); they are not
  login attempts and are not counted.
- A wrong ``api_key`` for the configured ``login_id`` is a failed login: 401 ``auth_failed``.
  Currencycloud "disables accounts when four unsuccessful login attempts are made within a
  short period" until its support reactivates them. The simulator disables the login on the
  4th failure in a row (a success resets the count) and then refuses every login, the right
  key included, with the same 401 ``auth_failed`` body. That body is a choice: Currencycloud
  does not document a distinct error for a disabled account, and a service that told callers
  "locked" would tell an attacker too. ``snapshot()["auth"]["disabled"]`` shows the state, so a
  test proves an adapter never gets there; ``enable()`` is support reactivating the account.
- An unknown ``login_id`` is refused the same way and counts against nothing.
- ``POST /v2/authenticate/close_session`` retires the token at once and answers ``{}``.

The clock is injected (monotonic seconds) so unit tests move time instead of sleeping.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping

from sandbox.config import SandboxConfig
from sandbox.currencycloud.wire import CcError, Problems, add, auth_failed

DEFAULT_IDLE_TTL_S = 30 * 60.0
DISABLE_AFTER_FAILURES = 4
API_KEY_LENGTH = 64


class Sessions:
    """The account's login state and live tokens."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float]) -> None:
        self._login_id = config.currencycloud_login_id
        self._api_key = config.currencycloud_api_key
        self._clock = clock
        self.idle_ttl_s = DEFAULT_IDLE_TTL_S
        self._tokens: dict[str, float] = {}
        """token -> when it was last used."""
        self.failed_in_a_row = 0
        self.disabled = False
        self.logins_succeeded = 0
        self.logins_failed = 0
        self.logins_refused_disabled = 0
        self.sessions_closed = 0

    def reset(self) -> None:
        """Forget every token and count; the login is enabled again, the TTL back to 30 min."""
        self.idle_ttl_s = DEFAULT_IDLE_TTL_S
        self._tokens = {}
        self.failed_in_a_row = 0
        self.disabled = False
        self.logins_succeeded = 0
        self.logins_failed = 0
        self.logins_refused_disabled = 0
        self.sessions_closed = 0

    def login(self, fields: Mapping[str, str]) -> str:
        """A new token for valid credentials; CcError (400 or 401) otherwise."""
        login_id = fields.get("login_id", "")
        api_key = fields.get("api_key", "")
        _check_shape(login_id, api_key)
        if login_id != self._login_id:
            self.logins_failed += 1
            raise auth_failed()
        if self.disabled:
            self.logins_refused_disabled += 1
            raise auth_failed()
        if not hmac.compare_digest(api_key.encode(), self._api_key.encode()):
            self.logins_failed += 1
            self.failed_in_a_row += 1
            if self.failed_in_a_row >= DISABLE_AFTER_FAILURES:
                self.disabled = True
            raise auth_failed()
        self.failed_in_a_row = 0
        self.logins_succeeded += 1
        token = secrets.token_hex(16)
        now = self._clock()
        if len(self._tokens) > 10_000:  # clients that never close: drop the dead ones
            self._tokens = {t: used for t, used in self._tokens.items() if self._alive(used, now)}
        self._tokens[token] = now
        return token

    def check(self, headers: Mapping[str, str]) -> str:
        """The caller's live token (its idle clock restarted), or CcError 401."""
        token = headers.get("x-auth-token", "")
        used = self._tokens.get(token)
        now = self._clock()
        if used is None:
            raise auth_failed()
        if not self._alive(used, now):
            del self._tokens[token]
            raise auth_failed()
        self._tokens[token] = now
        return token

    def close(self, token: str) -> None:
        """Retire ``token`` (already checked by ``check``)."""
        if self._tokens.pop(token, None) is not None:
            self.sessions_closed += 1

    def expire_all(self) -> int:
        """Sandbox control: every live token dies now, as if idle for too long."""
        count = len(self._tokens)
        self._tokens.clear()
        return count

    def enable(self) -> None:
        """Sandbox control: support reactivates a disabled login."""
        self.disabled = False
        self.failed_in_a_row = 0

    def live_tokens(self) -> int:
        """Tokens that would still be accepted now."""
        now = self._clock()
        return sum(1 for used in self._tokens.values() if self._alive(used, now))

    def snapshot(self) -> dict[str, object]:
        """The login counters, for tests of an adapter's single-flight and lockout guard."""
        return {
            "logins_succeeded": self.logins_succeeded,
            "logins_failed": self.logins_failed,
            "logins_refused_disabled": self.logins_refused_disabled,
            "failed_in_a_row": self.failed_in_a_row,
            "disabled": self.disabled,
            "live_tokens": self.live_tokens(),
            "sessions_closed": self.sessions_closed,
            "idle_ttl_s": self.idle_ttl_s,
        }

    def _alive(self, used: float, now: float) -> bool:
        return now - used < self.idle_ttl_s


def _check_shape(login_id: str, api_key: str) -> None:
    problems: Problems = {}
    if not login_id:
        add(problems, "login_id", "login_id_is_required", "login_id is required")
    elif len(login_id) > 255:
        add(
            problems,
            "login_id",
            "login_id_is_too_long",
            "login_id can not be longer than 255 character(s)",
            maxlength=255,
        )
    if not api_key:
        add(problems, "api_key", "api_key_is_required", "api_key is required")
    elif len(api_key) != API_KEY_LENGTH:
        add(
            problems,
            "api_key",
            "api_key_length_is_invalid",
            f"api_key should be {API_KEY_LENGTH} character(s) long",
            length=API_KEY_LENGTH,
        )
    if problems:
        raise CcError(400, "auth_invalid_user_login_details", problems)
