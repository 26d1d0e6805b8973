"""Razorpay's Orders API: create, fetch, list (by receipt) and an order's payments.

``receipt`` is the merchant's own reference (at most 40 characters). Razorpay's docs call it
unique, but the live API accepts a second order with the same receipt (observed and
reported by integrators), so the simulator accepts it too: the adapter must not rely on the
provider to deduplicate, and ``GET /v1/orders?receipt=`` returns every match.

Capture mode comes from ``payment_capture`` (true/false or 1/0; the form most SDK examples
use) or the newer ``payment: {"capture": "automatic" | "manual"}``; with neither, the
account default applies, which is automatic capture.

Collections are ``{"entity": "collection", "count", "items"}``. Orders list newest first (as
Razorpay lists every collection); an order's payments list in the order they were made.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sandbox.core import SimResponse
from sandbox.razorpay import validation as check
from sandbox.razorpay.replies import json_reply, unknown_id
from sandbox.razorpay.store import Order, Store

ORDER_FIELDS = frozenset(
    {"amount", "currency", "receipt", "notes", "payment_capture", "payment", "partial_payment"}
)
MAX_RECEIPT_CHARS = 40
MAX_COUNT = 100
DEFAULT_COUNT = 10


def create(store: Store, body: Mapping[str, object]) -> SimResponse:
    """``POST /v1/orders``."""
    check.no_extra(body, ORDER_FIELDS)
    currency = check.currency(body)
    amount = check.amount(body, currency)
    assert amount is not None
    receipt = check.text(body, "receipt", max_chars=MAX_RECEIPT_CHARS)
    notes = check.notes(body)
    if body.get("partial_payment") not in (None, False, 0, "0"):
        raise check.refuse("Partial payments are not enabled for this account", "partial_payment")
    order = Order(
        store.ids.make("order_"),
        amount,
        currency,
        receipt,
        notes,
        _auto_capture(body),
        int(time.time()),
    )
    store.add_order(order)
    return json_reply(200, order.entity())


def _auto_capture(body: Mapping[str, object]) -> bool:
    flag = body.get("payment_capture")
    if flag is not None:
        if flag in (True, 1, "1", "true"):
            return True
        if flag in (False, 0, "0", "false"):
            return False
        raise check.refuse("The payment_capture must be true or false.", "payment_capture")
    payment = body.get("payment")
    if payment is None:
        return True
    capture = payment.get("capture") if isinstance(payment, dict) else None
    if capture not in ("automatic", "manual"):
        raise check.refuse("The payment.capture must be automatic or manual.", "payment.capture")
    return bool(capture == "automatic")


def fetch(store: Store, order_id: str) -> SimResponse:
    """``GET /v1/orders/{id}``."""
    order = store.orders.get(order_id)
    return unknown_id() if order is None else json_reply(200, order.entity())


def list_orders(store: Store, query: Mapping[str, str]) -> SimResponse:
    """``GET /v1/orders``: newest first, ``receipt`` filter, ``count`` and ``skip`` paging."""
    count = _query_int(query, "count", DEFAULT_COUNT, 1, MAX_COUNT)
    skip = _query_int(query, "skip", 0, 0, 10**9)
    receipt = query.get("receipt")
    if receipt is not None:
        ids = store.by_receipt.get(receipt, [])
        orders = [store.orders[order_id] for order_id in reversed(ids)]
    else:
        orders = list(reversed(store.orders.values()))
    if query.get("authorized") == "1":
        orders = [o for o in orders if _has_authorized_payment(store, o)]
    page = orders[skip : skip + count]
    return _collection([o.entity() for o in page])


def payments(store: Store, order_id: str) -> SimResponse:
    """``GET /v1/orders/{id}/payments``."""
    order = store.orders.get(order_id)
    if order is None:
        return unknown_id()
    items = []
    for payment_id in order.payment_ids:
        payment = store.payment(payment_id)
        assert payment is not None
        items.append(payment.entity())
    return _collection(items)


def _has_authorized_payment(store: Store, order: Order) -> bool:
    return any(store.payments[p].authorized_at is not None for p in order.payment_ids)


def _collection(items: list[dict[str, object]]) -> SimResponse:
    return json_reply(200, {"entity": "collection", "count": len(items), "items": items})


def _query_int(query: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise check.refuse(f"The {key} must be an integer between {low} and {high}.", key)
    return int(raw)
