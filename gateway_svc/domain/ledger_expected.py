"""What the ledger's balances must be, computed from payments, refunds, conversions and payouts.

The reconciliation check reads every gateway account's four totals from the ledger and
compares them with ``expected_balances``. The formulas below are written out from the
posting rules in ``postings`` rather than by replaying its plans, so a mistake in a plan
shows up as a difference instead of being repeated on both sides.

Per merchant and currency (H: open authorization holds, C: captures, F: platform fees on
captures, P: provider fees, R: refunds that succeeded, Q: refunds still pending):

=============  ==============  ===============  ==============  ===============
account        debits posted   credits posted   debits pending  credits pending
=============  ==============  ===============  ==============  ===============
clearing       C               P + R            H               0
payable        F + R           C                Q               H
fees           0               F                0               0
provider_fees  P               0                0               0
refunds        R               R                0               Q
=============  ==============  ===============  ==============  ===============

A released hold (canceled, expired, or the uncaptured rest of a partial capture) and a failed
refund leave nothing: the ledger drops a hold's pending amounts when it is voided or posted.

Conversions and payouts (``fx_postings``), per conversion (S sold, B bought) and payout (A
paid, F its fee, in the fee's currency), by where their one ledger transaction stands:

======================  ===================  ====================  ==================
account                 HELD (pending)       POSTED                REVERSED
======================  ===================  ====================  ==================
payable(sell)           debits pending S     debits posted S       Dr S and Cr S
fx_position(sell)       credits pending S    credits posted S      Dr S and Cr S
fx_position(buy)        debits pending B     debits posted B       Dr B and Cr B
payable(buy)            credits pending B    credits posted B      Dr B and Cr B
payable (payout)        debits pending A     debits posted A (+F)  -
payout_clearing         credits pending A    credits posted A      -
payout_fees             -                    credits posted F      -
======================  ===================  ====================  ==================

RELEASED (voided, or never held) leaves nothing. Every account of the books a conversion or
payout touches appears (zeros included), the FX accounts with the chart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .conversions import BOOKED, Conversion, ConversionState
from .fx_postings import fx_position_code, payout_clearing_code, payout_fees_code
from .ledger_accounts import AccountRole, Books
from .payouts import Payout, PayoutState
from .postings import FeeSchedule
from .providers import RefundStatus

__all__ = [
    "AccountTotals",
    "ConversionFacts",
    "HoldStage",
    "PaymentFacts",
    "PayoutFacts",
    "RefundFacts",
    "TransactionStage",
    "conversion_facts",
    "expected_balances",
    "payout_facts",
]


class HoldStage(StrEnum):
    """Where a payment's money stands in the ledger."""

    HELD = "held"
    """Authorized for manual capture; the hold is pending."""
    CAPTURED = "captured"
    """Captured (manually or automatically): ``captured_minor`` is posted."""
    RELEASED = "released"
    """Canceled, expired, failed or never authorized: nothing is held or posted."""


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """What the gateway knows about one payment, as far as the ledger is concerned."""

    payment_id: str
    merchant_id: str
    currency: str
    stage: HoldStage
    authorized_minor: int
    captured_minor: int = 0
    provider_fee_minor: int = 0


@dataclass(frozen=True, slots=True)
class RefundFacts:
    """One refund of a captured payment."""

    refund_id: str
    merchant_id: str
    currency: str
    amount_minor: int
    status: RefundStatus


class TransactionStage(StrEnum):
    """Where a conversion's or payout's one ledger transaction stands."""

    HELD = "held"
    POSTED = "posted"
    RELEASED = "released"
    """Voided, or never held (the ledger refused the hold)."""
    REVERSED = "reversed"
    """Posted, then reversed (a conversion the provider closed after booking)."""


@dataclass(frozen=True, slots=True)
class ConversionFacts:
    """What the gateway knows about one conversion, as far as the ledger is concerned."""

    conversion_id: str
    merchant_id: str
    sell_currency: str
    sell_minor: int
    buy_currency: str
    buy_minor: int
    stage: TransactionStage


