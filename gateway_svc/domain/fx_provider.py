"""What the gateway and an FX/payout provider say to each other, in the gateway's own terms.

The FX provider adapter (``gateway_svc.adapters.providers.currencycloud``) turns the
provider's wire protocol into these types, so the FX, beneficiary and payout use cases never
see a provider's JSON. Pure data: no I/O, no provider names in logic.

Money is integer minor units plus an ISO 4217 code, as everywhere. Rates are kept as the
decimal strings the provider quoted (``"1.4089"``): a rate is not money, and keeping the exact
digits lets a later check reproduce the provider's arithmetic.

Errors reuse ``gateway_svc.domain.providers``: ``ProviderError`` and its ``ErrorKind`` decide
retry and reconciliation exactly as for card providers. Two refinements::

    ProviderError                    (providers.py) kind, code, raw_code, sent ...
    +-- ProviderValidationError      the provider refused the request's fields; one
    |                                FieldViolation per bad field (kind INVALID, or
    |                                RETRIABLE when the refusal is temporary)
    +-- ProviderNotFound             the object the call names does not exist there
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError


class FixedSide(StrEnum):
    """Which amount of a conversion the client fixes; the provider prices the other."""

    BUY = "buy"
    SELL = "sell"


class PaymentType(StrEnum):
    """How a payout travels: the local bank network, or SWIFT."""

    REGULAR = "regular"
    PRIORITY = "priority"


class ConversionStatus(StrEnum):
    """Where a conversion stands at the provider."""

    AWAITING_FUNDS = "awaiting_funds"
    """Booked at its rate; the sold currency has not been taken yet."""
    FUNDS_SENT = "funds_sent"
    FUNDS_ARRIVED = "funds_arrived"
    """The sold currency is in; the bought currency will be delivered at settlement."""
    TRADE_SETTLED = "trade_settled"
    """Done: the bought currency is in the balance."""
    CLOSED = "closed"
    """Closed out (cancelled) by the provider."""


class PayoutStatus(StrEnum):
    """Where a payout stands at the provider."""

    PENDING = "pending"
    """Accepted, not yet sent to the bank network: it can still be cancelled."""
    SUBMITTED = "submitted"
    """Sent to the bank network: no longer cancelable, not yet final."""
    COMPLETED = "completed"
    FAILED = "failed"
    """Final: the money did not reach the beneficiary (``failure_reason`` says why)."""
    CANCELED = "canceled"


FINAL_PAYOUT_STATUSES = frozenset(
    {PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.CANCELED}
)


@dataclass(frozen=True, slots=True)
class RateQuote:
    """A priced rate request: what the client would buy and sell, and at which rate."""

    buy_currency: str
    sell_currency: str
    fixed_side: FixedSide
    buy_amount_minor: int
    sell_amount_minor: int
    client_rate: str
    """The rate the client gets, as quoted (quote currency units per base unit of
    ``currency_pair``)."""
    core_rate: str
    mid_market_rate: str
    currency_pair: str
    """Base then quote currency, in market convention (``GBPUSD``)."""
    settlement_cut_off: datetime | None
    """When funds must be in for the trade to settle on time."""
    deposit_required: bool = False
    deposit_amount_minor: int = 0
    deposit_currency: str = ""

    @property
    def client_rate_decimal(self) -> Decimal:
        """``client_rate`` as a Decimal (exact: it is parsed from the quoted digits)."""
        return Decimal(self.client_rate)


@dataclass(frozen=True, slots=True)
class ConversionTerms:
    """A conversion as the gateway asks for it."""

    buy_currency: str
    sell_currency: str
    fixed_side: FixedSide
    amount_minor: int
    """Of the fixed side's currency."""
    reason: str = ""

    @property
    def amount_currency(self) -> str:
        """The currency ``amount_minor`` counts."""
        return self.buy_currency if self.fixed_side is FixedSide.BUY else self.sell_currency


@dataclass(frozen=True, slots=True)
class ConversionView:
    """A conversion as the provider holds it."""

    provider_ref: str
    status: ConversionStatus
    raw_status: str
    buy_currency: str
    sell_currency: str
    fixed_side: FixedSide
    buy_amount_minor: int
    sell_amount_minor: int
    client_rate: str
    mid_market_rate: str
    currency_pair: str
    short_reference: str = ""
    unique_request_id: str = ""
    settlement_date: datetime | None = None
    conversion_date: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _masked(value: str) -> str:
    return f"...{value[-4:]}" if value else ""


