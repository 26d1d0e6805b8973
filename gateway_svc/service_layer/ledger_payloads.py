"""Posting plans as outbox payloads (JSON) and back.

A payload carries the plan and the books it belongs to, so the relay can open the merchant's
chart of accounts before the first posting in a currency, and nothing else: the relay needs
no database read to know what to send.

Conversions and payouts (``domain.fx_postings``) add three shapes: a multi-currency create
(``create_multi``: legs carry their currency), a reverse of a posted transaction
(``reverse``), and ``fx: true`` on any payload whose accounts include the FX accounts
(``fx_accounts``: payout clearing, payout fees, the platform's FX position), so the relay
opens those too before a create.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway_svc.domain.fx_postings import (
    CurrencyLeg,
    MultiCurrencyTransactionPlan,
    ReverseTransactionPlan,
)
from gateway_svc.domain.ledger_accounts import Books
from gateway_svc.domain.postings import (
    CreateTransactionPlan,
    LedgerPlan,
    Leg,
    PostTransactionPlan,
    Side,
    VoidTransactionPlan,
)

AnyPlan = LedgerPlan | MultiCurrencyTransactionPlan | ReverseTransactionPlan
"""Every plan the relay can deliver."""


def plan_payload(plan: AnyPlan, books: Books, *, fx: bool = False) -> dict[str, Any]:
    """The JSON payload of one plan (``fx``: open the FX accounts of ``books`` too)."""
    out: dict[str, Any] = {
        "merchant_id": books.merchant_id,
        "currency": books.currency,
        "request_id": plan.request_id,
    }
    if fx:
        out["fx"] = True
    if isinstance(plan, CreateTransactionPlan):
        out |= {
            "op": "create",
            "legs": [[leg.account_code, leg.side.value, leg.amount_minor] for leg in plan.legs],
            "description": plan.description,
            "pending": plan.pending,
            "pending_timeout_s": plan.pending_timeout_s,
            "external_ref": plan.external_ref,
            "metadata": dict(plan.metadata),
        }
    elif isinstance(plan, MultiCurrencyTransactionPlan):
        out |= {
            "op": "create_multi",
            "legs": [[g.account_code, g.currency, g.side.value, g.amount_minor] for g in plan.legs],
            "description": plan.description,
            "pending": plan.pending,
            "external_ref": plan.external_ref,
            "metadata": dict(plan.metadata),
        }
    elif isinstance(plan, PostTransactionPlan):
        out |= {
            "op": "post",
            "hold_request_id": plan.hold_request_id,
            "amount_minor": plan.amount_minor,
        }
    elif isinstance(plan, ReverseTransactionPlan):
        out |= {"op": "reverse", "original_request_id": plan.original_request_id}
    else:
        out |= {"op": "void", "hold_request_id": plan.hold_request_id}
    return out


def payload_books(payload: Mapping[str, Any]) -> Books:
    """The books a payload posts to."""
    return Books(payload["merchant_id"], payload["currency"])


def payload_opens_fx(payload: Mapping[str, Any]) -> bool:
    """True when the relay must open the books' FX accounts before a create."""
    return bool(payload.get("fx", False))


def payload_plan(payload: Mapping[str, Any]) -> AnyPlan:
    """The plan inside a payload (the inverse of ``plan_payload``)."""
    op = payload["op"]
    if op == "create":
        return CreateTransactionPlan(
            request_id=payload["request_id"],
            currency=payload["currency"],
            legs=tuple(
                Leg(code, Side(side), int(amount)) for code, side, amount in payload["legs"]
            ),
            description=payload.get("description", ""),
            pending=bool(payload.get("pending", False)),
            pending_timeout_s=payload.get("pending_timeout_s"),
            external_ref=payload.get("external_ref", ""),
            metadata=dict(payload.get("metadata", {})),
        )
    if op == "create_multi":
        return MultiCurrencyTransactionPlan(
            request_id=payload["request_id"],
            legs=tuple(
                CurrencyLeg(code, currency, Side(side), int(amount))
                for code, currency, side, amount in payload["legs"]
            ),
            description=payload.get("description", ""),
            pending=bool(payload.get("pending", False)),
            external_ref=payload.get("external_ref", ""),
            metadata=dict(payload.get("metadata", {})),
        )
    if op == "post":
        return PostTransactionPlan(
            payload["request_id"], payload["hold_request_id"], payload.get("amount_minor")
        )
    if op == "void":
        return VoidTransactionPlan(payload["request_id"], payload["hold_request_id"])
    if op == "reverse":
        return ReverseTransactionPlan(payload["request_id"], payload["original_request_id"])
    raise ValueError(f"unknown ledger payload op {op!r}")
