"""What the ledger's balances must be, computed from payments and refunds alone.

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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .ledger_accounts import AccountRole, Books
from .postings import FeeSchedule
from .providers import RefundStatus

__all__ = ["AccountTotals", "HoldStage", "PaymentFacts", "RefundFacts", "expected_balances"]


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


def expected_balances(
    payments: Iterable[PaymentFacts],
    refunds: Iterable[RefundFacts],
    fee_schedules: Mapping[str, FeeSchedule] | None = None,
) -> dict[str, AccountTotals]:
    """Every gateway account's expected totals, by account code.

    ``fee_schedules`` maps a merchant id to its platform fee (absent: no fee). All five
    accounts of every merchant and currency seen appear, zero ones included, so a ledger
    account with an unexplained balance stands out.
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
    return dict(totals)
