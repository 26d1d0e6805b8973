"""A merchant's beneficiaries: who payouts go to, with bank details checked and normalized.

A beneficiary is validated in full (``check_new_beneficiary``: names, entity type, payment
types and every bank detail, one violation per bad field) before the provider sees it, both
for ``ValidateBeneficiary`` (nothing stored) and ``CreateBeneficiary``. Once created it is
bound to the provider's id; deleting it is soft (``deleted_at``), and a deleted beneficiary is
as invisible as another merchant's: ``BeneficiaryNotFound``, so ids cannot be probed.

Bank details are personal data: ``repr`` and every display show the account's last four
characters only (``masked_account``); the full details go to the provider and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from svc_kit.faults import FieldViolation

from . import errors
from .bank_details import BankDetails, BankDetailsInput, bank_details_violations, invalid, mask
from .fx_provider import BeneficiaryDetails, PaymentType
from .validation import text_violations

__all__ = [
    "MAX_HOLDER_NAME_LEN",
    "MAX_NAME_LEN",
    "Beneficiary",
    "EntityType",
    "NewBeneficiary",
    "check_new_beneficiary",
    "open_beneficiary",
]

MAX_NAME_LEN = 100
"""Our cap on a beneficiary's ``name`` (the merchant's nickname for it), well inside what the
provider's forms take."""
MAX_HOLDER_NAME_LEN = 255
PREFIX = "beneficiary"


class EntityType(StrEnum):
    """Whether the account holder is a company or a person (Currencycloud's words)."""

    COMPANY = "company"
    INDIVIDUAL = "individual"


@dataclass(frozen=True, slots=True)
class NewBeneficiary:
    """What a merchant sends to validate or create a beneficiary.

    ``entity_type`` and ``payment_types`` stay the strings received, so an unknown value is a
    field violation here rather than an exception at the edge; ``""`` means not given.
    """

    merchant_id: str
    name: str
    bank_account_holder_name: str
    bank_country: str
    currency: str
    bank_details: BankDetailsInput
    entity_type: str = ""
    payment_types: tuple[str, ...] = (PaymentType.REGULAR.value,)


def _payment_types(values: tuple[str, ...]) -> tuple[tuple[PaymentType, ...], str | None]:
    if not values:
        return (), "must name at least one of regular, priority"
    try:
        return tuple(dict.fromkeys(PaymentType(v) for v in values)), None
    except ValueError:
        return (), "must each be regular or priority"


def _name_violations(request: NewBeneficiary) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    for name, value, limit in (
        ("name", request.name, MAX_NAME_LEN),
        ("bank_account_holder_name", request.bank_account_holder_name, MAX_HOLDER_NAME_LEN),
    ):
        path = f"{PREFIX}.{name}"
        if not value.strip():
            out.append(FieldViolation(path, "is required"))
        else:
            out += text_violations(path, value, limit)
    if request.entity_type and request.entity_type not in set(EntityType):
        out.append(FieldViolation(f"{PREFIX}.entity_type", "must be company or individual"))
    return out


def check_new_beneficiary(request: NewBeneficiary) -> tuple[BankDetails, tuple[PaymentType, ...]]:
    """The normalized bank details and payment types, or one ValidationFailed with a
    violation per bad field (names, entity type, payment types, bank details)."""
    violations = _name_violations(request)
    payment_types, problem = _payment_types(request.payment_types)
    if problem is not None:
        violations.append(FieldViolation(f"{PREFIX}.payment_types", problem))
    details, bank = bank_details_violations(
        request.bank_details, request.bank_country, request.currency, payment_types, PREFIX
    )
    violations += bank
    if violations:
        raise invalid("invalid beneficiary", violations)
    return details, payment_types


