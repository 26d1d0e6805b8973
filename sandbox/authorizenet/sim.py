"""The Authorize.net simulator: one JSON endpoint, schema first, then credentials, then rules.

Request handling mirrors the real gateway's order of checks, because a client learns from
which error comes first:

1. the body must be JSON (a leading BOM is tolerated) with one root element naming an API
   method; unreadable -> E00003 "Data at the root level is invalid.", unknown method -> E00004;
2. the XSD (sandbox.authorizenet.schema): element order, required elements, lengths -> E00003;
3. ``merchantAuthentication`` (name + transactionKey) -> E00007 when they do not match the
   sandbox's configured login id and transaction key;
4. the method itself (sandbox.authorizenet.transactions and .reports).

Every answer is HTTP 200 with a BOM-prefixed JSON body; only scripted faults use 5xx/429.

Besides the real API, the sandbox serves the payer-approval page behind the 3DS card's
``secureAcceptance`` URL: ``GET <public_url>/authorizenet/sandbox/consent/<transId>`` shows it
and ``POST`` to the same path with ``decision=approve`` (the default) or ``decline`` completes
the authorization, as the payer's approval at PayPal would for a real response code 5.
"""

from __future__ import annotations

import hmac
import html
import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl

from sandbox.authorizenet import codes, replies, store
from sandbox.authorizenet.reports import Reports
from sandbox.authorizenet.schema import ROOTS, SchemaError, validate
from sandbox.authorizenet.store import Store
from sandbox.authorizenet.transactions import Transactions, auth_code_for
from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.webhooks import authorizenet as events
from sandbox.webhooks.events import EventSink

NAME: Final = "authorizenet"
API_PATH: Final = "/xml/v1/request.api"
CONSENT_PREFIX: Final = "/sandbox/consent/"
_NOT_JSON: Final = (codes.SCHEMA_ERROR, "Data at the root level is invalid. Line 1, position 1.")
_PLAIN: Final = {"content-type": "text/plain; charset=utf-8"}


