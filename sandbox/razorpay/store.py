"""The Razorpay simulator's memory: orders, payments, refunds and refund idempotency records.

Plain slotted objects in dicts, mutated in place: the sandbox server is one asyncio thread and
no handler awaits between reading and writing state, so each request is atomic with no lock.

Lifecycles, as Razorpay documents them:

- Order ``created`` -> ``attempted`` (a payment was tried) -> ``paid`` (one was captured; no
  further payment is accepted, even after refunds).
- Payment ``created`` (waiting for 3DS) -> ``authorized`` -> ``captured`` -> ``refunded`` (in
  full), or ``failed``. An authorization left uncaptured past the capture window is refunded
  to the payer automatically: status ``refunded`` with ``captured`` false. That is the only
  way Razorpay releases an authorization; it has no void.
- Refund ``processed`` at once (test-mode normal refunds settle immediately here), or
  ``failed`` when the sandbox-only ``POST /_sandbox/refunds/{id}/fail`` says so.

Every change of a payment's or refund's status above is announced as a webhook through
``Store.notify`` (sandbox.webhooks.razorpay lists the events).

Fees: Razorpay charges its fee and 18% GST on it when a payment is captured, and reports the
total in ``fee`` and the GST part in ``tax``. The simulator's fee is 2% of the amount (its
standard domestic card rate), rounded half up, plus 18% GST on that, rounded half up:
50000 paise -> 1000 + 180, so ``fee`` 1180 and ``tax`` 180.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field

from sandbox.core import SimResponse
from sandbox.webhooks.events import EventSink
from sandbox.webhooks.razorpay import REFUND_PROCESSED, razorpay_event

FEE_BPS = 200
GST_BPS = 1800
AUTH_WINDOW_S = 5 * 24 * 3600.0
"""Razorpay refunds an uncaptured authorization after about five days (its capture docs)."""

_ALPHABET = string.digits + string.ascii_letters


def round_half_up_bps(amount: int, bps: int) -> int:
    """``amount * bps / 10000`` rounded half up, in integers."""
    return (amount * bps + 5000) // 10000


def fee_and_tax(amount: int) -> tuple[int, int]:
    """(fee including GST, GST) for capturing ``amount``."""
    base = round_half_up_bps(amount, FEE_BPS)
    tax = round_half_up_bps(base, GST_BPS)
    return base + tax, tax


class IdMaker:
    """Razorpay-shaped ids: a prefix and 14 base62 characters (``pay_29QQoUBi66xm2f``).

    A random per-process part keeps ids from two sandbox runs apart; a counter keeps them
    unique within one without drawing randomness per request.
    """

    def __init__(self) -> None:
        self._salt = "".join(secrets.choice(_ALPHABET) for _ in range(4))
        self._counter = 0

    def make(self, prefix: str) -> str:
        """The next id with ``prefix`` (``order_``, ``pay_``, ``rfnd_``, ``card_``)."""
        self._counter += 1
        value, chars = self._counter, []
        for _ in range(10):
            value, digit = divmod(value, 62)
            chars.append(_ALPHABET[digit])
        return f"{prefix}{self._salt}{''.join(reversed(chars))}"


@dataclass(slots=True)
class Order:
    """One order (``order_...``)."""

    id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, str]
    auto_capture: bool
    created_at: int
    amount_paid: int = 0
    attempts: int = 0
    status: str = "created"
    payment_ids: list[str] = field(default_factory=list)

    def entity(self) -> dict[str, object]:
        """The order as Razorpay's API returns it."""
        return {
            "id": self.id,
            "entity": "order",
            "amount": self.amount,
            "amount_paid": self.amount_paid,
            "amount_due": self.amount - self.amount_paid,
            "currency": self.currency,
            "receipt": self.receipt,
            "offer_id": None,
            "status": self.status,
            "attempts": self.attempts,
            "notes": self.notes or [],
            "created_at": self.created_at,
        }


@dataclass(slots=True)
class Payment:
    """One payment (``pay_...``); only brand-free card facts are kept, never the number."""

    id: str
    order_id: str
    amount: int
    currency: str
    email: str
    contact: str
    description: str | None
    notes: dict[str, str]
    card_id: str
    card_last4: str
    card_network: str
    created_at: int
    status: str = "created"
    captured: bool = False
    authorized_at: float | None = None
    amount_refunded: int = 0
    auto_refunded: bool = False
    fee: int | None = None
    tax: int | None = None
    error: dict[str, str] | None = None
    refund_ids: list[str] = field(default_factory=list)

    def entity(self) -> dict[str, object]:
        """The payment as Razorpay's API returns it."""
        error = self.error or {}
        refund_status = None
        if self.amount_refunded:
            refund_status = "full" if self.amount_refunded >= self.amount else "partial"
        return {
            "id": self.id,
            "entity": "payment",
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "order_id": self.order_id,
            "invoice_id": None,
            "international": False,
            "method": "card",
            "amount_refunded": self.amount_refunded,
            "refund_status": refund_status,
            "captured": self.captured,
            "description": self.description,
            "card_id": self.card_id,
            "bank": None,
            "wallet": None,
            "vpa": None,
            "email": self.email,
            "contact": self.contact,
            "notes": self.notes or [],
            "fee": self.fee,
            "tax": self.tax,
            "error_code": error.get("code"),
            "error_description": error.get("description"),
            "error_source": error.get("source"),
            "error_step": error.get("step"),
            "error_reason": error.get("reason"),
            "acquirer_data": {"auth_code": None},
            "created_at": self.created_at,
        }


