"""Sending one webhook delivery attempt over HTTPS: the adapter the delivery worker calls.

One attempt, within ATTEMPT_TIMEOUT_S (15 s) in total:

1. ``check_url`` again (the setting may have changed since the endpoint was created);
2. resolve the host with the event loop's ``getaddrinfo`` and ``check_addresses`` on *every*
   address (one refused address refuses the attempt: the connect could pick any);
3. POST the signed body with ``pinned`` in effect, so the connection goes to an address that
   passed the check and the name is never resolved again (DNS rebinding; see
   ``webhook_transport`` for why the URL keeps its host name);
4. keep the status, Retry-After, and the first 512 bytes of the body for the attempt log.

Redirects are not followed (Standard Webhooks: the registered URL is the destination; a 3xx
is retried like any non-2xx). Nothing here raises for a failed attempt: every outcome is a
``SendResult``, and ``classify`` says what it means. Responses are asked for uncompressed
(``accept-encoding: identity``) so an excerpt never inflates a compressed body.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from gateway_svc.adapters.providers.http import retry_after_s
from gateway_svc.adapters.webhook_transport import PinnedTransport, pinned
from gateway_svc.domain.errors import WebhookDestinationRefused
from gateway_svc.domain.webhooks import (
    ATTEMPT_TIMEOUT_S,
    Outcome,
    SendFailure,
    check_addresses,
    check_url,
    classify,
)

__all__ = ["EXCERPT_BYTES", "SendResult", "WebhookSender"]

EXCERPT_BYTES = 512
_USER_AGENT = "paymesh-webhooks/1"
_MAX_ERROR_LEN = 300


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt got: a status, or why there is none."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    """Why there is no status, for the attempt log (never a secret: no headers are quoted)."""
    error_kind: SendFailure | None = None
    retry_after_s: float | None = None
    """The receiver's Retry-After in seconds (from seconds or an HTTP date), if it sent one."""
    response_excerpt: str = ""
    """The first EXCERPT_BYTES of the body, decoded as UTF-8 with replacement characters."""

    @property
    def outcome(self) -> Outcome:
        """DELIVERED, RETRY or GONE (``domain.webhooks.classify``)."""
        return classify(self.status_code, self.error_kind)


class WebhookSender:
    """One pooled HTTP/1.1 client shared by every delivery; ``aclose`` it at shutdown."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_http: bool = False,
        timeout_s: float = ATTEMPT_TIMEOUT_S,
        max_connections: int = 100,
        max_keepalive: int = 20,
    ) -> None:
        """``ssl_context`` defaults to httpx's (certifi's CA bundle, certificate and host name
        checked); tests pass one trusting their own CA. ``allow_insecure_http`` is the
        development setting that lets ``http://`` URLs through."""
        self._allow_insecure_http = allow_insecure_http
        self._timeout_s = timeout_s
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=30.0,
        )
        context = ssl_context or httpx.create_ssl_context(trust_env=False)
        self._client = httpx.AsyncClient(
            transport=PinnedTransport(ssl_context=context, limits=limits),
            # Per phase (connect, write, read, pool); the attempt's total is enforced below.
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": _USER_AGENT, "accept-encoding": "identity"},
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def send(
        self, url: str, headers: Mapping[str, str], body: bytes, allow_private: bool
    ) -> SendResult:
        """POST ``body`` with ``headers`` (``domain.webhooks.headers``) to ``url``: one
        attempt, never raising for the receiver's or the network's failures."""
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._post(url, headers, body, allow_private)
        except _Failed as failed:
            return _failure(started, failed.kind, failed.message)
        except TimeoutError:
            return _failure(started, SendFailure.TIMEOUT, f"no answer in {self._timeout_s}s")
        try:
            excerpt = await _excerpt(response, deadline)
        finally:
            await response.aclose()
        return SendResult(
            status_code=response.status_code,
            latency_ms=_elapsed_ms(started),
            retry_after_s=retry_after_s(response),
            response_excerpt=excerpt,
        )

    async def _post(
        self, url: str, headers: Mapping[str, str], body: bytes, allow_private: bool
    ) -> httpx.Response:
        """Check, resolve, check, send; the response's body is left to read."""
        try:
            destination = check_url(url, self._allow_insecure_http, allow_private=allow_private)
        except WebhookDestinationRefused as exc:
            raise _Failed(SendFailure.DESTINATION_REFUSED, exc.message) from exc
        try:
            request = self._client.build_request("POST", url, content=body, headers=headers)
        except (httpx.InvalidURL, ValueError) as exc:
            # httpx's IDNA 2008 check is stricter than ours ("xn--zz" is no valid A-label);
            # its idna.IDNAError is a ValueError, not an httpx error.
            raise _Failed(SendFailure.DESTINATION_REFUSED, f"invalid URL: {exc}") from exc
        # The transport connects by httpx's normalized host, so pin exactly that.
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or destination.port
        addresses = await _resolve(host, port)
        try:
            check_addresses(addresses, allow_private, host=host)
        except WebhookDestinationRefused as exc:
            raise _Failed(SendFailure.DESTINATION_REFUSED, exc.message) from exc
        with pinned(host, port, addresses):
            try:
                return await self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise _Failed(_failure_kind(exc), _describe(exc)) from exc


class _Failed(Exception):
    """An attempt that got no status; ``send`` turns it into a SendResult."""

    def __init__(self, kind: SendFailure, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


async def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connect, in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise _Failed(SendFailure.DNS, f"cannot resolve {host!r}: {exc}") from exc
    # sockaddr[0] keeps an IPv6 zone ("fe80::1%eth0"), which the connect needs.
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _excerpt(response: httpx.Response, deadline: float) -> str:
    """The body's first EXCERPT_BYTES, read within what is left of the attempt's budget.

    The status is already in hand, so a body that breaks off or trickles past the deadline
    leaves a shorter excerpt, not a failed attempt.
    """
    head = bytearray()
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_raw():
                head += chunk
                if len(head) >= EXCERPT_BYTES:
                    break
    except (TimeoutError, httpx.TransportError):
        pass
    return bytes(head[:EXCERPT_BYTES]).decode("utf-8", errors="replace")


def _failure_kind(exc: httpx.TransportError) -> SendFailure:
    if isinstance(exc, httpx.TimeoutException):
        return SendFailure.TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return SendFailure.TLS if _ssl_cause(exc) else SendFailure.CONNECT
    if isinstance(exc, httpx.ProtocolError | httpx.UnsupportedProtocol):
        return SendFailure.PROTOCOL
    return SendFailure.NETWORK


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _describe(exc: httpx.TransportError) -> str:
    tls = _ssl_cause(exc)
    detail = str(tls) if tls is not None else (str(exc) or type(exc).__name__)
    return f"{type(exc).__name__}: {detail}"


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _failure(started: float, kind: SendFailure, message: str) -> SendResult:
    return SendResult(None, _elapsed_ms(started), message[:_MAX_ERROR_LEN], kind)
