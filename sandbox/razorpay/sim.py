"""The Razorpay simulator: credentials, routing, and the ProviderSim duties.

Routes (paths after the ``/razorpay`` mount, exactly as on api.razorpay.com)::

    POST /v1/orders                          orders.create
    GET  /v1/orders?receipt=&count=&skip=    orders.list_orders
    GET  /v1/orders/{id}                     orders.fetch
    GET  /v1/orders/{id}/payments            orders.payments
    POST /v1/payments/create/json            payments.create_json   (S2S JSON card payment)
    GET  /v1/payments/{id}                   payments.fetch
    POST /v1/payments/{id}/capture           payments.capture
    POST /v1/payments/{id}/refund            refunds.create_idempotent (X-Refund-Idempotency)
    GET  /v1/payments/{id}/refunds           refunds.of_payment
    GET  /v1/refunds/{id}                    refunds.fetch
    GET|POST /v1/payments/{id}/authenticate  threeds.authenticate (the payer's browser; no auth)
    POST /_sandbox/payments/{id}/lapse       payments.lapse (sandbox only: end the capture window)
    POST /_sandbox/refunds/{id}/fail         refunds.fail (sandbox only: the refund fails)

State changes are announced as webhooks through ``webhooks`` (sandbox.webhooks.razorpay).

Everything but the 3DS page needs HTTP Basic ``key_id:key_secret``; a missing header, an
unknown key id and a wrong secret each get Razorpay's own 401 wording. Anything else is
Razorpay's 400 "The requested URL was not found on the server.".
"""

from __future__ import annotations

import base64
import binascii
import hmac

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.razorpay import orders, payments, refunds, threeds
from sandbox.razorpay import validation as check
from sandbox.razorpay.replies import fault, unauthorized, unknown_url
from sandbox.razorpay.store import AUTH_WINDOW_S, Store

NAME = "razorpay"


class RazorpaySim:
    """Razorpay's Orders, S2S payments and refunds, in memory."""

    def __init__(self, config: SandboxConfig, *, auth_window_s: float = AUTH_WINDOW_S) -> None:
        self._key_id = config.razorpay_key_id
        self._key_secret = config.razorpay_key_secret
        token = base64.b64encode(f"{self._key_id}:{self._key_secret}".encode()).decode()
        self._expected_auth = f"Basic {token}".encode()
        self.store = Store(auth_window_s)
        self.webhooks = self.store.webhooks
        self._ctx = payments.Context(self.store, config.provider_url(NAME), self._key_secret)

    @property
    def name(self) -> str:
        """The mount prefix and fault name."""
        return NAME

    async def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request as api.razorpay.com would."""
        parts = request.path.strip("/").split("/")
        try:
            if len(parts) == 4 and parts[:2] == ["v1", "payments"] and parts[3] == "authenticate":
                return threeds.authenticate(self._ctx, parts[2], request)
            denied = self._check_auth(request.headers.get("authorization"))
            if denied is not None:
                return denied
            return self._route(request, parts)
        except check.Refusal as refusal:
            return refusal.reply

    def _route(self, request: SimRequest, parts: list[str]) -> SimResponse:
        store = self.store
        match request.method, parts:
            case "POST", ["v1", "orders"]:
                return orders.create(store, check.json_object(request))
            case "GET", ["v1", "orders"]:
                return orders.list_orders(store, request.query)
            case "GET", ["v1", "orders", order_id]:
                return orders.fetch(store, order_id)
            case "GET", ["v1", "orders", order_id, "payments"]:
                return orders.payments(store, order_id)
            case "POST", ["v1", "payments", "create", "json"]:
                return payments.create_json(self._ctx, check.json_object(request))
            case "GET", ["v1", "payments", payment_id]:
                return payments.fetch(store, payment_id)
            case "POST", ["v1", "payments", payment_id, "capture"]:
                return payments.capture(store, payment_id, check.json_object(request))
            case "POST", ["v1", "payments", payment_id, "refund"]:
                key = request.headers.get(refunds.IDEMPOTENCY_HEADER)
                body = check.json_object(request)
                return refunds.create_idempotent(store, payment_id, request.path, body, key)
            case "GET", ["v1", "payments", payment_id, "refunds"]:
                return refunds.of_payment(store, payment_id)
            case "GET", ["v1", "refunds", refund_id]:
                return refunds.fetch(store, refund_id)
            case "POST", ["_sandbox", "payments", payment_id, "lapse"]:
                return payments.lapse(store, payment_id)
            case "POST", ["_sandbox", "refunds", refund_id, "fail"]:
                return refunds.fail(store, refund_id)
        return unknown_url()

    def _check_auth(self, header: str | None) -> SimResponse | None:
        """None when the Basic credentials are right, else Razorpay's 401."""
        # Compared as bytes: compare_digest refuses str with non-ASCII characters.
        if header is not None and hmac.compare_digest(header.encode(), self._expected_auth):
            return None
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return unauthorized("Please provide your api key for authentication purposes.")
        try:
            key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return unauthorized("Authentication failed")
        if not hmac.compare_digest(key_id.encode(), self._key_id.encode()):
            return unauthorized("The api key provided is invalid")
        if not hmac.compare_digest(secret.encode(), self._key_secret.encode()):
            return unauthorized("The api secret provided is invalid")
        return unauthorized("Authentication failed")

    def fault_reply(self, status: int, retry_after_s: float | None) -> SimResponse:
        """Razorpay's body for a scripted 429 or 5xx."""
        return fault(status, retry_after_s)

    def snapshot(self) -> object:
        """Payments (amounts authorized/captured/refunded, status), orders and refunds."""
        return self.store.snapshot()

    def reset(self) -> None:
        """Forget everything."""
        self.store.clear()


def make_sim(config: SandboxConfig) -> RazorpaySim:
    """The registry's factory (``sandbox.razorpay:make_sim``)."""
    return RazorpaySim(config)
