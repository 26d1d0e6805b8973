"""BeneficiaryService results out: beneficiaries as protobuf messages, their accounts masked.

Bank details are personal data (beneficiaries.proto): the account number and the IBAN are
never set on an output message, only ``masked_account`` (the last four characters). A CLABE
carries the account number inside it, so it is masked the same way; every other routing code
and the BIC identify a bank, not an account, and are returned normalized.
"""

from __future__ import annotations

from gateway_svc.domain.bank_details import RoutingCode, mask
from gateway_svc.domain.beneficiaries import Beneficiary, EntityType
from gateway_svc.domain.routing_codes import RoutingCodeType
from gateway_svc.service_layer.fx_commands import BeneficiaryCheck
from paymesh.gateway.v1 import beneficiaries_pb2 as pb

from .beneficiary_convert import ENTITY_TYPES, PAYOUT_TYPES
from .views import timestamp

_TYPE_OUT = {kind: number for number, kind in PAYOUT_TYPES.items()}
_ENTITY_OUT = {kind: number for number, kind in ENTITY_TYPES.items()}


def _shown(code: RoutingCode) -> str:
    return mask(code.value) if code.type is RoutingCodeType.CLABE else code.value


def _entity(value: EntityType | None) -> pb.BeneficiaryEntityType.ValueType:
    if value is None:
        return pb.BENEFICIARY_ENTITY_TYPE_UNSPECIFIED
    return _ENTITY_OUT[value]


def beneficiary(b: Beneficiary) -> pb.Beneficiary:
    """A Beneficiary message; nothing in it reveals the account beyond its last four."""
    codes = b.details.routing_codes
    out = pb.Beneficiary(
        id=b.id,
        merchant_id=b.merchant_id,
        name=b.name,
        bank_account_holder_name=b.bank_account_holder_name,
        bank_country=b.bank_country,
        currency=b.currency,
        entity_type=_entity(b.entity_type),
        payment_types=[_TYPE_OUT[t] for t in b.payment_types],
        bic_swift=b.details.bic_swift,
        masked_account=b.masked_account,
        bank_name=b.bank_name,
        provider_reference=b.provider_ref,
        create_time=timestamp(b.created_at) if b.id else None,
    )
    if codes:
        out.routing_code_type, out.routing_code_value = codes[0].type.value, _shown(codes[0])
    if len(codes) > 1:
        out.routing_code_type_2, out.routing_code_value_2 = codes[1].type.value, _shown(codes[1])
    return out


def checked(check: BeneficiaryCheck) -> pb.ValidateBeneficiaryResponse:
    """ValidateBeneficiary's reply: as it would be created, with no id and nothing saved."""
    out = beneficiary(check.beneficiary)
    out.bank_name = check.bank_name or out.bank_name
    return pb.ValidateBeneficiaryResponse(beneficiary=out)


def create_response(b: Beneficiary) -> pb.CreateBeneficiaryResponse:
    """CreateBeneficiary's response (what its key stores)."""
    return pb.CreateBeneficiaryResponse(beneficiary=beneficiary(b))
