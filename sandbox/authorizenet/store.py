"""The simulated merchant account: its transactions and the duplicate-transaction window.

Authorize.net has no idempotency key. What it has instead is the duplicate window: a
transaction identical to one submitted less than ``duplicateWindow`` seconds earlier (default
120, at most 28800) is refused with response code 3, reason 11 "A duplicate transaction has been
submitted." Identical means the same transaction type, card, amount, currency, invoice number
and billing ZIP (the fields the gateway compares, as documented in its "Error 11" support
article). A caller that sends a unique invoice number per operation therefore gets safe
retries: repeating an operation inside the window never creates a second transaction. Both
approved and declined transactions occupy the window; requests refused before reaching the
processor (transId "0") do not.

Concurrency: the server is one asyncio thread and nothing here awaits, so the check and the
insert of a transaction happen in one step; two concurrent identical requests cannot both pass.

No card number is kept: the duplicate key holds a SHA-256 of it, and a transaction keeps the
last four digits and the brand, as Authorize.net's own reports do.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_DUPLICATE_WINDOW_S = 120
MAX_DUPLICATE_WINDOW_S = 28800
_FIRST_TRANS_ID = 40_000_000_001
_PRUNE_EVERY = 4096

AUTH_ONLY = "authOnlyTransaction"
AUTH_CAPTURE = "authCaptureTransaction"
PRIOR_AUTH_CAPTURE = "priorAuthCaptureTransaction"
VOID = "voidTransaction"
REFUND = "refundTransaction"

AUTHORIZED = "authorizedPendingCapture"
CAPTURED = "capturedPendingSettlement"
VOIDED = "voided"
DECLINED = "declined"
HELD = "FDSPendingReview"
REFUND_PENDING = "refundPendingSettlement"
AWAITING_PAYER = "pendingPayerConsent"
"""Not one of the XSD's transactionStatusEnum words: the real API has no card transaction
waiting for a payer. The sandbox uses it for the 3DS test card (see sandbox.authorizenet)."""


@dataclass(slots=True)
class Transaction:
    """One transaction as the merchant account holds it (amounts in minor units)."""

    trans_id: str
    transaction_type: str
    status: str
    response_code: int
    reason_code: int
    currency: str
    auth_minor: int
    settle_minor: int
    last4: str
    card_type: str
    invoice_number: str
    description: str
    auth_code: str
    zip_code: str
    submitted_utc: datetime
    ref_trans_id: str = ""
    refunded_minor: int = 0


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    """What makes two transactions identical for the duplicate window."""

    transaction_type: str
    card_digest: str
    amount_minor: int
    currency: str
    invoice_number: str
    zip_code: str
    ref_trans_id: str = ""


def card_digest(number: str) -> str:
    """A stand-in for the card number in duplicate keys, so the number itself is not kept."""
    return hashlib.sha256(number.encode()).hexdigest()


def clamp_window(raw: str | None) -> int:
    """Authorize.net's rules for ``duplicateWindow``: absent or negative -> 120, capped at
    28800, and anything unparsable treated as absent."""
    if raw is None:
        return DEFAULT_DUPLICATE_WINDOW_S
    try:
        seconds = int(raw)
    except ValueError:
        return DEFAULT_DUPLICATE_WINDOW_S
    if seconds < 0:
        return DEFAULT_DUPLICATE_WINDOW_S
    return min(seconds, MAX_DUPLICATE_WINDOW_S)


class Store:
    """Transactions by id, in submission order, plus the duplicate window's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ids = itertools.count(_FIRST_TRANS_ID)
        self.transactions: dict[str, Transaction] = {}
        self._recent: dict[DuplicateKey, tuple[float, str]] = {}
        self._since_prune = 0

    def next_id(self) -> str:
        """A fresh transId (numeric, like the real ones)."""
        return str(next(self._ids))

    def get(self, trans_id: str) -> Transaction | None:
        """The transaction with this id, if any."""
        return self.transactions.get(trans_id)

    def add(self, transaction: Transaction, key: DuplicateKey | None) -> None:
        """Record a transaction, and its duplicate key when it occupies the window."""
        self.transactions[transaction.trans_id] = transaction
        if key is not None:
            self._recent[key] = (self._clock(), transaction.trans_id)
            self._since_prune += 1
            if self._since_prune >= _PRUNE_EVERY:
                self._prune()

    def duplicate_of(self, key: DuplicateKey, window_s: int) -> Transaction | None:
        """The earlier identical transaction still inside ``window_s``, if any."""
        if window_s <= 0:
            return None
        seen = self._recent.get(key)
        if seen is None or self._clock() - seen[0] >= window_s:
            return None
        return self.transactions.get(seen[1])

    def newest_first(self) -> Iterator[Transaction]:
        """Every transaction, most recent first."""
        return reversed(self.transactions.values())

    def reset(self) -> None:
        """Forget every transaction and every duplicate key (ids keep counting up, so an id
        handed out before a reset never names a different transaction after it)."""
        self.transactions.clear()
        self._recent.clear()

    def _prune(self) -> None:
        now = self._clock()
        self._recent = {
            key: seen
            for key, seen in self._recent.items()
            if now - seen[0] < MAX_DUPLICATE_WINDOW_S
        }
        self._since_prune = 0


def utc_now() -> datetime:
    """The submission time recorded on a transaction."""
    return datetime.now(UTC)