@dataclass(frozen=True, slots=True, repr=False)
class BeneficiaryDetails:
    """A beneficiary's bank details as the gateway sends them. ``repr`` masks the account
    number and IBAN (last four only): bank details are personal data and must not reach logs.
    """

    name: str
    bank_account_holder_name: str
    bank_country: str
    """ISO 3166-1 alpha-2."""
    currency: str
    account_number: str = ""
    iban: str = ""
    bic_swift: str = ""
    routing_code_type_1: str = ""
    routing_code_value_1: str = ""
    routing_code_type_2: str = ""
    routing_code_value_2: str = ""
    beneficiary_entity_type: str = ""
    """``company`` or ``individual`` (empty: not given)."""
    beneficiary_company_name: str = ""
    beneficiary_first_name: str = ""
    beneficiary_last_name: str = ""
    beneficiary_address: str = ""
    beneficiary_city: str = ""
    beneficiary_postcode: str = ""
    beneficiary_state_or_province: str = ""
    beneficiary_country: str = ""
    email: str = ""
    payment_types: tuple[PaymentType, ...] = ()

    def __repr__(self) -> str:
        return (
            f"BeneficiaryDetails(name={self.name!r}, bank_country={self.bank_country!r},"
            f" currency={self.currency!r}, account={_masked(self.account_number or self.iban)!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class BeneficiaryView:
    """A beneficiary as the provider holds it (``provider_ref`` empty for a validation)."""

    provider_ref: str
    details: BeneficiaryDetails
    payment_types: tuple[PaymentType, ...]
    bank_name: str = ""
    created_at: datetime | None = None

    def __repr__(self) -> str:
        return f"BeneficiaryView(provider_ref={self.provider_ref!r}, details={self.details!r})"


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    """A payout as the gateway asks for it."""

    beneficiary_id: str
    """The provider's beneficiary id (``BeneficiaryView.provider_ref``)."""
    currency: str
    amount_minor: int
    reason: str
    reference: str
    payment_type: PaymentType = PaymentType.REGULAR
    conversion_id: str = ""
    """The conversion that funds it, when there is one."""


@dataclass(frozen=True, slots=True)
class PayoutView:
    """A payout as the provider holds it."""

    provider_ref: str
    status: PayoutStatus
    raw_status: str
    currency: str
    amount_minor: int
    beneficiary_id: str
    reference: str
    reason: str
    payment_type: PaymentType
    fee_amount_minor: int | None = None
    """The provider's fee in ``fee_currency``, when it reports one."""
    fee_currency: str = ""
    failure_reason: str = ""
    short_reference: str = ""
    unique_request_id: str = ""
    conversion_id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def cancelable(self) -> bool:
        """True while the provider may still cancel it."""
        return self.status is PayoutStatus.PENDING


class FieldViolation(NamedTuple):
    """One reason one field was refused."""

    field: str
    """The request field, in the gateway's names (``BeneficiaryDetails`` attributes, ``amount``
    ...), or ``""`` for the request as a whole."""
    code: str
    """The provider's own reason code (``iban_is_invalid``)."""
    message: str


class ProviderValidationError(ProviderError):
    """The provider refused the request's fields; ``violations`` says which and why."""

    def __init__(
        self,
        kind: ErrorKind,
        code: DeclineCode,
        message: str,
        violations: tuple[FieldViolation, ...],
        *,
        raw_code: str = "",
        http_status: int | None = None,
        retry_after_s: float | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(
            kind,
            code,
            message,
            raw_code=raw_code,
            http_status=http_status,
            retry_after_s=retry_after_s,
            sent=sent,
        )
        self.violations = violations

    def __repr__(self) -> str:
        fields = sorted({v.field for v in self.violations})
        return (
            f"ProviderValidationError({self.kind.value}, {self.code.value}, {self.message!r},"
            f" raw_code={self.raw_code!r}, fields={fields})"
        )

    def fields(self) -> dict[str, list[FieldViolation]]:
        """The violations grouped by field (one BadRequest field violation each)."""
        grouped: dict[str, list[FieldViolation]] = {}
        for violation in self.violations:
            grouped.setdefault(violation.field, []).append(violation)
        return grouped


class ProviderNotFound(ProviderError):
    """The object the call names does not exist at the provider (or was deleted)."""
