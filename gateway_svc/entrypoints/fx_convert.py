"""FxService requests in: protobuf -> ``QuoteRequest`` and the FX commands. Protobuf stops here.

The entrypoint refuses only what the proto allows but the gateway cannot mean: an enum value
it does not know (as an unset one, which the domain names), and an ``amount`` in a currency
other than the fixed side's, which would be read in a currency it was not meant in (100 JPY
is not 1.00 USD). Everything else (currencies, the fixed side, the amount's size) is the
domain's to judge (``fx.check_quote_request``), and when both find something wrong the client
gets one refusal naming every bad field (``fx_common.merged``).
"""

from __future__ import annotations

from gateway_svc.domain.conversions import ConversionState
from gateway_svc.domain.fx import QuoteRequest, check_quote_request
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.service_layer.fx_commands import CreateConversion, ListConversions
from paymesh.common.v1.money_pb2 import Money
from paymesh.gateway.v1 import fx_pb2 as pb
from svc_kit.principal import EdgePrincipal

from .convert import invalid as one_invalid
from .convert import require_id
from .fx_common import currency_violation, merged, time_in

FIXED_SIDES: dict[pb.FixedSide.ValueType, FixedSide] = {
    pb.FIXED_SIDE_BUY: FixedSide.BUY,
    pb.FIXED_SIDE_SELL: FixedSide.SELL,
}
CONVERSION_STATUSES: dict[pb.ConversionStatus.ValueType, ConversionState] = {
    pb.CONVERSION_STATUS_PENDING: ConversionState.PENDING,
    pb.CONVERSION_STATUS_AWAITING_FUNDS: ConversionState.AWAITING_FUNDS,
    pb.CONVERSION_STATUS_FUNDS_ARRIVED: ConversionState.FUNDS_ARRIVED,
    pb.CONVERSION_STATUS_COMPLETED: ConversionState.COMPLETED,
    pb.CONVERSION_STATUS_FAILED: ConversionState.FAILED,
}


def _checked(request: QuoteRequest, amount: Money) -> QuoteRequest:
    """``request``, unless ``amount`` names another currency than the fixed side's."""
    if request.fixed_side is None:
        return request  # no fixed side, no currency to hold the amount to: the domain says so
    wrong = currency_violation(amount, request.terms().amount_currency, "amount")
    if wrong is not None:
        raise merged([wrong], lambda: check_quote_request(request))
    return request


def quote_request(req: pb.GetQuoteRequest, merchant_id: str) -> QuoteRequest:
    """GetQuote; an unset or unknown fixed side reaches the domain as None, a missing amount
    as zero, and the domain names both."""
    request = QuoteRequest(
        merchant_id,
        req.buy_currency,
        req.sell_currency,
        FIXED_SIDES.get(req.fixed_side),
        req.amount.minor_units,
    )
    return _checked(request, req.amount)


def create_conversion(
    req: pb.CreateConversionRequest, principal: EdgePrincipal, request_id: str
) -> CreateConversion:
    """CreateConversion: a quote id, or explicit terms (the service refuses both together,
    on ``quote_id``)."""
    if req.quote_id:
        require_id(req.quote_id, "quote_id")
    cmd = CreateConversion(
        merchant_id=principal.merchant_id,
        actor_key_id=principal.key_id,
        request_id=request_id,
        quote_id=req.quote_id,
        buy_currency=req.buy_currency,
        sell_currency=req.sell_currency,
        fixed_side=FIXED_SIDES.get(req.fixed_side),
        amount_minor=req.amount.minor_units,
    )
    if not req.quote_id:
        _checked(cmd.quote_request(), req.amount)
    return cmd


def list_conversions(req: pb.ListConversionsRequest, merchant_id: str) -> ListConversions:
    """ListConversions; UNSPECIFIED status matches every conversion."""
    statuses: frozenset[ConversionState] = frozenset()
    if req.status != pb.CONVERSION_STATUS_UNSPECIFIED:
        status = CONVERSION_STATUSES.get(req.status)
        if status is None:
            raise one_invalid("status", "is not a ConversionStatus this service knows")
        statuses = frozenset({status})
    return ListConversions(
        merchant_id=merchant_id,
        statuses=statuses,
        created_after=time_in(req, "start_time"),
        created_before=time_in(req, "end_time"),
        page_size=req.page_size,
        page_token=req.page_token,
    )
