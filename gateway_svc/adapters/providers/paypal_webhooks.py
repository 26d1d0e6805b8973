"""PayPal's webhook verification: ``POST /v1/notifications/verify-webhook-signature``.

PayPal signs callbacks with its own key (SHA256withRSA), so a receiver either checks the
certificate chain itself or asks PayPal; the gateway asks, which is PayPal's documented
alternative and the only one the sandbox simulates (webhook_wire.md). The call carries the
five PAYPAL-TRANSMISSION headers (``domain.provider_signatures.paypal_transmission``), our
``webhook_id`` and the event, and PayPal answers ``{"verification_status": "SUCCESS"}`` or
``"FAILURE"`` with HTTP 200 either way.

- The event goes out as the exact bytes that arrived, spliced into the request body rather
  than parsed and re-serialized: PayPal verifies over the event as sent, and re-encoding could
  change it (number formats, key order, escapes).
- The bearer token is the PayPal adapter's (``PayPalProvider.tokens``), so verification costs
  no token request of its own; a 401 drops it and the call is repeated once with a fresh one,
  as the adapter's own calls do.
- Verification moves no money and can be repeated freely, so every failure to get an answer
  (connect errors, timeouts, 429, 5xx, an unreadable 200) is ``ProviderError(RETRIABLE)``:
  the inbound endpoint answers 5xx and PayPal delivers the event again later. A refusal of
  our own request (400, a second 401, another 4xx) is ``INVALID``: our configuration is wrong
  (credentials, webhook id), which a retry by PayPal only helps once it is fixed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from gateway_svc.adapters.providers.http import make_client, retry_after_s, send
from gateway_svc.adapters.providers.paypal import PayPalConfig
from gateway_svc.adapters.providers.paypal_auth import AccessTokens
from gateway_svc.domain.provider_signatures import PayPalTransmission
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

VERIFY_PATH = "/v1/notifications/verify-webhook-signature"
_SUCCESS, _FAILURE = "SUCCESS", "FAILURE"


def verify_request_body(transmission: PayPalTransmission, webhook_id: str, event: bytes) -> bytes:
    """The verification request: the transmission's fields, our webhook id, and the event's
    raw bytes as ``webhook_event`` (refused as INVALID unless they are one JSON object)."""
    try:
        parsed = json.loads(event.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict):
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            "a PayPal callback body that is not a JSON object cannot be verified",
            raw_code="WEBHOOK_EVENT_NOT_JSON",
            sent=False,
        )
    fields = {
        "auth_algo": transmission.auth_algo,
        "cert_url": transmission.cert_url,
        "transmission_id": transmission.transmission_id,
        "transmission_sig": transmission.transmission_sig,
        "transmission_time": transmission.transmission_time,
        "webhook_id": webhook_id,
    }
    head = json.dumps(fields, separators=(",", ":"))
    return head[:-1].encode() + b',"webhook_event":' + event.strip() + b"}"


class PayPalWebhookVerifier:
    """Asks PayPal whether a callback is genuine (see the module docstring)."""

    def __init__(
        self,
        config: PayPalConfig,
        webhook_id: str,
        *,
        tokens: AccessTokens | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``tokens``: the PayPal adapter's (``PayPalProvider.tokens``) to share its cached
        token; None fetches and caches one of its own with ``config``'s credentials."""
        self._webhook_id = webhook_id
        self._client = make_client(config.http, transport=transport)
        if tokens is None:
            tokens = AccessTokens(
                self._client,
                config.client_id,
                config.client_secret,
                config.token_refresh_margin_s,
                clock,
            )
        self.tokens = tokens

    async def verify(self, transmission: PayPalTransmission, event: bytes) -> bool:
        """True when PayPal answers SUCCESS for this transmission and event, False for
        FAILURE; ``ProviderError`` when there is no answer (module docstring)."""
        content = verify_request_body(transmission, self._webhook_id, event)
        token = await self.tokens.get()
        response = await self._post(content, token)
        if response.status_code == 401:
            # The cached token died early (revoked, or PayPal restarted): once, fresh.
            self.tokens.invalidate(token)
            response = await self._post(content, await self.tokens.get())
        return _verdict(response)

    async def aclose(self) -> None:
        """Close this verifier's connection pool (a shared token cache stays usable)."""
        await self._client.aclose()

    async def _post(self, content: bytes, token: str) -> httpx.Response:
        request = self._client.build_request(
            "POST",
            VERIFY_PATH,
            content=content,
            headers={
                "authorization": f"Bearer {token}",
                "content-type": "application/json",
                "accept": "application/json",
            },
        )
        try:
            return await send(self._client, request)
        except ProviderError as exc:
            # UNKNOWN only matters for calls that may have moved money; this one cannot.
            raise _unavailable(exc.message, exc.http_status, sent=exc.sent) from exc


def _verdict(response: httpx.Response) -> bool:
    status = response.status_code
    if status == 429 or status >= 500:
        raise _unavailable(
            f"PayPal's webhook verification answered HTTP {status}", status, retry_after_s(response)
        )
    if status != 200:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            f"PayPal refused the webhook verification request (HTTP {status})",
            raw_code=_error_name(response) or str(status),
            http_status=status,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    verdict = body.get("verification_status") if isinstance(body, dict) else None
    if verdict == _SUCCESS:
        return True
    if verdict == _FAILURE:
        return False
    raise _unavailable("PayPal's webhook verification reply is unreadable", status)


def _error_name(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else ""


def _unavailable(
    message: str, http_status: int | None = None, wait_s: float | None = None, *, sent: bool = True
) -> ProviderError:
    return ProviderError(
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
        message,
        raw_code="WEBHOOK_VERIFICATION_UNAVAILABLE",
        http_status=http_status,
        retry_after_s=wait_s,
        sent=sent,
    )
