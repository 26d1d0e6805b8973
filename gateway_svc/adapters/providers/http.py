"""The httpx machinery every provider adapter shares: one pooled client per provider, and
one translation of transport failures into ``ProviderError`` kinds.

Why the transport mapping lives here, once: whether a failed call may be retried or failed
over depends only on whether the request can have reached the provider, and that is a fact
about the socket, not about Stripe or PayPal:

- connect refused, connect timeout, TLS handshake failure, no free pooled connection: the
  request never left, so ``RETRIABLE`` with ``sent=False``;
- a read timeout, a reset or a closed connection after the request was written, and a write
  that failed part-way: the provider may have acted, so ``UNKNOWN``.

HTTP statuses are the adapters' business (each provider's table), except the two whose
meaning every provider shares: 429 (``RETRIABLE``, honouring Retry-After) and 503
(``RETRIABLE``: the provider says it did not do the work). Other 5xx are ``UNKNOWN`` unless
a provider's table knows better (Stripe's ``Stripe-Should-Retry``), because a 500 may come
after the provider committed.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from gateway_svc.adapters.http_transport import CoreTransport
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """How to reach one provider. Pointing at the real provider is changing these values."""

    base_url: str
    """Everything before the provider's own paths, for example ``https://api.stripe.com``
    or, for the sandbox, ``https://127.0.0.1:<port>/stripe``."""
    sandbox: bool = True
    """True for a test environment; raw test card numbers are refused otherwise."""
    timeout_s: float = 10.0
    """Read and write timeout per call: past it the outcome is UNKNOWN."""
    connect_timeout_s: float = 2.0
    """Connect timeout: past it the request never left, so failover is safe."""
    max_connections: int = 100
    max_keepalive: int = 50
    ca_file: str | None = None
    """A CA bundle to verify the provider with (the dev CA for the sandbox); None uses the
    system's trust store."""


def make_client(
    config: HttpConfig,
    *,
    auth: httpx.Auth | tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A pooled async client for one provider: its own limits, timeouts and trust store,
    on ``CoreTransport`` (asyncio's streams; adapters/http_transport.py says why) unless a
    test hands in its own ``transport``."""
    timeout = httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s, pool=1.0)
    limits = httpx.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_keepalive,
        keepalive_expiry=30.0,
    )
    trust = (
        ssl.create_default_context(cafile=config.ca_file)
        if config.ca_file
        else httpx.create_ssl_context()  # httpx's default trust store (certifi)
    )
    return httpx.AsyncClient(
        base_url=config.base_url.rstrip("/"),
        auth=auth,
        headers={"user-agent": "paymesh-gateway/1", **(headers or {})},
        timeout=timeout,
        transport=transport or CoreTransport(ssl_context=trust, limits=limits),
        follow_redirects=False,
    )


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send one request; transport failures become ``ProviderError`` (see module docstring)."""
    try:
        return await client.send(request)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise ProviderError(
            ErrorKind.RETRIABLE,
            DeclineCode.PROVIDER_UNAVAILABLE,
            f"could not connect to the provider: {type(exc).__name__}",
            sent=False,
        ) from exc
    except httpx.TimeoutException as exc:
        raise ProviderError(
            ErrorKind.UNKNOWN,
            DeclineCode.UNKNOWN_OUTCOME,
            f"no reply from the provider in time ({type(exc).__name__})",
        ) from exc
    except httpx.TransportError as exc:
        # Read/write errors, a reset, a protocol error: the request may have arrived.
        raise ProviderError(
            ErrorKind.UNKNOWN,
            DeclineCode.UNKNOWN_OUTCOME,
            f"the connection to the provider failed mid-request ({type(exc).__name__})",
        ) from exc


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds the provider asked us to wait (Retry-After as seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def shared_status_error(response: httpx.Response, raw_code: str = "") -> ProviderError | None:
    """The error for a status every provider means the same way (429, 5xx), else None."""
    status = response.status_code
    if status == 429:
        return ProviderError(
            ErrorKind.RETRIABLE,
            DeclineCode.RATE_LIMITED,
            "the provider is rate limiting us",
            raw_code=raw_code or "429",
            http_status=status,
            retry_after_s=retry_after_s(response),
        )
    if status == 503:
        return ProviderError(
            ErrorKind.RETRIABLE,
            DeclineCode.PROVIDER_UNAVAILABLE,
            "the provider is unavailable",
            raw_code=raw_code or "503",
            http_status=status,
            retry_after_s=retry_after_s(response),
        )
    if status >= 500:
        return ProviderError(
            ErrorKind.UNKNOWN,
            DeclineCode.UNKNOWN_OUTCOME,
            f"the provider failed with HTTP {status}; it may have acted",
            raw_code=raw_code or str(status),
            http_status=status,
        )
    return None
