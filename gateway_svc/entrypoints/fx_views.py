"""FxService results out: quotes and conversions as protobuf messages.

Amounts are ``Money`` in their own currency, rates the exact decimal strings the amounts were
computed from (never floats: the proto asks clients to parse them as decimals), and a
conversion carries every status change with its time.
"""

from __future__ import annotations

from gateway_svc.domain.conversions import Conversion, ConversionState, ConversionTransition
from gateway_svc.domain.fx import Quote
from gateway_svc.domain.fx_provider import FixedSide
from paymesh.gateway.v1 import fx_pb2 as pb

from .fx_convert import CONVERSION_STATUSES, FIXED_SIDES
from .views import money, timestamp

_SIDE_OUT = {side: number for number, side in FIXED_SIDES.items()}
_STATUS_OUT = {status: number for number, status in CONVERSION_STATUSES.items()}


def fixed_side(side: FixedSide) -> pb.FixedSide.ValueType:
    """The proto's value of a fixed side."""
    return _SIDE_OUT[side]


def conversion_status(status: ConversionState | None) -> pb.ConversionStatus.ValueType:
    """The proto's value of a status; None (before the creation) is UNSPECIFIED."""
    if status is None:
        return pb.CONVERSION_STATUS_UNSPECIFIED
    return _STATUS_OUT[status]


def quote(q: Quote) -> pb.Quote:
    """A Quote message."""
    return pb.Quote(
        id=q.id,
        buy_currency=q.buy_currency,
        sell_currency=q.sell_currency,
        fixed_side=fixed_side(q.fixed_side),
        buy_amount=money(q.buy_amount_minor, q.buy_currency),
        sell_amount=money(q.sell_amount_minor, q.sell_currency),
        currency_pair=q.currency_pair,
        client_rate=q.client_rate,
        mid_market_rate=q.mid_market_rate,
        create_time=timestamp(q.created_at),
        expire_time=timestamp(q.expires_at),
    )


def transition(t: ConversionTransition) -> pb.ConversionTransition:
    """One history entry."""
    return pb.ConversionTransition(
        from_status=conversion_status(t.from_status),
        to_status=conversion_status(t.to_status),
        transition_time=timestamp(t.at),
        reason=t.reason,
    )


def conversion(c: Conversion) -> pb.Conversion:
    """A Conversion message with its history, oldest first."""
    return pb.Conversion(
        id=c.id,
        merchant_id=c.merchant_id,
        quote_id=c.quote_id,
        buy_currency=c.buy_currency,
        sell_currency=c.sell_currency,
        fixed_side=fixed_side(c.fixed_side),
        buy_amount=money(c.buy_amount_minor, c.buy_currency),
        sell_amount=money(c.sell_amount_minor, c.sell_currency),
        currency_pair=c.currency_pair,
        client_rate=c.client_rate,
        mid_market_rate=c.mid_market_rate,
        status=conversion_status(c.status),
        failure_reason=c.failure_reason if c.status is ConversionState.FAILED else "",
        provider_reference=c.provider_ref,
        history=[transition(t) for t in c.history],
        create_time=timestamp(c.created_at),
        update_time=timestamp(c.updated_at),
    )


def create_response(c: Conversion) -> pb.CreateConversionResponse:
    """CreateConversion's response (what its key stores)."""
    return pb.CreateConversionResponse(conversion=conversion(c))
