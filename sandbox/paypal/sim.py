"""The PayPal simulator: OAuth2, routing, ``PayPal-Request-Id`` idempotency, faults, snapshots.

Authentication is PayPal's: ``POST /v1/oauth2/token`` with HTTP Basic ``client_id:secret`` and
``grant_type=client_credentials`` returns a bearer token living
``SandboxConfig.paypal_token_ttl_s`` seconds. API calls without a bearer token get PayPal's
401 ``AUTHENTICATION_FAILURE``; an unknown token gets 401 ``invalid_token`` ("Token signature
verification failed") and an expired one 401 ``invalid_token`` ("Access Token not found in
cache"), the two answers PayPal gives.

Idempotency: PayPal stores each ``PayPal-Request-Id`` for 6 hours (72 on request to PayPal,
per the ``paypal_request_id`` parameter in the Orders v2 spec; at most 108 characters). The
simulator keeps the first reply to each id, errors included, and answers a repeat with the same
method, path and JSON body with exactly that reply, byte for byte (up to
``MAX_STORED_REPLIES`` ids are kept). (Real PayPal documents
returning "the latest status of the previous request"; the stored reply is the stricter
promise, and the gateway's adapter reads either.) The same id with other parameters gets 422
``DUPLICATE_REQUEST_ID``, PayPal's v1 issue for a reused id. Every request is handled without
an ``await``, so a concurrent duplicate on the single-threaded server always finds the first
one's stored reply: it can never create a second payment.

Webhooks: payment state changes are announced through ``webhooks`` (sandbox.webhooks.paypal),
and a receiver checks them with ``POST /v1/notifications/verify-webhook-signature`` (bearer
token as above); the signing cert is ``GET /v1/notifications/certs/{id}``
(sandbox.paypal.notifications).

Sandbox negative testing: a ``PayPal-Mock-Response: {"mock_application_codes": "<ISSUE>"}``
header makes the call fail with 422 ``UNPROCESSABLE_ENTITY`` and that issue, as PayPal's
sandbox does, so adapters can be tested against every documented issue.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.paypal import notifications, orders, payments
from sandbox.paypal.model import Ctx, Order, Store
from sandbox.paypal.wire import canonical, error, iso_minor, now_iso, oauth_error, reply

REQUEST_ID_TTL_S = 6 * 3600.0
REQUEST_ID_MAX_LEN = 108
MAX_STORED_REPLIES = 100_000
"""Stored replies kept at most (oldest forgotten first): a long benchmark must not grow the
simulator without bound, and PayPal's own limit is the 6 hours, not a count."""
_SCOPE = (
    "https://uri.paypal.com/services/payments/payment/authcapture"
    " https://uri.paypal.com/services/payments/refund"
    " https://uri.paypal.com/services/payments/orders/client-side-integration"
)
_CAPTURED = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")


@dataclass(slots=True)
class _Stored:
    """The first reply to one PayPal-Request-Id and what it answered."""

    method: str
    path: str
    body: bytes
    response: SimResponse
    stored_at: float