@dataclass(frozen=True, slots=True)
class PayoutFacts:
    """What the gateway knows about one payout; ``fee_minor`` in ``fee_currency``."""

    payout_id: str
    merchant_id: str
    currency: str
    amount_minor: int
    stage: TransactionStage
    fee_minor: int = 0
    fee_currency: str = ""


def conversion_facts(c: Conversion) -> ConversionFacts:
    """A conversion's facts (a PENDING one is taken as held: its hold precedes the call)."""
    booked = c.was_booked
    if c.status is ConversionState.FAILED:
        stage = TransactionStage.REVERSED if booked else TransactionStage.RELEASED
    else:
        stage = TransactionStage.POSTED if c.status in BOOKED else TransactionStage.HELD
    return ConversionFacts(c.id, c.merchant_id, c.sell_currency, c.sell_amount_minor,
                           c.buy_currency, c.buy_amount_minor, stage)  # fmt: skip


def payout_facts(p: Payout) -> PayoutFacts:
    """A payout's facts: held until final, posted (with its fee) once completed."""
    stage = {
        PayoutState.PENDING: TransactionStage.HELD,
        PayoutState.SUBMITTED: TransactionStage.HELD,
        PayoutState.COMPLETED: TransactionStage.POSTED,
    }.get(p.status, TransactionStage.RELEASED)
    fee = (p.fee_minor or 0) if stage is TransactionStage.POSTED else 0
    return PayoutFacts(p.id, p.merchant_id, p.currency, p.amount_minor, stage, fee,
                       p.fee_currency or p.currency)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AccountTotals:
    """An account's four running totals, the ledger's own model (TigerBeetle's)."""

    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    def plus(self, other: AccountTotals) -> AccountTotals:
        """Element-wise sum."""
        return AccountTotals(
            self.debits_posted + other.debits_posted,
            self.credits_posted + other.credits_posted,
            self.debits_pending + other.debits_pending,
            self.credits_pending + other.credits_pending,
        )

    def posted(self, role: AccountRole) -> int:
        """The posted balance, positive on the account's normal side."""
        net = self.debits_posted - self.credits_posted
        return net if role.type.debit_normal else -net


def _payment_totals(
    payment: PaymentFacts, schedule: FeeSchedule
) -> dict[AccountRole, AccountTotals]:
    out: dict[AccountRole, AccountTotals] = {}
    if payment.stage is HoldStage.HELD:
        out[AccountRole.CLEARING] = AccountTotals(debits_pending=payment.authorized_minor)
        out[AccountRole.PAYABLE] = AccountTotals(credits_pending=payment.authorized_minor)
    elif payment.stage is HoldStage.CAPTURED and payment.captured_minor > 0:
        captured = payment.captured_minor
        fee = schedule.fee_minor(captured)
        out[AccountRole.CLEARING] = AccountTotals(debits_posted=captured)
        out[AccountRole.PAYABLE] = AccountTotals(debits_posted=fee, credits_posted=captured)
        out[AccountRole.FEES] = AccountTotals(credits_posted=fee)
    if payment.provider_fee_minor:
        fee_p = payment.provider_fee_minor
        out[AccountRole.PROVIDER_FEES] = AccountTotals(debits_posted=fee_p)
        clearing = out.get(AccountRole.CLEARING, AccountTotals())
        out[AccountRole.CLEARING] = clearing.plus(AccountTotals(credits_posted=fee_p))
    return out


def _refund_totals(refund: RefundFacts) -> dict[AccountRole, AccountTotals]:
    amount = refund.amount_minor
    if refund.status is RefundStatus.PENDING:
        return {
            AccountRole.PAYABLE: AccountTotals(debits_pending=amount),
            AccountRole.REFUNDS: AccountTotals(credits_pending=amount),
        }
    if refund.status is RefundStatus.SUCCEEDED:
        return {
            AccountRole.PAYABLE: AccountTotals(debits_posted=amount),
            AccountRole.REFUNDS: AccountTotals(debits_posted=amount, credits_posted=amount),
            AccountRole.CLEARING: AccountTotals(credits_posted=amount),
        }
    return {}


