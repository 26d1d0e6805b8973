"""PayoutService results out: payouts and currency balances as protobuf messages.

A payout's ``fee`` is set only once the provider charged one (at completion), in the fee's
own currency; ``failure_reason`` only on a FAILED payout, as the proto gives them. A balance
is three ``Money`` values in its currency, straight from the ledger.
"""

from __future__ import annotations

from gateway_svc.domain.payouts import Payout, PayoutState, PayoutTransition
from gateway_svc.service_layer.fx_commands import CurrencyBalance
from paymesh.gateway.v1 import payouts_pb2 as pb

from .beneficiary_convert import PAYOUT_TYPES
from .payout_convert import PAYOUT_STATUSES
from .views import money, timestamp

_STATUS_OUT = {status: number for number, status in PAYOUT_STATUSES.items()}
_TYPE_OUT = {kind: number for number, kind in PAYOUT_TYPES.items()}


def payout_status(status: PayoutState | None) -> pb.PayoutStatus.ValueType:
    """The proto's value of a status; None (before the creation) is UNSPECIFIED."""
    if status is None:
        return pb.PAYOUT_STATUS_UNSPECIFIED
    return _STATUS_OUT[status]


def transition(t: PayoutTransition) -> pb.PayoutTransition:
    """One history entry."""
    return pb.PayoutTransition(
        from_status=payout_status(t.from_status),
        to_status=payout_status(t.to_status),
        transition_time=timestamp(t.at),
        reason=t.reason,
    )


def payout(p: Payout) -> pb.Payout:
    """A Payout message with its history, oldest first."""
    charged = p.fee_minor is not None and p.fee_minor > 0
    return pb.Payout(
        id=p.id,
        merchant_id=p.merchant_id,
        beneficiary_id=p.beneficiary_id,
        amount=money(p.amount_minor, p.currency),
        payment_type=_TYPE_OUT[p.payment_type],
        reason=p.reason,
        reference=p.reference,
        status=payout_status(p.status),
        fee=money(p.fee_minor or 0, p.fee_currency or p.currency) if charged else None,
        failure_reason=p.failure_reason if p.status is PayoutState.FAILED else "",
        provider_reference=p.provider_ref,
        history=[transition(t) for t in p.history],
        create_time=timestamp(p.created_at),
        update_time=timestamp(p.updated_at),
    )


def balance(b: CurrencyBalance) -> pb.CurrencyBalance:
    """One currency's balance."""
    return pb.CurrencyBalance(
        currency_code=b.currency,
        available=money(b.available_minor, b.currency),
        posted=money(b.posted_minor, b.currency),
        pending=money(b.pending_minor, b.currency),
    )


def create_response(p: Payout) -> pb.CreatePayoutResponse:
    """CreatePayout's response (what its key stores)."""
    return pb.CreatePayoutResponse(payout=payout(p))


def cancel_response(p: Payout) -> pb.CancelPayoutResponse:
    """CancelPayout's response (what its key stores)."""
    return pb.CancelPayoutResponse(payout=payout(p))
