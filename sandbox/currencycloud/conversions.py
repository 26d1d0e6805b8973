"""Conversions: create (idempotent by ``unique_request_id``), get, find, and status progression.

Routes::

    POST /v2/conversions/create   buy_currency, sell_currency, fixed_side, amount,
                                  term_agreement=true, unique_request_id [, reason]
    GET  /v2/conversions/find     filters: unique_request_id, status, short_reference
    GET  /v2/conversions/{id}     404 conversion_not_found

Prices come from ``sandbox.currencycloud.rates`` (the same quote ``rates/detailed`` gives).
A refused create is 400 ``conversion_create_failed`` naming every bad field, with
Currencycloud's codes (``buy_currency_is_required``, ``fixed_side_not_in_range``,
``term_agreement_is_required``, ``amount_is_in_invalid_format`` ...).

Idempotency. The same ``unique_request_id`` with the same terms (currencies, fixed side,
amount compared as a number, reason) answers the conversion it created, in its current
state, and creates nothing. Other terms under a used id get Currencycloud's
``duplicate_request`` ("The unique_request_id provided for this conversion has already been
used ..."). Real Currencycloud documents only that error, so it may answer it for an
identical retry too; that is why clients recover a lost create through
``find?unique_request_id=``, which works against either; the sandbox-only control
``POST /_sandbox/idempotency?replay=false`` makes the simulator refuse identical retries too,
so that path is tested. Requests are handled without an
await, so a concurrent duplicate always sees the first one's record. The simulator requires
``unique_request_id`` (Currencycloud only "strongly recommends" it): the gateway must always
send one, and a missing one should fail its tests, not pass them.

Status: a new conversion is ``awaiting_funds``; the sandbox-only control
``POST /_sandbox/conversions/{id}/advance[?status=]`` moves it to ``funds_arrived``, then
``trade_settled`` (or straight to the status named; ``closed`` too). Nothing moves by time.
Reaching ``trade_settled`` (or ``closed`` without it) sends the ``conversion_completed`` push
notification (sandbox.webhooks.currencycloud).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

from sandbox.currencycloud.beneficiaries import ACCOUNT_ID, CONTACT_ID
from sandbox.currencycloud.rates import Quote, priced
from sandbox.currencycloud.wire import (
    CcError,
    Problems,
    add,
    amount_text,
    new_uuid,
    not_found,
    now_iso,
    page,
    problem,
)
from sandbox.webhooks import currencycloud as events
from sandbox.webhooks.events import EventSink

CREATE_ERROR = "conversion_create_failed"
STATUSES = ("awaiting_funds", "funds_sent", "funds_arrived", "trade_settled", "closed")
NEXT = {"awaiting_funds": "funds_arrived", "funds_sent": "funds_arrived"}
NEXT |= {"funds_arrived": "trade_settled"}
SETTLED = ("trade_settled", "closed")
_DUPLICATE = (
    "The unique_request_id provided for this conversion has already been used, please provide"
    " a new unique_request_id to successfully submit this conversion"
)

Terms = tuple[str, str, str, Decimal | str, str]


class Conversions:
    """The account's conversions (records are Currencycloud's JSON) and used request ids."""

    def __init__(self, webhooks: EventSink) -> None:
        self._webhooks = webhooks
        self.records: dict[str, dict[str, object]] = {}
        self.replay_identical = True
        """False: an identical retry gets ``duplicate_request`` too (see the docstring)."""
        self._requests: dict[str, tuple[Terms, str]] = {}

    def create(self, fields: Mapping[str, str]) -> dict[str, object]:
        """A new conversion, the one this request id made, or CcError 400."""
        request_id = fields.get("unique_request_id", "")
        terms = _terms(fields)
        if request_id in self._requests:
            used_terms, conversion_id = self._requests[request_id]
            if used_terms == terms and self.replay_identical:
                return self.records[conversion_id]
            raise CcError(
                400, CREATE_ERROR, problem("duplicate_request", "duplicate_request", _DUPLICATE)
            )
        problems: Problems = {}
        quote = priced(fields, problems)
        _agreement_problems(fields, problems)
        if not request_id:
            add(
                problems,
                "unique_request_id",
                "unique_request_id_is_required",
                "unique_request_id is required",
            )
        if problems or quote is None:
            raise CcError(400, CREATE_ERROR, problems)
        record = _render(quote, request_id, fields.get("reason", ""))
        self.records[str(record["id"])] = record
        self._requests[request_id] = (terms, str(record["id"]))
        return record

    def get(self, conversion_id: str) -> dict[str, object]:
        """The conversion, or 404 ``conversion_not_found``."""
        record = self.records.get(conversion_id)
        if record is None:
            raise not_found("conversion")
        return record

    def find(self, query: Mapping[str, str]) -> dict[str, object]:
        """Conversions matching every filter given."""
        keys = ("unique_request_id", "status", "short_reference", "buy_currency", "sell_currency")
        wanted = {key: query[key] for key in keys if query.get(key)}
        found = [r for r in self.records.values() if all(r.get(k) == v for k, v in wanted.items())]
        return page(found, "conversions")

    def advance(self, conversion_id: str, status: str = "") -> dict[str, object]:
        """Sandbox control: the next status (or ``status``); ValueError when there is none."""
        record = self.get(conversion_id)
        target = status or NEXT.get(str(record["status"]), "")
        if target not in STATUSES:
            raise ValueError(f"conversion {conversion_id} cannot move on from {record['status']}")
        settles = target in SETTLED and record["status"] not in SETTLED
        record["status"] = target
        record["updated_at"] = now_iso()
        if settles:
            self._webhooks.emit(
                lambda: events.cc_event("conversion", events.CONVERSION_COMPLETED, record)
            )
        return record


def _terms(fields: Mapping[str, str]) -> Terms:
    raw = fields.get("amount", "")
    try:
        amount: Decimal | str = Decimal(raw)
    except ArithmeticError:
        amount = raw
    keys = ("buy_currency", "sell_currency", "fixed_side")
    buy, sell, side = (fields.get(key, "") for key in keys)
    return buy, sell, side, amount, fields.get("reason", "")


def _agreement_problems(fields: Mapping[str, str], problems: Problems) -> None:
    agreement = fields.get("term_agreement", "")
    if agreement == "true":
        return
    if agreement in ("", "false"):
        add(problems, "term_agreement", "term_agreement_is_required", "term_agreement is required")
    else:
        add(
            problems,
            "term_agreement",
            "term_agreement_type_is_wrong",
            "term_agreement should be of boolean type",
            type="boolean",
        )


def short_reference(prefix_date: datetime) -> str:
    """``20170515-QHBCNR``: the date and six letters, as Currencycloud's references look."""
    letters = "".join(secrets.choice(string.ascii_uppercase) for _ in range(6))
    return f"{prefix_date:%Y%m%d}-{letters}"


