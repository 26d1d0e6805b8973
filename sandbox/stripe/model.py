"""The simulated Stripe account's objects, as plain mutable records in one in-memory store.

Amounts are Stripe wire integers (see sandbox.stripe.money). One invariant holds for every
charge and is asserted where amounts move::

    amount_captured + released <= amount,   refunded <= amount_captured

``released`` is the authorized amount given back without being captured (the rest of a partial
capture, or a canceled authorization). Stripe reports it inside ``amount_refunded`` (a partial
capture "refunds" the remainder), so ``amount_refunded = released + refunded``.

The server is one asyncio thread and the handlers never await between reading and writing a
record, so no locks are needed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from sandbox.stripe.errors import DeclineSpec

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_CHARS = 24


def new_id(prefix: str) -> str:
    """A Stripe-looking id (``pi_``, ``ch_``, ``re_`` ... and 24 base62 characters)."""
    number = int.from_bytes(os.urandom(18), "big")
    chars = []
    for _ in range(_ID_CHARS):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return f"{prefix}_{''.join(chars)}"


def now() -> int:
    """Unix seconds, as Stripe's ``created`` fields."""
    return int(time.time())


@dataclass(slots=True)
class CardMethod:
    """A card PaymentMethod (``pm_...``): brand, last 4 and expiry only, never the number."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    behaviour: str
    """What authorizing it does: ``success``, ``3ds`` or a key of errors.DECLINES."""
    created: int
    fingerprint: str
    funding: str = "credit"
    country: str = "US"


@dataclass(slots=True)
class BalanceTransaction:
    """The money movement behind a capture or refund, carrying Stripe's fee."""

    id: str
    amount: int
    currency: str
    fee: int
    type: str
    source: str
    created: int


@dataclass(slots=True)
class Charge:
    """One attempt to move money for a PaymentIntent (``ch_...``)."""

    id: str
    intent_id: str
    amount: int
    currency: str
    payment_method: str
    created: int
    status: str
    """succeeded (authorized, perhaps captured) or failed."""
    description: str | None = None
    failure: DeclineSpec | None = None
    three_d_secure: bool = False
    captured: bool = False
    amount_captured: int = 0
    released: int = 0
    refunded: int = 0
    balance_transaction: str | None = None
    refund_ids: list[str] = field(default_factory=list)

    @property
    def amount_refunded(self) -> int:
        """What Stripe shows: released authorization plus refunds."""
        return self.released + self.refunded

    @property
    def refundable(self) -> int:
        """What refunds may still take back."""
        return self.amount_captured - self.refunded

    def check(self) -> None:
        """The amounts invariant (module docstring)."""
        assert self.amount_captured >= 0 and self.released >= 0, self.id
        assert self.amount_captured + self.released <= self.amount, self.id
        assert 0 <= self.refunded <= self.amount_captured, self.id


@dataclass(slots=True)
class Intent:
    """A PaymentIntent (``pi_...``)."""

    id: str
    amount: int
    currency: str
    capture_method: str
    created: int
    client_secret: str
    metadata: dict[str, str]
    description: str | None = None
    status: str = "requires_payment_method"
    confirmation_method: str = "automatic"
    amount_capturable: int = 0
    amount_received: int = 0
    payment_method: str | None = None
    latest_charge: str | None = None
    last_payment_error: dict[str, object] | None = None
    next_action: dict[str, object] | None = None
    return_url: str | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    statement_descriptor: str | None = None
    statement_descriptor_suffix: str | None = None
    receipt_email: str | None = None


@dataclass(slots=True)
class Refund:
    """A refund (``re_...``) of part or all of a captured charge."""

    id: str
    charge_id: str
    intent_id: str
    amount: int
    currency: str
    reason: str | None
    status: str
    created: int
    metadata: dict[str, str]
    balance_transaction: str | None
    failure_reason: str | None = None
    """Why a ``failed`` refund failed (the refundFail test card's refunds)."""


class Store:
    """Every object of the simulated account, by id, plus the metadata index search uses."""

    def __init__(self) -> None:
        self.intents: dict[str, Intent] = {}
        self.charges: dict[str, Charge] = {}
        self.refunds: dict[str, Refund] = {}
        self.methods: dict[str, CardMethod] = {}
        self.balance: dict[str, BalanceTransaction] = {}
        self.by_metadata: dict[tuple[str, str], list[str]] = {}

    def add_intent(self, intent: Intent) -> None:
        """Keep a new PaymentIntent and index its metadata for the Search API."""
        self.intents[intent.id] = intent
        for pair in intent.metadata.items():
            self.by_metadata.setdefault(pair, []).append(intent.id)

    def update_metadata(self, intent: Intent, changes: dict[str, str]) -> None:
        """Merge ``changes`` into an intent's metadata (an empty value removes the key)."""
        for key, value in changes.items():
            old = intent.metadata.pop(key, None)
            if old is not None:
                ids = self.by_metadata.get((key, old), [])
                if intent.id in ids:
                    ids.remove(intent.id)
            if value:
                intent.metadata[key] = value
                self.by_metadata.setdefault((key, value), []).append(intent.id)

    def add_balance(
        self, amount: int, currency: str, fee: int, kind: str, source: str
    ) -> BalanceTransaction:
        """Record a money movement and return it."""
        txn = BalanceTransaction(new_id("txn"), amount, currency, fee, kind, source, now())
        self.balance[txn.id] = txn
        return txn

    def clear(self) -> None:
        """Forget everything."""
        self.intents.clear()
        self.charges.clear()
        self.refunds.clear()
        self.methods.clear()
        self.balance.clear()
        self.by_metadata.clear()
