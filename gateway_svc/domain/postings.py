"""The ledger postings each payment event makes: one posting plan per event.

The accounts are ``ledger_accounts.chart_of_accounts``: clearing (ASSET), payable
(LIABILITY, never negative), fees (REVENUE), provider_fees (EXPENSE), refunds (LIABILITY).

Plans, one per event (each a pure value the service layer sends to the ledger):

- authorization (manual capture): PENDING Dr clearing / Cr payable, the authorized amount,
  timing out after ``hold_timeout_s`` (the provider's authorization window plus a day, so
  the ledger never expires a hold the provider still honours);
- capture: post the hold with the captured amount; the ledger releases the rest;
- automatic capture: one POSTED Dr clearing / Cr payable;
- platform fee on capture (``FeeSchedule``, default zero): POSTED Dr payable / Cr fees;
- cancel: void the hold;
- refund PENDING: PENDING Dr payable / Cr refunds, so the merchant's available balance drops
  at once and the payable flag refuses a refund the merchant's balance cannot cover;
- refund SUCCEEDED: post that hold, then POSTED Dr refunds / Cr clearing (money left the
  provider); refund FAILED: void the hold;
- provider fee reported: POSTED Dr provider_fees / Cr clearing.

Every command carries a deterministic ``request_id`` built from the event, so a retried
posting is recognised by the ledger and never posted twice:

- ``<payment_id>:authorize:hold``, ``<payment_id>:capture`` (post of the hold),
  ``<payment_id>:capture:auto``, ``<payment_id>:capture:fee``, ``<payment_id>:cancel:void``,
  ``<payment_id>:provider_fee``;
- ``<refund_id>:refund:hold``, ``<refund_id>:refund:post``, ``<refund_id>:refund:settle``,
  ``<refund_id>:refund:void``.

Payment and refund ids have different prefixes, so ids never collide across events. Post and
void name their hold by the hold's request id; the service layer keeps the ledger transaction
id the hold returned. Legs name accounts by code; the service layer resolves codes to ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from .ledger_accounts import AccountRole, Books

__all__ = [
    "DEFAULT_HOLD_MARGIN_S",
    "DEFAULT_HOLD_TIMEOUT_S",
    "CreateTransactionPlan",
    "FeeSchedule",
    "LedgerPlan",
    "Leg",
    "PostTransactionPlan",
    "Side",
    "VoidTransactionPlan",
    "hold_timeout_s",
    "plan_authorization_hold",
    "plan_automatic_capture",
    "plan_cancel",
    "plan_capture",
    "plan_capture_with_fee",
    "plan_platform_fee",
    "plan_provider_fee",
    "plan_refund_failed",
    "plan_refund_hold",
    "plan_refund_succeeded",
]

DAY_S = 86400.0
DEFAULT_HOLD_MARGIN_S = DAY_S
DEFAULT_HOLD_TIMEOUT_S = 7 * DAY_S + DEFAULT_HOLD_MARGIN_S
"""Stripe's 7-day authorization window plus the margin: used when the provider is unknown."""
MAX_HOLD_TIMEOUT_S = 366 * DAY_S  # the ledger's limit on pending_timeout
MAX_AMOUNT_MINOR = 10**15  # the ledger's limit on one entry
_REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


class Side(StrEnum):
    """Debit or credit."""

    DEBIT = "DEBIT"
    CREDIT = "CREDIT"


@dataclass(frozen=True, slots=True)
class Leg:
    """One entry of a planned transaction; the account is named by code."""

    account_code: str
    side: Side
    amount_minor: int


@dataclass(frozen=True, slots=True)
class CreateTransactionPlan:
    """A ``CreateTransaction``: posted at once, or held as pending with a timeout."""

    request_id: str
    currency: str
    legs: tuple[Leg, ...]
    description: str
    pending: bool = False
    pending_timeout_s: float | None = None
    external_ref: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Asserted here so a plan that would not balance never leaves the domain.
        _check_request_id(self.request_id)
        debits = sum(leg.amount_minor for leg in self.legs if leg.side is Side.DEBIT)
        credits = sum(leg.amount_minor for leg in self.legs if leg.side is Side.CREDIT)
        assert len(self.legs) >= 2 and debits == credits, f"unbalanced plan {self.request_id}"
        assert all(0 < leg.amount_minor <= MAX_AMOUNT_MINOR for leg in self.legs)
        assert self.pending or self.pending_timeout_s is None