def _render(quote: Quote, request_id: str, reason: str) -> dict[str, object]:
    now = datetime.now(UTC)
    settles = quote.settlement_cut_off
    return {
        "id": new_uuid(),
        "settlement_date": settles.isoformat(),
        "conversion_date": settles.replace(hour=0).isoformat(),
        "short_reference": short_reference(now),
        "creator_contact_id": CONTACT_ID,
        "account_id": ACCOUNT_ID,
        "currency_pair": quote.currency_pair,
        "status": "awaiting_funds",
        "buy_currency": quote.buy_currency,
        "sell_currency": quote.sell_currency,
        "client_buy_amount": amount_text(quote.buy_amount, quote.buy_currency),
        "client_sell_amount": amount_text(quote.sell_amount, quote.sell_currency),
        "fixed_side": quote.fixed_side,
        "mid_market_rate": str(quote.mid_market_rate),
        "core_rate": str(quote.client_rate),
        "partner_rate": "",
        "partner_status": "funds_arrived",
        "partner_buy_amount": "0.00",
        "partner_sell_amount": "0.00",
        "client_rate": str(quote.client_rate),
        "deposit_required": False,
        "deposit_amount": "0.00",
        "deposit_currency": "",
        "deposit_status": "not_required",
        "deposit_required_at": "",
        "payment_ids": [],
        "unallocated_funds": "0.00",
        "reason": reason,
        "unique_request_id": request_id,
        "created_at": now_iso(now),
        "updated_at": now_iso(now),
    }
