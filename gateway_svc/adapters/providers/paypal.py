"""PayPal (Orders v2 + Payments v2) behind ``service_layer.ports.PaymentProvider``.

One call per operation, in PayPal's own terms:

    authorize  POST /v2/checkout/orders (intent CAPTURE|AUTHORIZE, payment_source): PayPal
               processes a card or vaulted source at once and answers a COMPLETED order; an
               APPROVED one (some account set-ups) is completed with .../capture|authorize
    capture    POST /v2/payments/authorizations/{id}/capture {amount, final_capture: true}:
               a final capture of less than authorized releases the rest (partial capture)
    cancel     POST /v2/payments/authorizations/{id}/void
    refund     POST /v2/payments/captures/{id}/refund {amount}: partial refunds may repeat
    fetch      GET  /v2/checkout/orders/{id}
    lookup     GET  /v2/checkout/orders?custom_id=<attempt id> (paymesh sandbox only, below)

Every POST carries ``PayPal-Request-Id``, derived from the caller's idempotency key and the
operation (``paymesh-capture-<key>``; a SHA-256 when that would pass PayPal's 108-character
limit), so a retried call is the same operation. PayPal keeps request ids for 6 hours (72 on
request to PayPal): a retry after that would be a new request, which the caller's retry and
reconciliation windows stay well inside. Every call also sends
``Prefer: return=representation``, so replies carry the whole resource.

lookup() and why there is no "real PayPal" search. ``lookup`` must find an attempt's payment
without creating anything. PayPal's Orders API has no search (not by ``custom_id``, not by
request id). Repeating the create call with the same ``PayPal-Request-Id`` is PayPal's
documented way to learn what a request did, but it is not a lookup: if the first request
never arrived, the repeat creates the order and charges the card, and after the id's 6 hours
it charges again even when the first one did arrive. The Transaction Search API
(``/v1/reporting/transactions``) is read-only but lags up to three hours and needs a separate
permission, so its silence proves nothing. Hence:

- against the paymesh sandbox (``PayPalConfig.order_search``), lookup uses the simulator's
  marked extension ``GET /v2/checkout/orders?custom_id=``, which reads and never writes;
- against real PayPal, lookup raises UNKNOWN with ``sent=False``: the outcome stays unknown
  and the caller decides whether to repeat ``authorize`` with the same idempotency key within
  PayPal's 6 hours (which does create when the first request never arrived).

Tokens: see ``paypal_auth``. A 401 on an API call (a token PayPal no longer honours) drops
the cached token and repeats that one call once with a fresh token. It is the adapter's only
repeat, and safe: PayPal did nothing with a refused token, and the call carries its
PayPal-Request-Id. Errors: see ``paypal_errors``; amounts: ``paypal_money``; JSON:
``paypal_wire``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from gateway_svc.adapters.providers.http import HttpConfig, make_client, send
from gateway_svc.adapters.providers.paypal_auth import AccessTokens
from gateway_svc.adapters.providers.paypal_errors import classify
from gateway_svc.adapters.providers.paypal_money import to_value, unreadable
from gateway_svc.adapters.providers.paypal_wire import (
    charge_from_capture,
    charge_from_order,
    declined_charge,
    order_body,
    refund_from,
)
from gateway_svc.domain.providers import (
    AuthorizeCall,
    ChargeStatus,
    Decline,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderCharge,
    ProviderError,
    ProviderRefund,
    RefundStatus,
)

REQUEST_ID_MAX_LEN = 108
"""PayPal-Request-Id's maximum length (the ``paypal_request_id`` parameter in the specs)."""

_NOT_YET = frozenset({"PAYER_ACTION_REQUIRED", "ORDER_NOT_APPROVED"})