@dataclass(slots=True)
class Refund:
    """One refund (``rfnd_...``)."""

    id: str
    payment_id: str
    amount: int
    currency: str
    notes: dict[str, str]
    receipt: str | None
    created_at: int
    status: str = "processed"

    def entity(self) -> dict[str, object]:
        """The refund as Razorpay's API returns it."""
        return {
            "id": self.id,
            "entity": "refund",
            "amount": self.amount,
            "currency": self.currency,
            "payment_id": self.payment_id,
            "notes": self.notes or [],
            "receipt": self.receipt,
            "acquirer_data": {"arn": None},
            "created_at": self.created_at,
            "batch_id": None,
            "status": self.status,
            "speed_processed": "normal",
            "speed_requested": "normal",
        }


@dataclass(slots=True)
class IdempotencyRecord:
    """A refund request seen under an ``X-Refund-Idempotency`` key, and the reply it got."""

    fingerprint: tuple[str, object]
    reply: SimResponse


class Store:
    """Everything the simulator remembers; ``clear()`` forgets it (ids keep counting)."""

    def __init__(self, auth_window_s: float = AUTH_WINDOW_S) -> None:
        self.ids = IdMaker()
        self.auth_window_s = auth_window_s
        self.orders: dict[str, Order] = {}
        self.by_receipt: dict[str, list[str]] = {}
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.refund_keys: dict[str, IdempotencyRecord] = {}
        self.webhooks = EventSink()
        """Where status changes are announced (kept across ``clear``)."""

    def notify(self, kind: str, payment: Payment, refund: Refund | None = None) -> None:
        """Emit webhook ``kind`` about ``payment`` (and ``refund``) as they stand now."""
        self.webhooks.emit(
            lambda: razorpay_event(kind, payment.entity(), refund.entity() if refund else None)
        )

    def clear(self) -> None:
        """Forget every object and idempotency record."""
        self.orders.clear()
        self.by_receipt.clear()
        self.payments.clear()
        self.refunds.clear()
        self.refund_keys.clear()

    def add_order(self, order: Order) -> None:
        """Keep a new order, indexed by receipt for ``GET /v1/orders?receipt=``."""
        self.orders[order.id] = order
        if order.receipt is not None:
            self.by_receipt.setdefault(order.receipt, []).append(order.id)

    def payment(self, payment_id: str) -> Payment | None:
        """A payment by id, with an expired authorization released first."""
        payment = self.payments.get(payment_id)
        if payment is not None:
            self.expire(payment)
        return payment

    def expire(self, payment: Payment, *, now: float | None = None, force: bool = False) -> bool:
        """Refund an authorization left uncaptured past the window (or at once with ``force``).

        Checked lazily whenever a payment is read, so no timer runs; True when it lapsed now.
        """
        if payment.status != "authorized" or payment.authorized_at is None:
            return False
        moment = time.monotonic() if now is None else now
        if not force and moment - payment.authorized_at < self.auth_window_s:
            return False
        refund = Refund(
            self.ids.make("rfnd_"),
            payment.id,
            payment.amount,
            payment.currency,
            {},
            None,
            int(time.time()),
        )
        self.refunds[refund.id] = refund
        payment.refund_ids.append(refund.id)
        payment.amount_refunded = payment.amount
        payment.status = "refunded"
        payment.auto_refunded = True
        self.notify(REFUND_PROCESSED, payment, refund)
        return True

    def snapshot(self) -> dict[str, object]:
        """Every payment's amounts and status, and the orders they belong to (JSON-able)."""
        for payment in self.payments.values():
            self.expire(payment)
        return {
            "payments": {
                p.id: _payment_view(p, self.orders[p.order_id]) for p in self.payments.values()
            },
            "orders": {
                o.id: {
                    "receipt": o.receipt,
                    "amount": o.amount,
                    "currency": o.currency,
                    "status": o.status,
                    "payments": list(o.payment_ids),
                }
                for o in self.orders.values()
            },
            "refunds": {
                r.id: {"payment_id": r.payment_id, "amount": r.amount, "status": r.status}
                for r in self.refunds.values()
            },
        }


def _payment_view(payment: Payment, order: Order) -> dict[str, object]:
    return {
        "order_id": payment.order_id,
        "receipt": order.receipt,
        "currency": payment.currency,
        "card_last4": payment.card_last4,
        "status": payment.status,
        "authorized": payment.amount if payment.authorized_at is not None else 0,
        "captured": payment.amount if payment.captured else 0,
        "refunded": payment.amount_refunded,
        "auto_refunded": payment.auto_refunded,
        "fee": payment.fee,
        "error_reason": (payment.error or {}).get("reason"),
    }