class AuthorizeNetSim:
    """Authorize.net's API (``POST /xml/v1/request.api``) over an in-memory merchant account."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.store = Store(clock)
        self.webhooks = EventSink()
        """Where the merchant's webhooks go (sandbox.webhooks.authorizenet lists them)."""
        self.transactions = Transactions(self.store, self.consent_url, self.webhooks)
        self.reports = Reports(self.store)
        self._methods: dict[str, Callable[[Mapping[str, Any], str | None], SimResponse]] = {
            "createTransactionRequest": self.transactions.create,
            "getTransactionDetailsRequest": self.reports.transaction_details,
            "getUnsettledTransactionListRequest": self.reports.unsettled,
            "authenticateTestRequest": lambda _request, ref_id: replies.ok_reply({}, ref_id),
        }

    @property
    def name(self) -> str:
        """Mounted at ``/authorizenet``."""
        return NAME

    def consent_url(self, trans_id: str) -> str:
        """Where the payer approves a transaction waiting for them (under public_url)."""
        return f"{self.config.provider_url(NAME)}{CONSENT_PREFIX}{trans_id}"

    async def handle(self, request: SimRequest) -> SimResponse:
        """Route one request: the API endpoint, the consent page, or 404."""
        if request.path == API_PATH:
            if request.method != "POST":
                return SimResponse(405, b"Method Not Allowed", {**_PLAIN, "allow": "POST"})
            return self.call(request.body)
        if request.path.startswith(CONSENT_PREFIX):
            return self._consent(request)
        return SimResponse(404, b"Not Found", _PLAIN)

    def call(self, body: bytes) -> SimResponse:
        """Answer one API request body (synchronous: no await between reading and writing
        the merchant account's state)."""
        try:
            payload = json.loads(body.decode("utf-8-sig"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            return replies.api_error(_NOT_JSON)
        if not isinstance(payload, dict) or not payload:
            return replies.api_error(_NOT_JSON)
        method = next(iter(payload))
        element = ROOTS.get(method)
        if element is None or len(payload) != 1:
            return replies.api_error(codes.METHOD_INVALID)
        request = payload[method]
        try:
            validate(method, request, element)
        except SchemaError as exc:
            return replies.api_error((codes.SCHEMA_ERROR, str(exc)))
        ref_id = request.get("refId")
        ref = None if ref_id is None else str(ref_id)
        if not self._authenticated(request["merchantAuthentication"]):
            return replies.api_error(codes.AUTH_FAILED, ref)
        return self._methods[method](request, ref)

    def _authenticated(self, auth: Mapping[str, Any]) -> bool:
        name = str(auth.get("name", ""))
        key = str(auth.get("transactionKey", ""))
        # Both compared in full, in constant time, so neither half can be probed by timing.
        name_ok = hmac.compare_digest(name.encode(), self.config.authorizenet_login_id.encode())
        key_ok = hmac.compare_digest(
            key.encode(), self.config.authorizenet_transaction_key.encode()
        )
        return name_ok and key_ok

    def _consent(self, request: SimRequest) -> SimResponse:
        trans_id = request.path.removeprefix(CONSENT_PREFIX)
        trans = self.store.get(trans_id)
        if trans is None:
            return SimResponse.of_json(404, {"error": f"no transaction {trans_id}"})
        if request.method == "GET":
            return _consent_page(trans_id)
        if request.method != "POST":
            return SimResponse(405, b"Method Not Allowed", {**_PLAIN, "allow": "GET, POST"})
        if trans.status != store.AWAITING_PAYER:
            return SimResponse.of_json(409, {"error": f"{trans_id} is {trans.status}"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        if form.get("decision", "approve") == "decline":
            trans.status, trans.response_code, trans.reason_code = store.DECLINED, 2, 2
            trans.auth_minor = 0
        else:
            trans.response_code, trans.reason_code = codes.APPROVED, 1
            trans.auth_code = auth_code_for(trans_id)
            if trans.transaction_type == store.AUTH_CAPTURE:
                trans.status, trans.settle_minor = store.CAPTURED, trans.auth_minor
                kind = events.AUTHCAPTURE_CREATED
            else:
                trans.status = store.AUTHORIZED
                kind = events.AUTHORIZATION_CREATED
            self.transactions.notify(kind, trans, trans.auth_minor)
        return SimResponse.of_json(200, {"transId": trans_id, "transactionStatus": trans.status})

    def fault_reply(self, status: int, retry_after_s: float | None) -> SimResponse:
        """The generic E00001 error with the scripted status (BOM and all)."""
        return replies.fault_reply(status, retry_after_s)

    def snapshot(self) -> object:
        """Payments (authorizations) and refunds with their amounts in minor units."""
        payments: dict[str, object] = {}
        refunds: dict[str, object] = {}
        for trans in self.store.transactions.values():
            if trans.transaction_type == store.REFUND:
                refunds[trans.trans_id] = {
                    "refTransId": trans.ref_trans_id,
                    "status": trans.status,
                    "currency": trans.currency,
                    "amount_minor": trans.settle_minor,
                    "invoiceNumber": trans.invoice_number,
                }
                continue
            payments[trans.trans_id] = {
                "transactionType": trans.transaction_type,
                "status": trans.status,
                "currency": trans.currency,
                "authorized_minor": trans.auth_minor,
                "captured_minor": trans.settle_minor if trans.status == store.CAPTURED else 0,
                "refunded_minor": trans.refunded_minor,
                "responseCode": trans.response_code,
                "reasonCode": trans.reason_code,
                "invoiceNumber": trans.invoice_number,
                "last4": trans.last4,
            }
        return {"payments": payments, "refunds": refunds}

    def reset(self) -> None:
        """Forget every transaction and the duplicate window."""
        self.store.reset()


def _consent_page(trans_id: str) -> SimResponse:
    safe = html.escape(trans_id)
    page = (
        "<!doctype html><title>Approve payment</title>"
        f"<p>Sandbox payer approval for transaction {safe}.</p>"
        f'<form method="post"><button name="decision" value="approve">Approve</button>'
        '<button name="decision" value="decline">Decline</button></form>'
    )
    return SimResponse(200, page.encode(), {"content-type": "text/html; charset=utf-8"})