@dataclass(frozen=True, slots=True, repr=False)
class PayPalConfig:
    """How to reach one PayPal REST app. Pointing at real PayPal is changing these values."""

    http: HttpConfig
    client_id: str
    client_secret: str
    token_refresh_margin_s: float = 300.0
    """Fetch a new access token this long before the cached one expires."""
    order_search: bool = False
    """True only against the paymesh sandbox, whose simulator answers the read-only
    ``GET /v2/checkout/orders?custom_id=`` that ``lookup`` uses; real PayPal has no such
    search (see the module docstring), so leave it False there."""

    def __repr__(self) -> str:
        return f"PayPalConfig(base_url={self.http.base_url!r}, client_id={self.client_id!r})"


def request_id(operation: str, idempotency_key: str) -> str:
    """The PayPal-Request-Id for one operation under the caller's idempotency key."""
    plain = f"paymesh-{operation}-{idempotency_key}"
    if len(plain) <= REQUEST_ID_MAX_LEN and idempotency_key.isascii() and plain.isprintable():
        return plain
    return f"paymesh-{operation}-{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


class PayPalProvider:
    """The PayPal adapter: one pooled client, one cached token, no retries of its own."""

    def __init__(
        self,
        config: PayPalConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._client = make_client(config.http, transport=transport)
        self.tokens = AccessTokens(
            self._client,
            config.client_id,
            config.client_secret,
            config.token_refresh_margin_s,
            clock,
        )

    @property
    def name(self) -> Provider:
        return Provider.PAYPAL

    @property
    def sandbox(self) -> bool:
        return self._config.http.sandbox

    async def authorize(self, call: AuthorizeCall) -> ProviderCharge:
        """Create an order with the payment source; PayPal processes it in the same call."""
        method = call.method
        if method.card is not None and not self.sandbox:
            raise _refused("raw card numbers are accepted only by a sandbox PayPal")
        if method.card is None and not method.token:
            raise _refused("a PayPal payment needs a vault id or, in sandbox, a test card")
        body = order_body(call, to_value(call.amount_minor, call.currency))
        rid = request_id("authorize", call.idempotency_key)
        response = await self._call("POST", "/v2/checkout/orders", body, rid)
        if response.is_error:
            return _declined_or_raise(classify(response), None)
        charge = charge_from_order(_json(response))
        if charge.raw_status == "APPROVED":
            return await self.complete_action(charge, call.idempotency_key)
        return charge

    async def complete_action(self, charge: ProviderCharge, idempotency_key: str) -> ProviderCharge:
        """Capture or authorize an order the payer approved (after 3-D Secure, or an order
        PayPal left APPROVED); still REQUIRES_ACTION while the payer has not finished.

        Not part of the PaymentProvider port: PayPal needs this merchant call after the
        payer's step, where Stripe's intents confirm by themselves.
        """
        verb = "capture" if charge.refs.get("intent") == "CAPTURE" else "authorize"
        path = f"/v2/checkout/orders/{_ref(charge, 'order_id')}/{verb}"
        response = await self._call("POST", path, {}, request_id("complete", idempotency_key))
        if response.is_error:
            error = classify(response)
            if error.raw_code in _NOT_YET:
                return charge
            return _declined_or_raise(error, charge)
        return charge_from_order(_json(response))

    async def capture(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderCharge:
        """A final capture of ``amount_minor``: the rest of the authorization is released."""
        auth_id = _ref(charge, "authorization_id")
        value = to_value(amount_minor, currency)
        body = {"amount": {"currency_code": currency, "value": value}, "final_capture": True}
        path = f"/v2/payments/authorizations/{auth_id}/capture"
        response = await self._call("POST", path, body, request_id("capture", idempotency_key))
        if response.is_error:
            return _declined_or_raise(classify(response), charge)
        prior = replace(charge, refs={**charge.refs, "currency": currency})
        return charge_from_capture(_json(response), prior)

    async def cancel(self, charge: ProviderCharge, idempotency_key: str) -> ProviderCharge:
        """Void the authorization; nothing was or will be captured."""
        path = f"/v2/payments/authorizations/{_ref(charge, 'authorization_id')}/void"
        response = await self._call("POST", path, None, request_id("void", idempotency_key))
        if response.is_error:
            raise classify(response)
        body = _json(response) if response.content else {}
        raw = str(body.get("status", "VOIDED")) if isinstance(body, dict) else "VOIDED"
        return replace(charge, status=ChargeStatus.CANCELED, raw_status=raw)

    async def refund(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderRefund:
        """Refund part or all of what is left of the capture."""
        value = to_value(amount_minor, currency)
        path = f"/v2/payments/captures/{_ref(charge, 'capture_id')}/refund"
        body = {"amount": {"currency_code": currency, "value": value}}
        response = await self._call("POST", path, body, request_id("refund", idempotency_key))
        if response.is_error:
            error = classify(response)
            if error.kind is not ErrorKind.DECLINED:
                raise error
            decline = Decline(error.code, error.message, raw_code=error.raw_code)
            return ProviderRefund(
                "", RefundStatus.FAILED, amount_minor, decline=decline, raw_status=error.raw_code
            )
        return refund_from(_json(response), amount_minor, currency)

    async def lookup(self, call: AuthorizeCall) -> ProviderCharge | None:
        """The order created for ``call.attempt_id``, or None; see the module docstring."""
        if not self._config.order_search:
            raise ProviderError(
                ErrorKind.UNKNOWN,
                DeclineCode.UNKNOWN_OUTCOME,
                "PayPal has no read-only search by custom_id; repeat authorize with the same"
                " idempotency key within 6 hours to learn the outcome",
                raw_code="NO_ORDER_SEARCH",
                sent=False,
            )
        params = {"custom_id": call.attempt_id[:127]}
        response = await self._call("GET", "/v2/checkout/orders", None, params=params)
        if response.is_error:
            raise classify(response)
        body = _json(response)
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list):
            raise unreadable("the order search reply has no orders list")
        return charge_from_order(orders[-1]) if orders else None

    async def fetch(self, charge: ProviderCharge) -> ProviderCharge:
        """The order as PayPal holds it now (a refusal that created no order is returned as is)."""
        if not charge.provider_ref:
            return charge
        response = await self._call("GET", f"/v2/checkout/orders/{charge.provider_ref}", None)
        if response.is_error:
            raise classify(response)
        return charge_from_order(_json(response))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        body: object,
        paypal_request_id: str = "",
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        token = await self.tokens.get()
        response = await self._send(method, path, body, paypal_request_id, params, token)
        if response.status_code == 401:
            # The token died early (revoked, or PayPal restarted its cache): once, fresh.
            self.tokens.invalidate(token)
            token = await self.tokens.get()
            response = await self._send(method, path, body, paypal_request_id, params, token)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        body: object,
        paypal_request_id: str,
        params: dict[str, str] | None,
        token: str,
    ) -> httpx.Response:
        headers = {
            "authorization": f"Bearer {token}",
            "accept": "application/json",
            "prefer": "return=representation",
        }
        if paypal_request_id:
            headers["paypal-request-id"] = paypal_request_id
        request = self._client.build_request(
            method, path, json=body, params=params, headers=headers
        )
        return await send(self._client, request)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise unreadable(f"HTTP {response.status_code} with a body that is not JSON") from None


def _ref(charge: ProviderCharge, key: str) -> str:
    value = charge.refs.get(key, "")
    if not value:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            f"this PayPal payment has no {key} (status {charge.status.value})",
            raw_code="MISSING_REF",
            sent=False,
        )
    return value


def _refused(message: str) -> ProviderError:
    return ProviderError(
        ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, message, raw_code="REFUSED", sent=False
    )


def _declined_or_raise(error: ProviderError, prior: ProviderCharge | None) -> ProviderCharge:
    """A payer-side refusal becomes a declined charge; anything else is raised."""
    if error.kind is ErrorKind.DECLINED:
        return declined_charge(error, prior)
    raise error