class PayPalSim:
    """A stateful PayPal (Orders v2, Payments v2, OAuth2) behind ``sandbox.core.ProviderSim``."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._clock = clock
        api = config.provider_url("paypal")
        self._ctx = Ctx(Store(), api=api, site=api)
        self.webhooks = self._ctx.webhooks
        self._tokens: dict[str, float] = {}
        self._replies: dict[str, _Stored] = {}
        self.tokens_issued = 0

    @property
    def name(self) -> str:
        return "paypal"

    async def handle(self, request: SimRequest) -> SimResponse:
        # No await below: the read-check-write of state is atomic on the event loop.
        parts = request.path.strip("/").split("/")
        if request.method == "POST" and parts == ["v1", "oauth2", "token"]:
            return self._issue_token(request)
        if request.method == "GET" and parts[0] in ("checkoutnow", "webapps"):
            return orders.payer_page(self._ctx, request, parts[0])
        if request.method == "GET" and parts[:-1] == notifications.CERTS:
            return notifications.cert(parts[-1])
        refusal = self._check_token(request.headers.get("authorization", ""))
        if refusal is not None:
            return refusal
        if request.method != "POST":
            return self._route(request, parts)
        request_id = request.headers.get("paypal-request-id", "")
        if not request_id:
            return self._post(request, parts)
        return self._idempotent(request, parts, request_id)

    def _idempotent(self, request: SimRequest, parts: list[str], request_id: str) -> SimResponse:
        if len(request_id) > REQUEST_ID_MAX_LEN:
            return error(
                "INVALID_REQUEST",
                "INVALID_STRING_LENGTH",
                "The value of a field is either too short or too long.",
                field="PayPal-Request-Id",
                location="header",
            )
        now = self._clock()
        stored = self._replies.get(request_id)
        if stored is not None and now - stored.stored_at < REQUEST_ID_TTL_S:
            if stored.path == request.path and (
                stored.body == request.body or canonical(stored.body) == canonical(request.body)
            ):
                return stored.response
            return error(
                "UNPROCESSABLE_ENTITY",
                "DUPLICATE_REQUEST_ID",
                "The value of PayPal-Request-Id header has already been used.",
                field="PayPal-Request-Id",
                location="header",
            )
        response = self._post(request, parts)
        replies = self._replies
        replies.pop(request_id, None)  # an expired entry moves to the young end
        replies[request_id] = _Stored(request.method, request.path, request.body, response, now)
        if len(replies) > MAX_STORED_REPLIES:
            del replies[next(iter(replies))]
        return response

    def _post(self, request: SimRequest, parts: list[str]) -> SimResponse:
        mocked = _mock_response(request.headers.get("paypal-mock-response", ""))
        if mocked is not None:
            return mocked
        ctx = self._ctx
        if parts == ["v2", "checkout", "orders"]:
            return orders.create(ctx, request)
        if parts == notifications.VERIFY:
            return notifications.verify(self._config, request)
        match parts:
            case ["v2", "checkout", "orders", order_id, ("capture" | "authorize") as verb]:
                return orders.complete(ctx, request, order_id, verb)
            case ["v2", "payments", "authorizations", auth_id, "capture"]:
                return payments.capture_authorization(ctx, request, auth_id)
            case ["v2", "payments", "authorizations", auth_id, "void"]:
                return payments.void(ctx, request, auth_id)
            case ["v2", "payments", "captures", capture_id, "refund"]:
                return payments.refund(ctx, request, capture_id)
        return error("RESOURCE_NOT_FOUND")

    def _route(self, request: SimRequest, parts: list[str]) -> SimResponse:
        if request.method != "GET":
            return error("RESOURCE_NOT_FOUND")
        match parts:
            case ["v2", "checkout", "orders"]:
                return orders.search(self._ctx, request)
            case ["v2", "checkout", "orders", order_id]:
                return orders.show(self._ctx, order_id)
            case ["v2", "payments", ("authorizations" | "captures" | "refunds") as kind, rid]:
                return payments.show(self._ctx, kind, rid)
        return error("RESOURCE_NOT_FOUND")

    def _issue_token(self, request: SimRequest) -> SimResponse:
        if not self._client_ok(request.headers.get("authorization", "")):
            return oauth_error(401, "invalid_client", "Client Authentication failed")
        try:
            grant = request.form().get("grant_type")
        except UnicodeDecodeError:
            grant = None
        if not grant:
            return oauth_error(400, "unsupported_grant_type", "Grant Type is NULL")
        if grant != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "unsupported grant_type")
        token = "A21AA" + base64.urlsafe_b64encode(os.urandom(60)).decode("ascii").rstrip("=")
        ttl_s = self._config.paypal_token_ttl_s
        now = self._clock()
        if len(self._tokens) > 1000:  # clients that never cache: drop the dead ones
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        self._tokens[token] = now + ttl_s
        self.tokens_issued += 1
        return reply(
            200,
            {
                "scope": _SCOPE,
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": ttl_s,
                "nonce": f"{now_iso()}{os.urandom(16).hex()}",
            },
        )

    def _client_ok(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, _, secret = decoded.partition(":")
        cfg = self._config
        # Both compared, always: no early exit that times which half was wrong.
        id_ok = hmac.compare_digest(client_id.encode(), cfg.paypal_client_id.encode())
        secret_ok = hmac.compare_digest(secret.encode(), cfg.paypal_client_secret.encode())
        return id_ok and secret_ok

    def _check_token(self, header: str) -> SimResponse | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error("AUTHENTICATION_FAILURE")
        expires = self._tokens.get(token.strip())
        if expires is None:
            return oauth_error(401, "invalid_token", "Token signature verification failed")
        if self._clock() >= expires:
            del self._tokens[token.strip()]
            return oauth_error(401, "invalid_token", "Access Token not found in cache")
        return None

    def fault_reply(self, status: int, retry_after_s: float | None) -> SimResponse:
        headers = {} if retry_after_s is None else {"retry-after": f"{retry_after_s:g}"}
        if status == 429:
            name = "RATE_LIMIT_REACHED"
        elif status == 503:
            name = "SERVICE_UNAVAILABLE"
        else:
            name = "INTERNAL_SERVER_ERROR"
        return error(name, headers=headers, status=status)

    def snapshot(self) -> dict[str, object]:
        store = self._ctx.store
        return {
            "payments": {oid: self._summary(o) for oid, o in store.orders.items()},
            "tokens_issued": self.tokens_issued,
        }

    def _summary(self, order: Order) -> dict[str, object]:
        store = self._ctx.store
        caps = [store.captures[c] for c in order.capture_ids]
        auth = store.authorizations.get(order.authorization_id)
        captured = sum(c.units for c in caps if c.status in _CAPTURED)
        if auth is not None:
            authorized = auth.units if auth.status != "DENIED" else 0
        else:
            authorized = captured
        cur = order.currency
        return {
            "status": order.status,
            "intent": order.intent,
            "currency": cur,
            "custom_id": order.custom_id,
            "authorization": None if auth is None else {"id": auth.id, "status": auth.status},
            "captures": [{"id": c.id, "status": c.status} for c in caps],
            "amount_minor": iso_minor(order.units, cur),
            "authorized_minor": iso_minor(authorized, cur),
            "captured_minor": iso_minor(captured, cur),
            "refunded_minor": iso_minor(sum(c.refunded_units for c in caps), cur),
            "fee_minor": iso_minor(sum(c.fee_units for c in caps), cur),
        }

    def reset(self) -> None:
        self._ctx.store = Store()
        self._tokens.clear()
        self._replies.clear()
        self.tokens_issued = 0


def _mock_response(header: str) -> SimResponse | None:
    """PayPal's sandbox negative testing: the issue named in ``PayPal-Mock-Response``."""
    if not header:
        return None
    try:
        mock = json.loads(header)
    except ValueError:
        return None
    issue = mock.get("mock_application_codes") if isinstance(mock, dict) else None
    if not isinstance(issue, str) or not issue:
        return None
    return error("UNPROCESSABLE_ENTITY", issue, issue)
