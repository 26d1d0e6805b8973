"""The Payout aggregate: money leaving a merchant's balance for one of its beneficiaries.

    PENDING (hold placed) --> SUBMITTED --> COMPLETED
       |                          |
       +--> CANCELED              +--> FAILED
       +--> FAILED                +--> CANCELED (only if the provider itself reports it)

A payout is checked against its beneficiary before anything happens (``check_new_payout``:
same currency, a payment type the beneficiary's details were validated for, a reason and a
reference). It starts PENDING: the ledger holds the amount from the merchant's balance, so a
payout beyond the available balance is refused before the provider is called. The merchant
may cancel it while it is PENDING and the provider still allows it (``ensure_cancelable``);
once SUBMITTED to the bank network it can no longer be recalled.

The provider's payment statuses move it, through ``PROVIDER_STATES``, the one table
(Currencycloud's words are mapped onto ``fx_provider.PayoutStatus`` by the adapter):

=========================================================  ===========  =================
Currencycloud                                              provider     ours
=========================================================  ===========  =================
new, awaiting_authorisation, authorised, ready_to_send,    PENDING      PENDING
suspended
submitted, released                                        SUBMITTED    SUBMITTED
completed                                                  COMPLETED    COMPLETED
failed                                                     FAILED       FAILED
deleted                                                    CANCELED     CANCELED
=========================================================  ===========  =================

A repeated or late view changes nothing; a view contradicting a final status raises
``ProviderViewConflict``. The fee the provider reports with completion is recorded (and
charged to the merchant by ``fx_postings``). Every change is kept in ``history``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from svc_kit.faults import FieldViolation

from . import errors
from . import fx_provider as fxp
from .bank_details import invalid
from .beneficiaries import Beneficiary
from .fx_provider import PaymentType, PayoutRequest, PayoutView
from .validation import amount_violations, text_violations

__all__ = [
    "FINAL",
    "MAX_REASON_LEN",
    "MAX_REFERENCE_LEN",
    "PROVIDER_STATES",
    "NewPayout",
    "Payout",
    "PayoutState",
    "PayoutTransition",
    "check_new_payout",
    "open_payout",
]

MAX_REASON_LEN = 255
MAX_REFERENCE_LEN = 255


class PayoutState(StrEnum):
    """Where a payout stands; see the module docstring."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


P = PayoutState
PROVIDER_STATES: Final[dict[fxp.PayoutStatus, PayoutState]] = {
    fxp.PayoutStatus.PENDING: P.PENDING,
    fxp.PayoutStatus.SUBMITTED: P.SUBMITTED,
    fxp.PayoutStatus.COMPLETED: P.COMPLETED,
    fxp.PayoutStatus.FAILED: P.FAILED,
    fxp.PayoutStatus.CANCELED: P.CANCELED,
}
FINAL: Final = frozenset({P.COMPLETED, P.FAILED, P.CANCELED})
_RANK: Final = {P.PENDING: 0, P.SUBMITTED: 1, P.COMPLETED: 2, P.FAILED: 2, P.CANCELED: 2}


@dataclass(frozen=True, slots=True)
class NewPayout:
    """A merchant's ``CreatePayout``. ``payment_type`` stays the string received."""

    merchant_id: str
    beneficiary_id: str
    amount_minor: int
    currency: str
    reason: str
    reference: str
    payment_type: str = PaymentType.REGULAR.value


@dataclass(frozen=True, slots=True)
class PayoutTransition:
    """One change of status, when it happened and why (``from_status`` None: created)."""

    from_status: PayoutState | None
    to_status: PayoutState
    at: datetime
    reason: str = ""


def check_new_payout(request: NewPayout, beneficiary: Beneficiary) -> PaymentType:
    """The payment type of a well-formed payout to ``beneficiary``, or one ValidationFailed
    with a violation per bad field. A beneficiary the merchant cannot see (another
    merchant's, or deleted) raises BeneficiaryNotFound first."""
    beneficiary.ensure_visible_to(request.merchant_id)
    v = amount_violations(request.amount_minor, request.currency, "amount")
    if not v and request.currency != beneficiary.currency:
        why = f"must be {beneficiary.currency}, the beneficiary's currency"
        v.append(FieldViolation("amount.currency_code", why))
    if not beneficiary.provider_ref:
        v.append(FieldViolation("beneficiary_id", "is not registered with the provider yet"))
    payment_type: PaymentType | None = None
    try:
        payment_type = PaymentType(request.payment_type)
    except ValueError:
        v.append(FieldViolation("payment_type", "must be regular or priority"))
    if payment_type is not None and not beneficiary.supports(payment_type):
        why = f"the beneficiary's bank details were not validated for {payment_type.value}"
        v.append(FieldViolation("payment_type", why))
    for name, value, limit in (
        ("reason", request.reason, MAX_REASON_LEN),
        ("reference", request.reference, MAX_REFERENCE_LEN),
    ):
        if value.strip():
            v += text_violations(name, value, limit)
        else:
            v.append(FieldViolation(name, "is required"))
    if v:
        raise invalid("invalid payout", v)
    assert payment_type is not None
    return payment_type