@dataclass(frozen=True, slots=True)
class PostTransactionPlan:
    """A ``PostTransaction`` of the hold created with ``hold_request_id``."""

    request_id: str
    hold_request_id: str
    amount_minor: int | None = None
    """None posts the full hold; otherwise at most the held amount, the rest released."""

    def __post_init__(self) -> None:
        _check_request_id(self.request_id)
        assert self.amount_minor is None or self.amount_minor > 0


@dataclass(frozen=True, slots=True)
class VoidTransactionPlan:
    """A ``VoidTransaction`` of the hold created with ``hold_request_id``."""

    request_id: str
    hold_request_id: str

    def __post_init__(self) -> None:
        _check_request_id(self.request_id)


LedgerPlan = CreateTransactionPlan | PostTransactionPlan | VoidTransactionPlan


def _check_request_id(request_id: str) -> None:
    if not _REQUEST_ID_RE.match(request_id):
        raise ValueError(f"request id {request_id!r} is not 1 to 128 printable ASCII characters")


def _amount(amount_minor: int) -> int:
    if isinstance(amount_minor, bool) or not 0 < amount_minor <= MAX_AMOUNT_MINOR:
        raise ValueError(f"amount must be 1 to {MAX_AMOUNT_MINOR} minor units: {amount_minor}")
    return amount_minor


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A merchant's platform fee per capture: ``bps`` of the amount plus ``fixed_minor``."""

    bps: int = 0
    fixed_minor: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.bps <= 10_000 or self.fixed_minor < 0:
            raise ValueError("fee bps must be 0 to 10000 and the fixed fee not negative")

    def fee_minor(self, captured_minor: int) -> int:
        """The fee on ``captured_minor``: rounded half up, never more than the capture.

        Capped so the fee can never take the merchant's payable below what the capture
        credited, which the ledger's flag would refuse anyway.
        """
        fee = (captured_minor * self.bps + 5_000) // 10_000 + self.fixed_minor
        return min(fee, captured_minor)


def hold_timeout_s(auth_window_s: float, margin_s: float = DEFAULT_HOLD_MARGIN_S) -> float:
    """The ledger hold's timeout for a provider honouring authorizations ``auth_window_s``."""
    return min(auth_window_s + margin_s, MAX_HOLD_TIMEOUT_S)


def _move(
    request_id: str,
    books: Books,
    debit: AccountRole,
    credit: AccountRole,
    amount: int,
    what: str,
    *,
    pending: bool = False,
    timeout_s: float | None = None,
) -> CreateTransactionPlan:
    return CreateTransactionPlan(
        request_id=request_id,
        currency=books.currency,
        legs=(
            Leg(books.code(debit), Side.DEBIT, amount),
            Leg(books.code(credit), Side.CREDIT, amount),
        ),
        description=what,
        pending=pending,
        pending_timeout_s=timeout_s,
        # The payment or refund id: how a finance user finds the transactions of a payment.
        external_ref=request_id.split(":", 1)[0],
    )


def plan_authorization_hold(
    books: Books,
    payment_id: str,
    amount_minor: int,
    pending_timeout_s: float = DEFAULT_HOLD_TIMEOUT_S,
) -> CreateTransactionPlan:
    """Manual capture authorized: hold Dr clearing / Cr payable until capture or cancel."""
    return _move(
        f"{payment_id}:authorize:hold",
        books,
        AccountRole.CLEARING,
        AccountRole.PAYABLE,
        _amount(amount_minor),
        f"authorization hold {payment_id}",
        pending=True,
        timeout_s=min(pending_timeout_s, MAX_HOLD_TIMEOUT_S),
    )


