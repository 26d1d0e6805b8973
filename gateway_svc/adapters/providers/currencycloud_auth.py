"""Currencycloud's session token: one login shared by every call, and a guard on the login.

``POST /v2/authenticate/api`` (form ``login_id``, ``api_key``) returns ``{"auth_token"}``,
sent as ``X-Auth-Token``. The token dies after 30 minutes idle (Currencycloud then answers
401 ``auth_failed``; ``currencycloud_transport`` logs in again). Why the care here:

- Single flight. However many calls need a token at once (at start, or the moment a token
  expires under load), exactly one login request is in flight: they all await the same
  task and share its token, or its error. Logins are rate-limited by Currencycloud (10 a
  minute in its reference), and each failed one counts towards a lockout (next point).
- ``invalidate(token)`` drops the cache only if it still holds that token, so twenty calls
  refused with the same expired token cause one login, not twenty.
- Lockout guard. Currencycloud disables the account after four unsuccessful logins in a
  short period, and only its support can re-enable it: one bad key rolled out to a fleet,
  retried in a loop, would take payouts down for everyone. So the adapter never makes more
  than ``max_failed_logins`` (3) failed logins in a row. After the third, every call fails
  fast with INVALID ``LOGIN_BLOCKED`` (``sent=False``) and no request leaves, until the
  process restarts (normally with corrected credentials). When ``cooldown_s`` is set, one
  attempt is allowed per cool-down after the last failure (a failure restarts it). There is
  no cool-down by default, because any automatic attempt after three failures would be the
  fourth failure in a row if the key really is wrong, which is the very thing that locks
  the account; set one only knowing Currencycloud's window is shorter. A success resets the
  count.
- What counts as a failed login: a refusal of the credentials (HTTP 400, 401 or 403).
  A 429, a 5xx or a transport failure says nothing about the key, so it is not counted;
  it is RETRIABLE with ``sent=False``, since no API call left.

``close()`` retires the token with ``POST /v2/authenticate/close_session`` (best effort: a
failure there changes nothing, the token dies by itself).

The token and API key are never logged nor put in an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import httpx

from gateway_svc.adapters.providers.http import retry_after_s, send
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

LOGIN_PATH = "/v2/authenticate/api"
CLOSE_PATH = "/v2/authenticate/close_session"
TOKEN_HEADER = "x-auth-token"  # noqa: S105 - a header name, not a secret
log = logging.getLogger(__name__)


class SessionTokens:
    """The shared session token of one Currencycloud login."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        login_id: str,
        api_key: str,
        *,
        max_failed_logins: int = 3,
        cooldown_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert max_failed_logins >= 1
        self._client = client
        self._credentials = {"login_id": login_id, "api_key": api_key}
        self._max_failed = max_failed_logins
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._token = ""
        self._inflight: asyncio.Future[str] | None = None
        self.failed_in_a_row = 0
        self._last_failure_at = 0.0
        self.logins_sent = 0
        """Login requests sent so far (single flight keeps this small)."""

    async def get(self) -> str:
        """The shared token, logging in (once, for every waiter) when there is none."""
        if self._token:
            return self._token
        if self._inflight is None:
            self._check_guard()
            task = asyncio.ensure_future(self._login())
            task.add_done_callback(self._landed)
            self._inflight = task
        # shield: one caller giving up (cancelled) must not cancel everyone's login.
        return await asyncio.shield(self._inflight)

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Currencycloud refused it (and only it: see the docstring)."""
        if token and token == self._token:
            self._token = ""

    async def close(self) -> None:
        """Retire the token at Currencycloud, best effort."""
        token, self._token = self._token, ""
        if not token:
            return
        request = self._client.build_request("POST", CLOSE_PATH, headers={TOKEN_HEADER: token})
        with contextlib.suppress(ProviderError):
            response = await send(self._client, request)
            if response.is_error:
                log.info("currencycloud close_session answered HTTP %s", response.status_code)

    def _landed(self, task: asyncio.Future[str]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here too: no "never retrieved" warning if unawaited

    def _check_guard(self) -> None:
        if self.failed_in_a_row < self._max_failed:
            return
        since = self._clock() - self._last_failure_at
        if self._cooldown_s is not None and since >= self._cooldown_s:
            return  # one attempt per cool-down: a failure restarts the cool-down
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            f"Currencycloud refused our login {self.failed_in_a_row} times in a row; no further"
            " login is attempted until the credentials are fixed and the gateway restarted"
            " (a fourth failure would make Currencycloud disable the account)",
            raw_code="LOGIN_BLOCKED",
            sent=False,
        )

    async def _login(self) -> str:
        self.logins_sent += 1
        request = self._client.build_request("POST", LOGIN_PATH, data=self._credentials)
        try:
            response = await send(self._client, request)
        except ProviderError as exc:
            raise _unavailable(f"no Currencycloud session: {exc.message}") from exc
        status = response.status_code
        if status in (400, 401, 403):
            self.failed_in_a_row += 1
            self._last_failure_at = self._clock()
            raise ProviderError(
                ErrorKind.INVALID,
                DeclineCode.PROVIDER_REJECTED,
                f"Currencycloud refused the login (failure {self.failed_in_a_row} in a row)",
                raw_code=_error_code(response),
                http_status=status,
                sent=False,
            )
        if status != 200:
            raise _unavailable(
                f"no Currencycloud session (HTTP {status})", status, retry_after_s(response)
            )
        token = _token_of(response)
        self.failed_in_a_row = 0
        self._token = token
        return token


def _token_of(response: httpx.Response) -> str:
    try:
        token = response.json()["auth_token"]
    except (ValueError, KeyError, TypeError):
        raise _unavailable("Currencycloud's login reply is unreadable") from None
    if not isinstance(token, str) or not token:
        raise _unavailable("Currencycloud's login reply has no auth_token")
    return token


def _error_code(response: httpx.Response) -> str:
    try:
        code = response.json().get("error_code")
    except (ValueError, AttributeError):
        return str(response.status_code)
    return code if isinstance(code, str) and code else str(response.status_code)


def _unavailable(
    message: str, http_status: int | None = None, wait_s: float | None = None
) -> ProviderError:
    limited = http_status == 429
    return ProviderError(
        ErrorKind.RETRIABLE,
        DeclineCode.RATE_LIMITED if limited else DeclineCode.PROVIDER_UNAVAILABLE,
        message,
        raw_code="SESSION_UNAVAILABLE",
        http_status=http_status,
        retry_after_s=wait_s,
        sent=False,
    )
