"""The simulated Stripe account: authentication, routing, idempotency, replies' headers.

Routes (paths as Stripe's, under the sandbox's ``/stripe`` prefix)::

    POST /v1/payment_intents                  create (confirm=true authorizes at once)
    GET  /v1/payment_intents/search           Search API (sandbox.stripe.search)
    GET  /v1/payment_intents/{id}             retrieve
    POST /v1/payment_intents/{id}/confirm     confirm
    POST /v1/payment_intents/{id}/capture     capture (amount_to_capture <= amount_capturable)
    POST /v1/payment_intents/{id}/cancel      cancel
    POST /v1/refunds, GET /v1/refunds/{id}, GET /v1/refunds, GET /v1/charges/{id}
    GET|POST /3d_secure_2/hosted              the payer's 3DS page (sandbox.stripe.threeds)

Every API call needs the account's secret key, as ``Authorization: Bearer <key>`` or as the
Basic-auth user name (both are Stripe's); otherwise 401 with Stripe's message, the key masked.
Every reply carries ``Request-Id`` and ``Stripe-Version`` (the request's, else the account's
default). ``processing_delay_s`` (0 by default: no await at all) makes each POST take that
long after its idempotency key is reserved, so a test can observe Stripe's 409 for a
concurrent duplicate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from collections.abc import Callable, Mapping

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.stripe import search, threeds
from sandbox.stripe.errors import StripeError, fault_reply, invalid, unrecognized_url
from sandbox.stripe.idempotency import IdempotencyStore
from sandbox.stripe.intents import Intents
from sandbox.stripe.model import Intent, Store, new_id
from sandbox.stripe.params import Params, nest, parse_pairs, query_params
from sandbox.stripe.refunds import Refunds
from sandbox.stripe.render import Json
from sandbox.webhooks.events import EventSink

NAME = "stripe"
DEFAULT_VERSION = "2024-06-20"
_Handler = Callable[[Params], tuple[int, Json]]
_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)


class StripeSim:
    """Stripe's PaymentIntents, Refunds and Search APIs over one in-memory account."""

    def __init__(self, config: SandboxConfig, *, max_idempotency_keys: int = 100_000) -> None:
        self._config = config
        self._secret = config.stripe_secret_key
        self._provider_url = config.provider_url(NAME)
        self.store = Store()
        self.webhooks = EventSink()
        """Where the account's Events go (sandbox.webhooks.stripe lists them)."""
        self.intents = Intents(self.store, self._action_url, self.webhooks)
        self.refunds = Refunds(self.store, self.webhooks)
        self.idempotency = IdempotencyStore(max_idempotency_keys)
        self.processing_delay_s = 0.0

    @property
    def name(self) -> str:
        """Mounted at ``/stripe``."""
        return NAME

    async def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request as Stripe would."""
        if request.path == threeds.PATH:
            return threeds.handle(request, self.store, self.intents)
        version = request.headers.get("stripe-version") or DEFAULT_VERSION
        try:
            self._authenticate(request.headers)
            if request.method == "POST":
                return await self._post(request, version)
            if request.method == "GET":
                status, body = self._get_route(request.path)(query_params(request.query))
                return _reply(status, body, version)
            raise unrecognized_url(request.method, request.path)
        except StripeError as exc:
            return _reply(exc.status, {"error": exc.error}, version, exc.headers)

    def fault_reply(self, status: int, retry_after_s: float | None) -> SimResponse:
        """Stripe's body and headers for a scripted 429 or 5xx."""
        reply = fault_reply(status, retry_after_s)
        return SimResponse(reply.status, reply.body, {**reply.headers, **_ids(DEFAULT_VERSION)})

    def snapshot(self) -> dict[str, object]:
        """Every PaymentIntent's amounts (Stripe wire units) and status, and every refund."""
        payments: dict[str, object] = {}
        for intent in self.store.intents.values():
            charge = self.store.charges.get(intent.latest_charge or "")
            authorized = charge is not None and charge.status == "succeeded"
            txn = self.store.balance.get(charge.balance_transaction or "") if charge else None
            payments[intent.id] = {
                "status": intent.status,
                "currency": intent.currency,
                "amount": intent.amount,
                "capture_method": intent.capture_method,
                "authorized": intent.amount if authorized else 0,
                "captured": charge.amount_captured if charge else 0,
                "released": charge.released if charge else 0,
                "refunded": charge.refunded if charge else 0,
                "fee": txn.fee if txn else None,
                "latest_charge": intent.latest_charge,
                "metadata": dict(intent.metadata),
                "refunds": list(charge.refund_ids) if charge else [],
            }
        refunds = {
            refund.id: {
                "payment_intent": refund.intent_id,
                "charge": refund.charge_id,
                "amount": refund.amount,
                "currency": refund.currency,
                "status": refund.status,
            }
            for refund in self.store.refunds.values()
        }
        return {"payments": payments, "refunds": refunds, "idempotency_keys": len(self.idempotency)}

    def reset(self) -> None:
        """Forget every object and idempotency key."""
        self.store.clear()
        self.idempotency.clear()

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        header = headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credential.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credential, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = credential
        if not key:
            raise invalid(_NO_KEY, status=401)
        if not hmac.compare_digest(key.encode(), self._secret.encode()):
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "***"
            raise invalid(f"Invalid API Key provided: {shown}", status=401)

    async def _post(self, request: SimRequest, version: str) -> SimResponse:
        handler = self._post_route(request.path)
        key = request.headers.get("idempotency-key", "")
        pairs = parse_pairs(request.body)
        if not key:
            status, body = handler(nest(pairs))
            return _reply(status, body, version)
        request_id = new_id("req")
        early = self.idempotency.begin(
            key, f"POST {request.path}", tuple(sorted(pairs)), request_id
        )
        if early is not None:
            if early.headers.get("idempotent-replayed"):
                return early
            return SimResponse(early.status, early.body, {**early.headers, **_ids(version)})
        saved: SimResponse | None = None
        try:
            if self.processing_delay_s > 0:
                await asyncio.sleep(self.processing_delay_s)
            status, body = handler(nest(pairs))
            saved = _reply(status, body, version, {"idempotency-key": key}, request_id)
            return saved
        finally:
            self.idempotency.finish(key, saved)

    def _post_route(self, path: str) -> _Handler:
        parts = path.split("/")
        if path == "/v1/payment_intents":
            return self.intents.create
        if path == "/v1/refunds":
            return self.refunds.create
        if len(parts) == 5 and parts[1:3] == ["v1", "payment_intents"] and parts[3]:
            intent_id, action = parts[3], parts[4]
            if action == "confirm":
                return lambda params: self.intents.confirm(intent_id, params)
            if action == "capture":
                return lambda params: self.intents.capture(intent_id, params)
            if action == "cancel":
                return lambda params: self.intents.cancel(intent_id, params)
        raise unrecognized_url("POST", path)

    def _get_route(self, path: str) -> _Handler:
        parts = path.split("/")
        if path == search.URL:
            return lambda params: search.reply(self.store, params)
        if path == "/v1/refunds":
            return self.refunds.list
        if len(parts) == 4 and parts[1] == "v1" and parts[3]:
            object_id = parts[3]
            if parts[2] == "payment_intents":
                return lambda params: self.intents.retrieve(object_id, params)
            if parts[2] == "refunds":
                return lambda params: self.refunds.retrieve(object_id, params)
            if parts[2] == "charges":
                return lambda params: self.refunds.charge(object_id, params)
        raise unrecognized_url("GET", path)

    def _action_url(self, intent: Intent) -> str:
        return threeds.action_url(self._provider_url, intent)


def _ids(version: str, request_id: str | None = None) -> dict[str, str]:
    return {"request-id": request_id or new_id("req"), "stripe-version": version}


def _reply(
    status: int,
    body: Json,
    version: str,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> SimResponse:
    merged = {"content-type": "application/json", **_ids(version, request_id), **(headers or {})}
    return SimResponse(status, json.dumps(body, separators=(",", ":")).encode(), merged)