def plan_capture(payment_id: str, captured_minor: int) -> PostTransactionPlan:
    """Capture of a held authorization: post ``captured_minor``; the ledger releases the rest."""
    return PostTransactionPlan(
        f"{payment_id}:capture", f"{payment_id}:authorize:hold", _amount(captured_minor)
    )


def plan_automatic_capture(
    books: Books, payment_id: str, captured_minor: int
) -> CreateTransactionPlan:
    """Automatic capture: one posted Dr clearing / Cr payable, no hold."""
    return _move(
        f"{payment_id}:capture:auto",
        books,
        AccountRole.CLEARING,
        AccountRole.PAYABLE,
        _amount(captured_minor),
        f"capture {payment_id}",
    )


def plan_platform_fee(
    books: Books, payment_id: str, captured_minor: int, schedule: FeeSchedule
) -> CreateTransactionPlan | None:
    """The platform's fee on a capture, Dr payable / Cr fees; None when the fee is zero."""
    fee = schedule.fee_minor(_amount(captured_minor))
    if fee == 0:
        return None
    return _move(
        f"{payment_id}:capture:fee",
        books,
        AccountRole.PAYABLE,
        AccountRole.FEES,
        fee,
        f"platform fee {payment_id}",
    )


def plan_capture_with_fee(
    books: Books, payment_id: str, captured_minor: int, schedule: FeeSchedule, *, held: bool
) -> tuple[LedgerPlan, ...]:
    """Everything a capture posts, in order: the capture (post of the hold when ``held``,
    else the automatic posting), then the platform fee if any."""
    first: LedgerPlan = (
        plan_capture(payment_id, captured_minor)
        if held
        else plan_automatic_capture(books, payment_id, captured_minor)
    )
    fee = plan_platform_fee(books, payment_id, captured_minor, schedule)
    return (first,) if fee is None else (first, fee)


def plan_cancel(payment_id: str) -> VoidTransactionPlan:
    """A canceled authorization: void the hold."""
    return VoidTransactionPlan(f"{payment_id}:cancel:void", f"{payment_id}:authorize:hold")


def plan_refund_hold(books: Books, refund_id: str, amount_minor: int) -> CreateTransactionPlan:
    """A refund in flight: hold Dr payable / Cr refunds, with no timeout (the provider decides,
    however long it takes; the reconciler resolves it)."""
    return _move(
        f"{refund_id}:refund:hold",
        books,
        AccountRole.PAYABLE,
        AccountRole.REFUNDS,
        _amount(amount_minor),
        f"refund hold {refund_id}",
        pending=True,
    )


def plan_refund_succeeded(
    books: Books, refund_id: str, amount_minor: int
) -> tuple[PostTransactionPlan, CreateTransactionPlan]:
    """A refund that left the provider: post its hold, then Dr refunds / Cr clearing."""
    return (
        PostTransactionPlan(f"{refund_id}:refund:post", f"{refund_id}:refund:hold"),
        _move(
            f"{refund_id}:refund:settle",
            books,
            AccountRole.REFUNDS,
            AccountRole.CLEARING,
            _amount(amount_minor),
            f"refund paid {refund_id}",
        ),
    )


def plan_refund_failed(refund_id: str) -> VoidTransactionPlan:
    """A refund the provider refused: void its hold, the merchant's balance is whole again."""
    return VoidTransactionPlan(f"{refund_id}:refund:void", f"{refund_id}:refund:hold")


def plan_provider_fee(
    books: Books, payment_id: str, fee_minor: int
) -> CreateTransactionPlan | None:
    """The provider's fee on a payment, Dr provider_fees / Cr clearing; None for no fee.

    One per payment: a second, different report for the same payment reuses the request id
    and the ledger refuses it (REQUEST_ID_REUSED), which the service layer logs for review.
    """
    if fee_minor == 0:
        return None
    return _move(
        f"{payment_id}:provider_fee",
        books,
        AccountRole.PROVIDER_FEES,
        AccountRole.CLEARING,
        _amount(fee_minor),
        f"provider fee {payment_id}",
    )
