"""Payments (payouts): create (idempotent by ``unique_request_id``), get, find, delete, progress.

Routes::

    POST /v2/payments/create       currency, beneficiary_id, amount, reason, reference,
                                   unique_request_id [, payment_type=priority|regular,
                                   conversion_id]
    GET  /v2/payments/find         filters: unique_request_id, status, beneficiary_id;
                                   deleted payments only with with_deleted=true
    GET  /v2/payments/{id}         404 payment_not_found (a deleted one needs with_deleted=true)
    POST /v2/payments/{id}/delete  cancels a payment not yet submitted; answers its final state

A refused create is 400 ``payment_create_failed`` naming every bad field, with the codes of
Currencycloud's reference (``beneficiary_id_is_required``, ``invalid_beneficiary_id``,
``invalid_currency``, ``invalid_type``, ``reference_is_too_long`` ...). The payment currency
must be the beneficiary's (``invalid_currency``). Idempotency works as for conversions
(``sandbox.currencycloud.conversions``): same id and terms answer the same payment, other
terms ``duplicate_request``; the simulator requires the id.

Status: created ``ready_to_send``; the sandbox-only control
``POST /_sandbox/payments/{id}/advance[?status=]`` moves it to ``submitted``, then
``completed``, or ``failed`` when its reference contains ``FAIL_REFERENCE`` (case-insensitive;
``failure_reason`` then says why); reaching either sends ``payment_completed`` or
``payment_failed`` (sandbox.webhooks.currencycloud). Delete is allowed while
``ready_to_send`` (Currencycloud refuses to delete a payment already sent to the bank); it sets
``deleted``. The refusal's exact body is not documented: the simulator answers 400
``payment_delete_failed`` with ``base: payment_cannot_be_deleted``.

Fees: Currencycloud reports ``fee_amount`` and ``fee_currency`` on a payment. The simulator's
fee is in the payment currency, ``FEE_BPS`` basis points of the amount (10 for regular, 50 for
priority/SWIFT), rounded half up to the currency's exponent, at least one minor unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sandbox.currencycloud.beneficiaries import CONTACT_ID, Beneficiaries
from sandbox.currencycloud.conversions import short_reference
from sandbox.currencycloud.wire import (
    CcError,
    Problems,
    add,
    amount_problems,
    amount_text,
    currency_problems,
    is_uuid,
    new_uuid,
    not_found,
    now_iso,
    page,
    problem,
)
from sandbox.webhooks import currencycloud as events
from sandbox.webhooks.events import EventSink
from svc_kit.currencies import exponent

CREATE_ERROR = "payment_create_failed"
FAIL_REFERENCE = "sandbox_fail"
FEE_BPS = {"regular": 10, "priority": 50}
STATUSES = ("ready_to_send", "submitted", "completed", "failed", "deleted")
_DUPLICATE = (
    "The unique_request_id provided for this payment has already been used, please provide a"
    " new unique_request_id to successfully submit this payment"
)
_TERMS = ("currency", "beneficiary_id", "reason", "reference", "payment_type", "conversion_id")
_OUTCOMES = {"completed": events.PAYMENT_COMPLETED, "failed": events.PAYMENT_FAILED}


class Payments:
    """The account's payments (records are Currencycloud's JSON) and used request ids."""

    def __init__(self, beneficiaries: Beneficiaries, webhooks: EventSink) -> None:
        self._beneficiaries = beneficiaries
        self._webhooks = webhooks
        self.records: dict[str, dict[str, object]] = {}
        self.replay_identical = True
        """False: an identical retry gets ``duplicate_request`` too (see the docstring)."""
        self._requests: dict[str, tuple[tuple[object, ...], str]] = {}

    def create(self, fields: Mapping[str, str]) -> dict[str, object]:
        """A new payment, the one this request id made, or CcError 400."""
        request_id = fields.get("unique_request_id", "")
        terms = _terms(fields)
        if request_id in self._requests:
            used_terms, payment_id = self._requests[request_id]
            if used_terms == terms and self.replay_identical:
                return self.records[payment_id]
            raise CcError(
                400, CREATE_ERROR, problem("duplicate_request", "duplicate_request", _DUPLICATE)
            )
        problems: Problems = {}
        amount = self._problems(fields, problems)
        if problems or amount is None:
            raise CcError(400, CREATE_ERROR, problems)
        record = _render(fields, amount)
        self.records[str(record["id"])] = record
        self._requests[request_id] = (terms, str(record["id"]))
        return record

    def get(self, payment_id: str, with_deleted: bool = False) -> dict[str, object]:
        """The payment, or 404 ``payment_not_found`` (deleted ones only ``with_deleted``)."""
        record = self.records.get(payment_id)
        if record is None or (record["status"] == "deleted" and not with_deleted):
            raise not_found("payment")
        return record

    def find(self, query: Mapping[str, str]) -> dict[str, object]:
        """Payments matching every filter given."""
        keys = ("unique_request_id", "status", "beneficiary_id", "short_reference", "currency")
        wanted = {key: query[key] for key in keys if query.get(key)}
        with_deleted = query.get("with_deleted") == "true"
        found = [
            r
            for r in self.records.values()
            if all(r.get(k) == v for k, v in wanted.items())
            and (with_deleted or r["status"] != "deleted")
        ]
        return page(found, "payments")

    def delete(self, payment_id: str) -> dict[str, object]:
        """Cancels a payment still ``ready_to_send``."""
        record = self.get(payment_id)
        if record["status"] != "ready_to_send":
            raise CcError(
                400,
                "payment_delete_failed",
                problem(
                    "base",
                    "payment_cannot_be_deleted",
                    f"A payment in status {record['status']} cannot be deleted",
                ),
            )
        record["status"] = "deleted"
        record["updated_at"] = now_iso()
        return record

    def advance(self, payment_id: str, status: str = "") -> dict[str, object]:
        """Sandbox control: the next status (or ``status``); ValueError when there is none."""
        record = self.get(payment_id, with_deleted=True)
        current = str(record["status"])
        target = status
        if not target and current == "ready_to_send":
            target = "submitted"
        elif not target and current == "submitted":
            failing = FAIL_REFERENCE in str(record["reference"]).lower()
            target = "failed" if failing else "completed"
        if target not in STATUSES:
            raise ValueError(f"payment {payment_id} cannot move on from {current}")
        record["status"] = target
        now = now_iso()
        record["updated_at"] = now
        if target == "failed":
            record["failure_reason"] = "Sandbox: the beneficiary bank rejected the payment"
        if target in ("submitted", "completed"):
            record["transferred_at"] = record["transferred_at"] or now
        outcome = _OUTCOMES.get(target) if target != current else None
        if outcome is not None:
            self._webhooks.emit(lambda: events.cc_event("payment", outcome, record))
        return record

    def _problems(self, fields: Mapping[str, str], problems: Problems) -> Decimal | None:
        currency = currency_problems(fields, "currency", problems)
        amount = amount_problems(fields, currency, problems)
        beneficiary_id = fields.get("beneficiary_id", "")
        if not beneficiary_id:
            add(
                problems,
                "beneficiary_id",
                "beneficiary_id_is_required",
                "beneficiary_id is required",
            )
        elif not is_uuid(beneficiary_id):
            add(
                problems,
                "beneficiary_id",
                "beneficiary_id_is_not_valid_uuid",
                "beneficiary_id should be in UUID format",
            )
        else:
            beneficiary = self._beneficiaries.usable(beneficiary_id)
            if beneficiary is None:
                add(problems, "beneficiary_id", "invalid_beneficiary_id", "Unknown beneficiary_id")
            elif currency and beneficiary["currency"] != currency:
                add(
                    problems,
                    "currency",
                    "invalid_currency",
                    "You cannot make payments with this currency",
                )
        _text_problems(fields, problems)
        return amount


def _text_problems(fields: Mapping[str, str], problems: Problems) -> None:
    for name in ("reason", "reference", "unique_request_id"):
        value = fields.get(name, "")
        if not value:
            add(problems, name, f"{name}_is_required", f"{name} is required")
        elif len(value) > 255:
            add(
                problems,
                name,
                f"{name}_is_too_long",
                f"{name} can not be longer than 255 character(s)",
            )
    if fields.get("payment_type", "regular") not in FEE_BPS:
        add(problems, "payment_type", "invalid_type", "Invalid Payment type")


def _terms(fields: Mapping[str, str]) -> tuple[object, ...]:
    raw = fields.get("amount", "")
    try:
        amount: Decimal | str = Decimal(raw)
    except ArithmeticError:
        amount = raw
    return (amount, *(fields.get(key, "") for key in _TERMS))


def fee(amount: Decimal, currency: str, payment_type: str) -> Decimal:
    """The simulator's fee for a payment (see the module docstring)."""
    step = Decimal(1).scaleb(-exponent(currency))
    raw = (amount * FEE_BPS[payment_type] / 10_000).quantize(step, rounding=ROUND_HALF_UP)
    return max(raw, step)


def _render(fields: Mapping[str, str], amount: Decimal) -> dict[str, object]:
    now = datetime.now(UTC)
    currency = fields["currency"]
    payment_type = fields.get("payment_type") or "regular"
    return {
        "id": new_uuid(),
        "amount": amount_text(amount, currency),
        "beneficiary_id": fields["beneficiary_id"],
        "currency": currency,
        "reference": fields["reference"],
        "reason": fields["reason"],
        "status": "ready_to_send",
        "creator_contact_id": CONTACT_ID,
        "payment_type": payment_type,
        "payment_date": now.date().isoformat(),
        "transferred_at": "",
        "authorisation_steps_required": "0",
        "last_updater_contact_id": CONTACT_ID,
        "short_reference": short_reference(now)[2:] + "001",
        "conversion_id": fields.get("conversion_id") or None,
        "failure_reason": "",
        "payer_id": "c9ad4f8c-494b-48a6-88b1-fcc83c99483a",
        "payer_details_source": "account",
        "created_at": now_iso(now),
        "updated_at": now_iso(now),
        "payment_group_id": None,
        "unique_request_id": fields["unique_request_id"],
        "fee_amount": amount_text(fee(amount, currency, payment_type), currency),
        "fee_currency": currency,
    }
