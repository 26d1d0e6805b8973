"""BeneficiaryService requests in: protobuf -> ``NewBeneficiary`` and the beneficiary commands.

Nothing is judged here that the domain judges (``beneficiaries.check_new_beneficiary``: names,
entity type, payment types, every bank detail, one violation per bad field). Enums become the
domain's words, and a value this service does not know becomes a word the domain refuses on
the right field, so the client hears about it together with everything else wrong. Bank
details go into ``BankDetailsInput``, whose ``repr`` masks them, and into no message.
"""

from __future__ import annotations

from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import EntityType, NewBeneficiary
from gateway_svc.domain.fx_provider import PaymentType
from gateway_svc.service_layer.fx_commands import (
    CreateBeneficiary,
    DeleteBeneficiary,
    ListBeneficiaries,
)
from paymesh.gateway.v1 import beneficiaries_pb2 as pb
from svc_kit.currencies import is_currency
from svc_kit.principal import EdgePrincipal

from .convert import invalid, require_id

PAYOUT_TYPES: dict[pb.PayoutType.ValueType, PaymentType] = {
    pb.PAYOUT_TYPE_REGULAR: PaymentType.REGULAR,
    pb.PAYOUT_TYPE_PRIORITY: PaymentType.PRIORITY,
}
ENTITY_TYPES: dict[pb.BeneficiaryEntityType.ValueType, EntityType] = {
    pb.BENEFICIARY_ENTITY_TYPE_COMPANY: EntityType.COMPANY,
    pb.BENEFICIARY_ENTITY_TYPE_INDIVIDUAL: EntityType.INDIVIDUAL,
}
UNKNOWN = "unknown"
"""What an enum value this service does not know becomes: no word the domain accepts."""


def payment_types(values: list[pb.PayoutType.ValueType]) -> tuple[str, ...]:
    """The payout types asked for; none means [REGULAR] (the proto). UNSPECIFIED inside a
    list is refused by the domain, as the proto says."""
    if not values:
        return (PaymentType.REGULAR.value,)
    return tuple(PAYOUT_TYPES[v].value if v in PAYOUT_TYPES else UNKNOWN for v in values)


def entity_type(value: pb.BeneficiaryEntityType.ValueType) -> str:
    """The domain's word for the entity type; "" when not given."""
    if value == pb.BENEFICIARY_ENTITY_TYPE_UNSPECIFIED:
        return ""
    found = ENTITY_TYPES.get(value)
    return found.value if found is not None else UNKNOWN


def new_beneficiary(b: pb.Beneficiary, merchant_id: str) -> NewBeneficiary:
    """The beneficiary a merchant sent; output-only fields are ignored (the proto)."""
    return NewBeneficiary(
        merchant_id=merchant_id,
        name=b.name,
        bank_account_holder_name=b.bank_account_holder_name,
        bank_country=b.bank_country,
        currency=b.currency,
        bank_details=BankDetailsInput(
            account_number=b.account_number,
            iban=b.iban,
            bic_swift=b.bic_swift,
            routing_code_type=b.routing_code_type,
            routing_code_value=b.routing_code_value,
            routing_code_type_2=b.routing_code_type_2,
            routing_code_value_2=b.routing_code_value_2,
        ),
        entity_type=entity_type(b.entity_type),
        payment_types=payment_types(list(b.payment_types)),
    )


def create_beneficiary(
    req: pb.CreateBeneficiaryRequest, principal: EdgePrincipal, request_id: str
) -> CreateBeneficiary:
    """CreateBeneficiary."""
    return CreateBeneficiary(
        actor_key_id=principal.key_id,
        request_id=request_id,
        beneficiary=new_beneficiary(req.beneficiary, principal.merchant_id),
    )


def delete_beneficiary(
    req: pb.DeleteBeneficiaryRequest, principal: EdgePrincipal
) -> DeleteBeneficiary:
    """DeleteBeneficiary."""
    return DeleteBeneficiary(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        beneficiary_id=require_id(req.beneficiary_id, "beneficiary_id"),
    )


def list_beneficiaries(req: pb.ListBeneficiariesRequest, merchant_id: str) -> ListBeneficiaries:
    """ListBeneficiaries; an empty currency matches every beneficiary."""
    if req.currency and not is_currency(req.currency):
        raise invalid("currency", "must be an ISO 4217 currency code, or empty")
    return ListBeneficiaries(
        merchant_id=merchant_id,
        currency=req.currency,
        page_size=req.page_size,
        page_token=req.page_token,
    )