@dataclass(repr=False)
class Beneficiary:
    """A merchant's payee. ``provider_ref`` is empty until the provider has created it."""

    id: str
    merchant_id: str
    name: str
    bank_account_holder_name: str
    bank_country: str
    currency: str
    details: BankDetails
    payment_types: tuple[PaymentType, ...]
    created_at: datetime
    entity_type: EntityType | None = None
    provider_ref: str = ""
    deleted_at: datetime | None = None
    version: int = 0
    bank_name: str = ""

    @property
    def masked_account(self) -> str:
        """The account's last four characters (``...4321``)."""
        return self.details.masked_account

    @property
    def is_deleted(self) -> bool:
        """True once deleted: it no longer exists for the merchant."""
        return self.deleted_at is not None

    def error_metadata(self) -> dict[str, str]:
        """What an ErrorInfo about this beneficiary may carry (no bank details)."""
        return {"beneficiary_id": self.id, "currency": self.currency}

    def ensure_visible_to(self, merchant_id: str) -> None:
        """Refuse another merchant's or a deleted beneficiary exactly like a missing one."""
        if self.merchant_id != merchant_id or self.is_deleted:
            raise errors.BeneficiaryNotFound(
                f"beneficiary {self.id} not found", metadata={"beneficiary_id": self.id}
            )

    def supports(self, payment_type: PaymentType) -> bool:
        """True when its details were validated for ``payment_type``."""
        return payment_type in self.payment_types

    def bind(self, provider_ref: str, bank_name: str = "") -> None:
        """Record the provider's id once it created the beneficiary (at most one id)."""
        assert provider_ref, "a provider id is never empty"
        if self.provider_ref and self.provider_ref != provider_ref:
            raise errors.ProviderViewConflict(
                f"beneficiary {self.id} is already {self.provider_ref} at the provider",
                metadata={**self.error_metadata(), "provider_ref": provider_ref},
            )
        self.provider_ref = provider_ref
        self.bank_name = bank_name or self.bank_name
        self.version += 1

    def delete(self, now: datetime) -> None:
        """Soft-delete: kept for the payouts that name it, invisible from now on."""
        if self.is_deleted:
            raise errors.BeneficiaryNotFound(
                f"beneficiary {self.id} not found", metadata={"beneficiary_id": self.id}
            )
        self.deleted_at = now
        self.version += 1

    def provider_details(self) -> BeneficiaryDetails:
        """What the provider adapter sends (the full details: never log this object's fields)."""
        codes = self.details.routing_codes
        return BeneficiaryDetails(
            name=self.name,
            bank_account_holder_name=self.bank_account_holder_name,
            bank_country=self.bank_country,
            currency=self.currency,
            account_number=self.details.account_number,
            iban=self.details.iban,
            bic_swift=self.details.bic_swift,
            routing_code_type_1=codes[0].type.value if codes else "",
            routing_code_value_1=codes[0].value if codes else "",
            routing_code_type_2=codes[1].type.value if len(codes) > 1 else "",
            routing_code_value_2=codes[1].value if len(codes) > 1 else "",
            beneficiary_entity_type=self.entity_type.value if self.entity_type else "",
            payment_types=self.payment_types,
        )

    def __repr__(self) -> str:
        return (
            f"Beneficiary(id={self.id!r}, merchant_id={self.merchant_id!r},"
            f" bank_country={self.bank_country!r}, currency={self.currency!r},"
            f" account={mask(self.details.account_identifier)!r})"
        )


def open_beneficiary(request: NewBeneficiary, beneficiary_id: str, now: datetime) -> Beneficiary:
    """Validate a request and build its beneficiary (not yet at the provider)."""
    details, payment_types = check_new_beneficiary(request)
    return Beneficiary(
        id=beneficiary_id,
        merchant_id=request.merchant_id,
        name=request.name.strip(),
        bank_account_holder_name=request.bank_account_holder_name.strip(),
        bank_country=request.bank_country,
        currency=request.currency,
        details=details,
        payment_types=payment_types,
        created_at=now,
        entity_type=EntityType(request.entity_type) if request.entity_type else None,
    )