@dataclass
class Payout:
    """One payout. ``fee_minor`` is the provider's fee, known at completion."""

    id: str
    merchant_id: str
    beneficiary_id: str
    provider_beneficiary_id: str
    amount_minor: int
    currency: str
    reason: str
    reference: str
    payment_type: PaymentType
    created_at: datetime
    updated_at: datetime
    status: PayoutState = PayoutState.PENDING
    provider_ref: str = ""
    fee_minor: int | None = None
    fee_currency: str = ""
    failure_reason: str = ""
    history: list[PayoutTransition] = field(default_factory=list)
    version: int = 0

    @property
    def is_final(self) -> bool:
        """True once COMPLETED, FAILED or CANCELED."""
        return self.status in FINAL

    def error_metadata(self) -> dict[str, str]:
        """What an ErrorInfo about this payout carries."""
        return {
            "payout_id": self.id,
            "status": self.status.value,
            "currency": self.currency,
            "amount_minor": str(self.amount_minor),
        }

    def request(self) -> PayoutRequest:
        """What the provider port is asked to pay."""
        return PayoutRequest(
            beneficiary_id=self.provider_beneficiary_id,
            currency=self.currency,
            amount_minor=self.amount_minor,
            reason=self.reason,
            reference=self.reference,
            payment_type=self.payment_type,
        )

    def ensure_cancelable(self, view: PayoutView | None = None) -> None:
        """Refuse a cancel once submitted or final, or when the provider's latest ``view``
        says it can no longer cancel."""
        if self.status is not P.PENDING or (view is not None and not view.cancelable):
            where = view.raw_status if view is not None else self.status.value
            raise errors.PayoutNotCancelable(
                f"payout {self.id} is {where}: it can no longer be canceled",
                metadata=self.error_metadata(),
            )

    def cancel(
        self, now: datetime, reason: str = "canceled by the merchant"
    ) -> list[PayoutTransition]:
        """PENDING -> CANCELED, once the provider confirmed the cancel (or never had it)."""
        self.ensure_cancelable()
        return self._enter(P.CANCELED, now, reason)

    def fail(self, reason: str, now: datetime) -> list[PayoutTransition]:
        """The provider refused to create it: PENDING -> FAILED."""
        if self.status is not P.PENDING:
            raise errors.ProviderViewConflict(
                f"payout {self.id} is {self.status.value}: it cannot fail before submission",
                metadata=self.error_metadata(),
            )
        self.failure_reason = reason
        return self._enter(P.FAILED, now, reason)

    def apply_provider_view(self, view: PayoutView, now: datetime) -> list[PayoutTransition]:
        """Follow the provider's view; returns the transitions made (none for a repeat or a
        late view)."""
        self._check_view(view)
        known = bool(self.provider_ref)
        self.provider_ref = self.provider_ref or view.provider_ref
        target = PROVIDER_STATES[view.status]
        if target is self.status:
            return []
        # A view behind the status is a late poll, unless we ended the payout before the
        # provider ever reported it: then it exists there after all, and money may move.
        if _RANK[target] < _RANK[self.status] and (known or not self.is_final):
            return []
        if self.is_final:
            raise errors.ProviderViewConflict(
                f"payout {self.id} is {self.status.value}; the provider says {view.raw_status}",
                metadata={**self.error_metadata(), "provider_status": view.raw_status},
            )
        if target is P.COMPLETED and view.fee_amount_minor:
            self.fee_minor = view.fee_amount_minor
            self.fee_currency = view.fee_currency or self.currency
        if target is P.FAILED:
            self.failure_reason = view.failure_reason or view.raw_status
        return self._enter(target, now, view.raw_status)

    def _check_view(self, view: PayoutView) -> None:
        ours = (self.currency, self.amount_minor, self.provider_beneficiary_id)
        theirs = (view.currency, view.amount_minor, view.beneficiary_id)
        if ours != theirs or (self.provider_ref and view.provider_ref != self.provider_ref):
            raise errors.ProviderViewConflict(
                f"payout {self.id}: the provider's {view.provider_ref} has other terms",
                metadata={**self.error_metadata(), "provider_ref": view.provider_ref},
            )

    def _enter(self, target: PayoutState, now: datetime, reason: str) -> list[PayoutTransition]:
        change = PayoutTransition(self.status, target, now, reason)
        self.status = target
        self.updated_at = now
        self.history.append(change)
        self.version += 1
        return [change]


def open_payout(
    request: NewPayout, beneficiary: Beneficiary, payout_id: str, now: datetime
) -> Payout:
    """Validate a request and build its PENDING payout (the hold comes with it)."""
    payment_type = check_new_payout(request, beneficiary)
    return Payout(
        id=payout_id,
        merchant_id=request.merchant_id,
        beneficiary_id=beneficiary.id,
        provider_beneficiary_id=beneficiary.provider_ref,
        amount_minor=request.amount_minor,
        currency=request.currency,
        reason=request.reason.strip(),
        reference=request.reference.strip(),
        payment_type=payment_type,
        created_at=now,
        updated_at=now,
        history=[PayoutTransition(None, P.PENDING, now, "created")],
    )
