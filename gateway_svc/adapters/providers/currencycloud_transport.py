"""One Currencycloud API call, with the only two repeats the adapter makes on its own.

Unlike the card adapters (where the caller owns every retry), issue 6 asks the Currencycloud
adapter to absorb two things Currencycloud's own SDKs absorb:

- 401 ``auth_failed``: the session token expired (30 minutes idle) or was retired. The call
  drops that token, gets a fresh one (one login for all concurrent callers:
  ``currencycloud_auth``) and is sent again, at most ``reauth_attempts`` (3) times, as the
  official SDKs do. Safe: Currencycloud did nothing with a refused token.
- 429 ``too_many_requests``: Currencycloud did nothing either, and every create carries its
  ``unique_request_id``, so repeating is safe. The call waits what ``Retry-After`` asks, or
  without one a full-jitter backoff (``uniform(0, min(cap_s, base_s * 2**n))``), and tries
  again, ``rate_limit_attempts`` (3) tries in all. A Retry-After longer than ``max_wait_s``
  is not slept on: the 429 is raised at once as RETRIABLE with ``retry_after_s``, for the
  caller's scheduler, so no request sits in a coroutine for minutes.

Everything else (5xx, transport failures, validation errors) is raised as classified by
``currencycloud_errors`` and ``http.send``; nothing else is repeated here.

Bodies are form-encoded (``application/x-www-form-urlencoded``, which Currencycloud accepts
beside the multipart its reference shows; its SDKs send urlencoded).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from gateway_svc.adapters.providers.currencycloud_auth import TOKEN_HEADER, SessionTokens
from gateway_svc.adapters.providers.currencycloud_errors import classify
from gateway_svc.adapters.providers.currencycloud_money import unreadable
from gateway_svc.adapters.providers.http import retry_after_s, send

Params = list[tuple[str, str]]
_RANDOM = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, and how patiently, the two repeats above are made."""

    reauth_attempts: int = 3
    """Fresh logins one call may make after 401s (the SDKs' 3)."""
    rate_limit_attempts: int = 3
    """Tries in all of a call that keeps getting 429."""
    base_s: float = 0.5
    cap_s: float = 5.0
    max_wait_s: float = 10.0
    """The longest Retry-After slept on inside the call."""


class Transport:
    """Sends authenticated calls through one pooled client (see the module docstring)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        tokens: SessionTokens,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[float, float], float] = _RANDOM.uniform,
    ) -> None:
        self._client = client
        self._tokens = tokens
        self._policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self.throttled = 0
        """429s absorbed so far (slept on and retried)."""

    async def call(
        self, method: str, path: str, *, params: Params | None = None, form: Params | None = None
    ) -> Any:
        """The reply's JSON for a 2xx; ProviderError (classified) otherwise."""
        reauths = tries = 0
        body = urlencode(form).encode() if form is not None else None
        while True:
            token = await self._tokens.get()
            headers = {TOKEN_HEADER: token, "accept": "application/json"}
            if body is not None:
                headers["content-type"] = "application/x-www-form-urlencoded"
            request = self._client.build_request(
                method, path, params=tuple(params or ()), content=body, headers=headers
            )
            response = await send(self._client, request)
            tries += 1
            if response.status_code == 401 and reauths < self._policy.reauth_attempts:
                reauths += 1
                self._tokens.invalidate(token)
                continue
            if response.status_code == 429 and tries < self._policy.rate_limit_attempts:
                wait_s = self._wait_s(response, tries)
                if wait_s is not None:
                    self.throttled += 1
                    await self._sleep(wait_s)
                    continue
            if response.is_success:
                return _json(response)
            raise classify(response)

    def _wait_s(self, response: httpx.Response, tries: int) -> float | None:
        asked = retry_after_s(response)
        if asked is not None:
            return asked if asked <= self._policy.max_wait_s else None
        ceiling = min(self._policy.cap_s, self._policy.base_s * 2 ** (tries - 1))
        return self._jitter(0.0, ceiling)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise unreadable(f"HTTP {response.status_code} with a body that is not JSON") from None