def _leg(stage: TransactionStage, debit: bool, amount: int) -> AccountTotals:
    """One entry of a transaction at ``stage``: a debit or credit of ``amount``."""
    if stage is TransactionStage.HELD:
        return AccountTotals(debits_pending=amount if debit else 0,
                             credits_pending=0 if debit else amount)  # fmt: skip
    if stage is TransactionStage.POSTED:
        return AccountTotals(debits_posted=amount if debit else 0,
                             credits_posted=0 if debit else amount)  # fmt: skip
    if stage is TransactionStage.REVERSED:
        return AccountTotals(debits_posted=amount, credits_posted=amount)
    return AccountTotals()


def _fx_totals(
    conversions: Iterable[ConversionFacts], payouts: Iterable[PayoutFacts]
) -> tuple[dict[str, AccountTotals], set[Books]]:
    """The FX accounts' totals (see the module docstring) and every books touched."""
    out: dict[str, AccountTotals] = defaultdict(AccountTotals)
    seen: set[Books] = set()
    for c in conversions:
        sell, buy = Books(c.merchant_id, c.sell_currency), Books(c.merchant_id, c.buy_currency)
        seen |= {sell, buy}
        for code, debit, amount in (
            (sell.code(AccountRole.PAYABLE), True, c.sell_minor),
            (fx_position_code(c.sell_currency), False, c.sell_minor),
            (fx_position_code(c.buy_currency), True, c.buy_minor),
            (buy.code(AccountRole.PAYABLE), False, c.buy_minor),
        ):
            out[code] = out[code].plus(_leg(c.stage, debit, amount))
    for p in payouts:
        books = Books(p.merchant_id, p.currency)
        seen.add(books)
        payable = books.code(AccountRole.PAYABLE)
        out[payable] = out[payable].plus(_leg(p.stage, True, p.amount_minor))
        clearing = payout_clearing_code(books)
        out[clearing] = out[clearing].plus(_leg(p.stage, False, p.amount_minor))
        if p.fee_minor:
            fee_books = Books(p.merchant_id, p.fee_currency or p.currency)
            seen.add(fee_books)
            posted = TransactionStage.POSTED
            fee_payable, fees = fee_books.code(AccountRole.PAYABLE), payout_fees_code(fee_books)
            out[fee_payable] = out[fee_payable].plus(_leg(posted, True, p.fee_minor))
            out[fees] = out[fees].plus(_leg(posted, False, p.fee_minor))
    return out, seen


def expected_balances(
    payments: Iterable[PaymentFacts],
    refunds: Iterable[RefundFacts],
    fee_schedules: Mapping[str, FeeSchedule] | None = None,
    *,
    conversions: Iterable[ConversionFacts] = (),
    payouts: Iterable[PayoutFacts] = (),
) -> dict[str, AccountTotals]:
    """Every gateway account's expected totals, by account code.

    ``fee_schedules`` maps a merchant id to its platform fee (absent: no fee). All five
    accounts of every merchant and currency seen appear, zero ones included, so a ledger
    account with an unexplained balance stands out; so do the FX accounts of the books a
    conversion or payout touched.
    """
    fee_schedules = fee_schedules or {}
    totals: dict[str, AccountTotals] = defaultdict(AccountTotals)
    per_books: list[tuple[Books, dict[AccountRole, AccountTotals]]] = [
        (
            Books(p.merchant_id, p.currency),
            _payment_totals(p, fee_schedules.get(p.merchant_id, FeeSchedule())),
        )
        for p in payments
    ]
    per_books.extend((Books(r.merchant_id, r.currency), _refund_totals(r)) for r in refunds)
    for books, by_role in per_books:
        for role in AccountRole:
            code = books.code(role)
            totals[code] = totals[code].plus(by_role.get(role, AccountTotals()))
    fx, touched = _fx_totals(conversions, payouts)
    for books in touched:
        for code in (
            *(books.code(role) for role in AccountRole),
            payout_clearing_code(books),
            payout_fees_code(books),
            fx_position_code(books.currency),
        ):
            totals[code] = totals[code].plus(AccountTotals())
    for code, more in fx.items():
        totals[code] = totals[code].plus(more)
    return dict(totals)
