"""PayPal's OAuth2 access token: fetched once, shared, refreshed before it expires.

``POST /v1/oauth2/token`` with HTTP Basic ``client_id:secret`` and
``grant_type=client_credentials`` returns ``{access_token, token_type: "Bearer", expires_in,
app_id, scope, nonce}`` (PayPal issues 9-hour tokens). Why the care:

- One token for every call: PayPal rate-limits the token endpoint, and a token request per
  payment would double the latency of each one.
- Single flight: however many calls find the cache empty at once, one token request is in
  flight (an ``asyncio.Lock``; the waiters re-check the cache once they hold it).
- Refreshed ``refresh_margin_s`` before expiry, so a call never leaves with a token that dies
  on the way. A margin larger than half the lifetime is capped at half of it, so a token with
  a short life is still reused rather than fetched for every call.
- ``invalidate(token)`` after a 401 drops the cache only if it still holds that token: when
  many calls fail with the same stale token together, one refresh serves them all.

A failure here means the payment call never left: every error is raised with ``sent=False``.
Bad client credentials are INVALID; anything else (timeouts, 5xx, 429) is RETRIABLE, since
no money moved whatever happened to the token request.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import httpx

from gateway_svc.adapters.providers.http import retry_after_s, send
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

OAUTH_PATH = "/v1/oauth2/token"


class AccessTokens:
    """The cached bearer token of one PayPal client (REST app)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        refresh_margin_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        pair = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(pair).decode("ascii")
        self._margin_s = refresh_margin_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token = ""
        self._refresh_at = 0.0
        self.fetches = 0
        """How many token requests were sent (single flight makes this small)."""

    def _cached(self) -> str:
        return self._token if self._token and self._clock() < self._refresh_at else ""

    async def get(self) -> str:
        """A valid access token, fetching one only when the cache has none."""
        token = self._cached()
        if token:
            return token
        async with self._lock:
            token = self._cached()
            if token:
                return token
            token, lifetime_s = await self._fetch()
            margin_s = min(self._margin_s, lifetime_s / 2)
            self._token, self._refresh_at = token, self._clock() + lifetime_s - margin_s
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after PayPal refused it (and only it: see the module docstring)."""
        if token == self._token:
            self._token, self._refresh_at = "", 0.0

    async def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        request = self._client.build_request(
            "POST",
            OAUTH_PATH,
            data={"grant_type": "client_credentials"},
            headers={"accept": "application/json", "authorization": self._basic},
        )
        try:
            response = await send(self._client, request)
        except ProviderError as exc:
            raise _unavailable(f"no PayPal access token: {exc.message}") from exc
        if response.status_code in (400, 401, 403):
            raise ProviderError(
                ErrorKind.INVALID,
                DeclineCode.PROVIDER_REJECTED,
                "PayPal refused the client credentials",
                raw_code=_oauth_error(response),
                http_status=response.status_code,
                sent=False,
            )
        if response.status_code != 200:
            raise _unavailable(
                f"no PayPal access token (HTTP {response.status_code})",
                response.status_code,
                retry_after_s(response),
            )
        return _parse(response)


def _parse(response: httpx.Response) -> tuple[str, float]:
    try:
        body = response.json()
        token, lifetime_s = body["access_token"], float(body["expires_in"])
    except (ValueError, KeyError, TypeError):
        raise _unavailable("PayPal's token reply is unreadable") from None
    if not isinstance(token, str) or not token or lifetime_s <= 0:
        raise _unavailable("PayPal's token reply is unreadable")
    return token, lifetime_s


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code)
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) else str(response.status_code)


def _unavailable(
    message: str, http_status: int | None = None, wait_s: float | None = None
) -> ProviderError:
    return ProviderError(
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        message,
        raw_code="TOKEN_UNAVAILABLE",
        http_status=http_status,
        retry_after_s=wait_s,
        sent=False,
    )
