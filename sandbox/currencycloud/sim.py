"""The Currencycloud simulator: routing, the token check, sandbox controls, faults, snapshots.

Mounted at ``/currencycloud``; paths after it are Currencycloud's (``/v2/...``)::

    POST /v2/authenticate/api                 login -> {"auth_token": "<32 hex>"}
    POST /v2/authenticate/close_session       logout -> {}
    GET  /v2/rates/detailed                   sandbox.currencycloud.rates
    POST /v2/beneficiaries/validate|create    sandbox.currencycloud.beneficiaries
    GET  /v2/beneficiaries/find|{id}, POST /v2/beneficiaries/{id}/delete
    POST /v2/conversions/create, GET /v2/conversions/find|{id}
    POST /v2/payments/create, GET /v2/payments/find|{id}, POST /v2/payments/{id}/delete

Every API call but the login needs a live ``X-Auth-Token`` (sandbox.currencycloud.auth).
Every reply carries ``X-Request-Id``. An unknown route is 404 with Currencycloud's body
(``error_code: not_found``).

Sandbox-only controls, under ``/_sandbox/`` (no token; Currencycloud has no such paths and
the gateway never calls them; query parameters, JSON replies)::

    POST /_sandbox/token_ttl?seconds=S              idle lifetime of tokens (default 1800)
    POST /_sandbox/expire_tokens                    every live token expires now
    POST /_sandbox/enable_login                     support re-enables a disabled login
    POST /_sandbox/idempotency?replay=false         identical retries get duplicate_request
                                                    too (as real Currencycloud may answer)
    POST /_sandbox/conversions/{id}/advance[?status=]
    POST /_sandbox/payments/{id}/advance[?status=]

Conversions settling and payments completing or failing send push notifications through
``webhooks`` (sandbox.webhooks.currencycloud).

Handlers never await, so each request's read-check-write of state is atomic on the server's
event loop (two concurrent creates with one ``unique_request_id`` make one object).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.currencycloud import rates
from sandbox.currencycloud.auth import Sessions
from sandbox.currencycloud.beneficiaries import Beneficiaries
from sandbox.currencycloud.conversions import Conversions
from sandbox.currencycloud.payments import Payments
from sandbox.currencycloud.wire import CcError, error_reply, form, minor, problem, reply
from sandbox.webhooks.events import EventSink

NAME = "currencycloud"
CONTROL_PREFIX = "/_sandbox/"
_FAULTS = {
    429: (
        "too_many_requests",
        "Too many requests have been made to the api. Please refer to the Developer Center"
        " for more information",
    ),
    503: ("service_unavailable", "Service is temporarily unavailable"),
}


class CurrencycloudSim:
    """Currencycloud's v2 API over one in-memory house account."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic):
        self.sessions = Sessions(config, clock)
        self.webhooks = EventSink()
        self.beneficiaries = Beneficiaries()
        self.conversions = Conversions(self.webhooks)
        self.payments = Payments(self.beneficiaries, self.webhooks)

    @property
    def name(self) -> str:
        """Mounted at ``/currencycloud``."""
        return NAME

    async def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request as Currencycloud would (no await inside: see the docstring)."""
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        try:
            if request.method == "POST" and request.path == "/v2/authenticate/api":
                return reply(200, {"auth_token": self.sessions.login(form(request))})
            token = self.sessions.check(request.headers)
            if request.method == "POST" and request.path == "/v2/authenticate/close_session":
                self.sessions.close(token)
                return reply(200, {})
            return reply(200, self._route(request))
        except CcError as exc:
            return exc.reply()

    def _route(self, request: SimRequest) -> object:
        parts = request.path.strip("/").split("/")
        if parts[:1] != ["v2"] or len(parts) < 3:
            raise _unknown_route(request)
        if request.method == "GET":
            return self._get(parts[1:], request)
        if request.method == "POST":
            return self._post(parts[1:], request)
        raise _unknown_route(request)

    def _get(self, parts: list[str], request: SimRequest) -> object:
        query = request.query
        match parts:
            case ["rates", "detailed"]:
                return rates.detailed(query)
            case ["beneficiaries", "find"]:
                return self.beneficiaries.find(query)
            case ["beneficiaries", beneficiary_id]:
                return self.beneficiaries.get(beneficiary_id)
            case ["conversions", "find"]:
                return self.conversions.find(query)
            case ["conversions", conversion_id]:
                return self.conversions.get(conversion_id)
            case ["payments", "find"]:
                return self.payments.find(query)
            case ["payments", payment_id]:
                return self.payments.get(payment_id, query.get("with_deleted") == "true")
        raise _unknown_route(request)

    def _post(self, parts: list[str], request: SimRequest) -> object:
        fields = form(request)
        match parts:
            case ["beneficiaries", "validate"]:
                return self.beneficiaries.validate(fields)
            case ["beneficiaries", "create"]:
                return self.beneficiaries.create(fields)
            case ["beneficiaries", beneficiary_id, "delete"]:
                return self.beneficiaries.delete(beneficiary_id)
            case ["conversions", "create"]:
                return self.conversions.create(fields)
            case ["payments", "create"]:
                return self.payments.create(fields)
            case ["payments", payment_id, "delete"]:
                return self.payments.delete(payment_id)
        raise _unknown_route(request)

    def _control(self, request: SimRequest) -> SimResponse:
        parts = request.path.removeprefix(CONTROL_PREFIX).strip("/").split("/")
        query = request.query
        if request.method != "POST":
            return _control_reply(405, {"error": "sandbox controls are POST"})
        try:
            match parts:
                case ["token_ttl"]:
                    self.sessions.idle_ttl_s = float(query.get("seconds", ""))
                    return _control_reply(200, {"idle_ttl_s": self.sessions.idle_ttl_s})
                case ["expire_tokens"]:
                    return _control_reply(200, {"expired": self.sessions.expire_all()})
                case ["idempotency"]:
                    replay = query.get("replay", "true") != "false"
                    self.conversions.replay_identical = self.payments.replay_identical = replay
                    return _control_reply(200, {"replay_identical": replay})
                case ["enable_login"]:
                    self.sessions.enable()
                    return _control_reply(200, {"disabled": False})
                case ["conversions", conversion_id, "advance"]:
                    moved = self.conversions.advance(conversion_id, query.get("status", ""))
                    return _control_reply(200, moved)
                case ["payments", payment_id, "advance"]:
                    moved = self.payments.advance(payment_id, query.get("status", ""))
                    return _control_reply(200, moved)
        except ValueError as exc:
            return _control_reply(400, {"error": str(exc)})
        except CcError as exc:
            return exc.reply()
        return _control_reply(404, {"error": f"no sandbox control {request.path!r}"})

    def fault_reply(self, status: int, retry_after_s: float | None) -> SimResponse:
        """Currencycloud's body for a scripted 429 or 5xx, ``Retry-After`` when given."""
        headers = {} if retry_after_s is None else {"retry-after": f"{retry_after_s:g}"}
        code, message = _FAULTS.get(status, ("internal_server_error", "Internal server error"))
        return error_reply(status, code, problem("base", code, message), headers)

    def snapshot(self) -> dict[str, object]:
        """Logins, and every conversion, payment and beneficiary (amounts in minor units)."""
        conversions = {
            cid: {
                "status": c["status"],
                "buy_currency": c["buy_currency"],
                "sell_currency": c["sell_currency"],
                "buy_minor": minor(str(c["client_buy_amount"]), str(c["buy_currency"])),
                "sell_minor": minor(str(c["client_sell_amount"]), str(c["sell_currency"])),
                "client_rate": c["client_rate"],
                "unique_request_id": c["unique_request_id"],
            }
            for cid, c in self.conversions.records.items()
        }
        payments = {pid: _payment_summary(p) for pid, p in self.payments.records.items()}
        beneficiaries = {
            bid: {"name": b["name"], "currency": b["currency"], "bank_country": b["bank_country"]}
            for bid, b in self.beneficiaries.records.items()
        }
        return {
            "auth": self.sessions.snapshot(),
            "conversions": conversions,
            "payments": payments,
            "beneficiaries": beneficiaries,
            "deleted_beneficiaries": sorted(self.beneficiaries.deleted),
        }

    def reset(self) -> None:
        """Forget every object, token and login count."""
        self.sessions.reset()
        self.beneficiaries = Beneficiaries()
        self.conversions = Conversions(self.webhooks)
        self.payments = Payments(self.beneficiaries, self.webhooks)


def _payment_summary(payment: dict[str, object]) -> dict[str, object]:
    currency = str(payment["currency"])
    return {
        "status": payment["status"],
        "currency": currency,
        "amount_minor": minor(str(payment["amount"]), currency),
        "fee_minor": minor(str(payment["fee_amount"]), currency),
        "beneficiary_id": payment["beneficiary_id"],
        "payment_type": payment["payment_type"],
        "unique_request_id": payment["unique_request_id"],
    }


def _unknown_route(request: SimRequest) -> CcError:
    return CcError(
        404,
        "not_found",
        problem("base", "not_found", f"No route for {request.method} {request.path}"),
    )


def _control_reply(status: int, payload: object) -> SimResponse:
    return reply(status, payload)
