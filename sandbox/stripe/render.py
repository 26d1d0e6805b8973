"""The simulated objects as Stripe's JSON, field for field, and ``expand[]``.

Top-level field names and nesting follow the objects Stripe returns
(/work/shared/reference/stripe-fixtures.json, from stripe/openapi); fields the sandbox has no
notion of (Connect, shipping, customers) are present with Stripe's empty values so a client
that reads them finds what the real API sends.

``expand[]`` replaces an id with its object, as Stripe does, for the paths listed in EXPANDABLE
(``latest_charge.balance_transaction`` is how a client reads the fee in one call). Paths are
checked before an endpoint runs (``check_expand``) so a bad one refuses the whole call.
"""

from __future__ import annotations

from typing import Any

from sandbox.stripe.errors import StripeError, invalid
from sandbox.stripe.model import (
    BalanceTransaction,
    CardMethod,
    Charge,
    Intent,
    Refund,
    Store,
)

Json = dict[str, Any]

EXPANDABLE: dict[str, dict[str, str]] = {
    "payment_intent": {"latest_charge": "charge", "payment_method": "payment_method"},
    "charge": {"balance_transaction": "balance_transaction", "payment_intent": "payment_intent"},
    "refund": {
        "balance_transaction": "balance_transaction",
        "charge": "charge",
        "payment_intent": "payment_intent",
    },
    "balance_transaction": {},
    "payment_method": {},
}
_MAX_EXPAND_DEPTH = 4


def check_expand(paths: list[str], kind: str, *, listed: bool = False) -> None:
    """Refuse a path Stripe could not expand on an object of ``kind`` (or a list of them)."""
    for path in paths:
        parts = path.split(".")
        if listed:
            if parts[0] != "data":
                raise _not_expandable(path)
            parts = parts[1:]
        if not parts or len(parts) > _MAX_EXPAND_DEPTH:
            raise _not_expandable(path)
        current = kind
        for part in parts:
            target = EXPANDABLE[current].get(part)
            if target is None:
                raise _not_expandable(path)
            current = target


def _not_expandable(path: str) -> StripeError:
    return invalid(f"This property cannot be expanded ({path}).", param="expand")


def expand(data: Json, paths: list[str], store: Store) -> Json:
    """Replace ids with objects along each (already checked) path."""
    for path in paths:
        _expand_into(data, path.split("."), store)
    return data


def _expand_into(node: Json, parts: list[str], store: Store) -> None:
    value = node.get(parts[0])
    if isinstance(value, list):  # `data.<field>` on a list or search result
        for item in value:
            if isinstance(item, dict) and len(parts) > 1:
                _expand_into(item, parts[1:], store)
        return
    if isinstance(value, str):
        value = node[parts[0]] = render_id(value, store)
    if isinstance(value, dict) and len(parts) > 1:
        _expand_into(value, parts[1:], store)


def render_id(object_id: str, store: Store) -> Json | str:
    """The object an id names (the id itself if the store no longer has it)."""
    prefix = object_id.partition("_")[0]
    if prefix == "pi" and object_id in store.intents:
        return intent_json(store.intents[object_id], store)
    if prefix == "ch" and object_id in store.charges:
        return charge_json(store.charges[object_id], store)
    if prefix == "txn" and object_id in store.balance:
        return balance_json(store.balance[object_id])
    if prefix == "pm" and object_id in store.methods:
        return method_json(store.methods[object_id])
    if prefix == "re" and object_id in store.refunds:
        return refund_json(store.refunds[object_id])
    return object_id


