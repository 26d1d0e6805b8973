"""PayoutService requests in: protobuf -> ``NewPayout`` and the payout commands.

The amount's currency is passed on as sent: the domain holds it to the beneficiary's
(``payouts.check_new_payout``, a violation on ``amount.currency_code``), which only it knows.
An unset payout type is REGULAR (the proto's default); one this service does not know becomes
a word the domain refuses on ``payment_type``.
"""

from __future__ import annotations

from gateway_svc.domain.fx_provider import PaymentType
from gateway_svc.domain.payouts import NewPayout, PayoutState
from gateway_svc.service_layer.fx_commands import CancelPayout, CreatePayout, ListPayouts
from paymesh.gateway.v1 import beneficiaries_pb2 as bpb
from paymesh.gateway.v1 import payouts_pb2 as pb
from svc_kit.principal import EdgePrincipal

from .beneficiary_convert import PAYOUT_TYPES, UNKNOWN
from .convert import invalid, require_id
from .fx_common import time_in

PAYOUT_STATUSES: dict[pb.PayoutStatus.ValueType, PayoutState] = {
    pb.PAYOUT_STATUS_PENDING: PayoutState.PENDING,
    pb.PAYOUT_STATUS_SUBMITTED: PayoutState.SUBMITTED,
    pb.PAYOUT_STATUS_COMPLETED: PayoutState.COMPLETED,
    pb.PAYOUT_STATUS_FAILED: PayoutState.FAILED,
    pb.PAYOUT_STATUS_CANCELED: PayoutState.CANCELED,
}


def payment_type(value: bpb.PayoutType.ValueType) -> str:
    """The domain's word for a payout type; unset is REGULAR."""
    if value == bpb.PAYOUT_TYPE_UNSPECIFIED:
        return PaymentType.REGULAR.value
    found = PAYOUT_TYPES.get(value)
    return found.value if found is not None else UNKNOWN


def create_payout(
    req: pb.CreatePayoutRequest, principal: EdgePrincipal, request_id: str
) -> CreatePayout:
    """CreatePayout; a missing amount reaches the domain as zero of no currency, which it
    refuses field by field together with anything else wrong."""
    return CreatePayout(
        actor_key_id=principal.key_id,
        request_id=request_id,
        payout=NewPayout(
            merchant_id=principal.merchant_id,
            beneficiary_id=require_id(req.beneficiary_id, "beneficiary_id"),
            amount_minor=req.amount.minor_units,
            currency=req.amount.currency_code,
            reason=req.reason,
            reference=req.reference,
            payment_type=payment_type(req.payment_type),
        ),
    )


def cancel_payout(
    req: pb.CancelPayoutRequest, principal: EdgePrincipal, request_id: str
) -> CancelPayout:
    """CancelPayout."""
    return CancelPayout(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        payout_id=require_id(req.payout_id, "payout_id"),
        request_id=request_id,
    )


def list_payouts(req: pb.ListPayoutsRequest, merchant_id: str) -> ListPayouts:
    """ListPayouts; UNSPECIFIED status and an empty beneficiary match every payout."""
    statuses: frozenset[PayoutState] = frozenset()
    if req.status != pb.PAYOUT_STATUS_UNSPECIFIED:
        status = PAYOUT_STATUSES.get(req.status)
        if status is None:
            raise invalid("status", "is not a PayoutStatus this service knows")
        statuses = frozenset({status})
    if req.beneficiary_id:
        require_id(req.beneficiary_id, "beneficiary_id")
    return ListPayouts(
        merchant_id=merchant_id,
        statuses=statuses,
        beneficiary_id=req.beneficiary_id,
        created_after=time_in(req, "start_time"),
        created_before=time_in(req, "end_time"),
        page_size=req.page_size,
        page_token=req.page_token,
    )