def intent_json(intent: Intent, store: Store) -> Json:
    """A PaymentIntent as Stripe returns it."""
    error = intent.last_payment_error
    if error is not None and isinstance(error.get("payment_method"), str):
        error = {**error, "payment_method": render_id(str(error["payment_method"]), store)}
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": intent.amount_capturable,
        "amount_details": {"tip": {}},
        "amount_received": intent.amount_received,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": intent.canceled_at,
        "cancellation_reason": intent.cancellation_reason,
        "capture_method": intent.capture_method,
        "client_secret": intent.client_secret,
        "confirmation_method": intent.confirmation_method,
        "created": intent.created,
        "currency": intent.currency,
        "customer": None,
        "customer_account": None,
        "description": intent.description,
        "excluded_payment_method_types": None,
        "last_payment_error": error,
        "latest_charge": intent.latest_charge,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": dict(intent.metadata),
        "next_action": intent.next_action,
        "on_behalf_of": None,
        "payment_method": intent.payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {"request_three_d_secure": "automatic", "capture_method": None}
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": intent.receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": intent.statement_descriptor,
        "statement_descriptor_suffix": intent.statement_descriptor_suffix,
        "status": intent.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def charge_json(charge: Charge, store: Store) -> Json:
    """A Charge as Stripe returns it, its refunds listed."""
    method = store.methods.get(charge.payment_method)
    failure = charge.failure
    return {
        "id": charge.id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": charge.balance_transaction,
        "billing_details": _billing_details(),
        "calculated_statement_descriptor": "PAYMESH SANDBOX",
        "captured": charge.captured,
        "created": charge.created,
        "currency": charge.currency,
        "customer": None,
        "description": charge.description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure.code if failure else None,
        "failure_message": failure.message if failure else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": _outcome(charge),
        "paid": charge.status == "succeeded",
        "payment_intent": charge.intent_id,
        "payment_method": charge.payment_method,
        "payment_method_details": _card_details(method, charge),
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": charge.amount_refunded == charge.amount,
        "refunds": {
            "object": "list",
            "data": [refund_json(store.refunds[rid]) for rid in reversed(charge.refund_ids)],
            "has_more": False,
            "url": f"/v1/charges/{charge.id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": charge.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def _outcome(charge: Charge) -> Json:
    failure = charge.failure
    if failure is None:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    blocked = failure.outcome_type == "blocked"
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "not_sent_to_network" if blocked else "declined_by_network",
        "reason": "highest_risk_level" if blocked else failure.decline_code,
        "risk_level": "highest" if blocked else "normal",
        "seller_message": (
            "Stripe blocked this payment as too risky."
            if blocked
            else "The bank did not return any further details with this decline."
        ),
        "type": failure.outcome_type,
    }


def _card_details(method: CardMethod | None, charge: Charge) -> Json:
    card: Json = {}
    if method is not None:
        card = {
            "amount_authorized": charge.amount if charge.status == "succeeded" else None,
            "brand": method.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": method.country,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
            "fingerprint": method.fingerprint,
            "funding": method.funding,
            "last4": method.last4,
            "network": method.brand,
            "three_d_secure": (
                {"authentication_flow": "challenge", "result": "authenticated", "version": "2.2.0"}
                if charge.three_d_secure
                else None
            ),
        }
    return {"card": card, "type": "card"}


def _billing_details() -> Json:
    address = dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))
    return {"address": address, "email": None, "name": None, "phone": None, "tax_id": None}


def method_json(method: CardMethod) -> Json:
    """A card PaymentMethod as Stripe returns it (brand, last 4, expiry; no number)."""
    return {
        "id": method.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": _billing_details(),
        "card": {
            "brand": method.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "unchecked",
            },
            "country": method.country,
            "display_brand": method.brand,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
            "fingerprint": method.fingerprint,
            "funding": method.funding,
            "generated_from": None,
            "last4": method.last4,
            "networks": {"available": [method.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": "unregulated",
        },
        "created": method.created,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def refund_json(refund: Refund) -> Json:
    """A Refund as Stripe returns it (``failure_reason`` only once it failed)."""
    failure = {} if refund.failure_reason is None else {"failure_reason": refund.failure_reason}
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "balance_transaction": refund.balance_transaction,
        "charge": refund.charge_id,
        "created": refund.created,
        "currency": refund.currency,
        "customer": None,
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": dict(refund.metadata),
        "payment_intent": refund.intent_id,
        "payment_method": None,
        "reason": refund.reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": refund.status,
        "transfer_reversal": None,
        **failure,
    }


def balance_json(txn: BalanceTransaction) -> Json:
    """A BalanceTransaction; ``fee`` is where Stripe reports what it kept."""
    return {
        "id": txn.id,
        "object": "balance_transaction",
        "amount": txn.amount,
        "available_on": txn.created + 2 * 86400,
        "created": txn.created,
        "currency": txn.currency,
        "description": None,
        "exchange_rate": None,
        "fee": txn.fee,
        "fee_details": (
            [
                {
                    "amount": txn.fee,
                    "application": None,
                    "currency": txn.currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if txn.fee
            else []
        ),
        "net": txn.amount - txn.fee,
        "reporting_category": txn.type,
        "source": txn.source,
        "status": "pending",
        "type": txn.type,
    }
