"""FxService over gRPC: each method translates, calls one use case, translates back.

As ``servicer.PaymentServicer``: no method catches anything (the one error interceptor maps
raised errors with ``errors.ERROR_TABLE``); CreateConversion answers through
``responses.send`` from the response stored with its idempotency key, so a first execution
and a replay send the same bytes; every call acts for the merchant of the edge's principal.
Without an FX provider every RPC answers FX_PROVIDER_NOT_CONFIGURED (``fx_common``).
"""

from __future__ import annotations

from gateway_svc.service_layer.fx_service import FxService
from paymesh.gateway.v1 import fx_pb2 as pb
from paymesh.gateway.v1 import fx_pb2_grpc
from svc_kit.principal import EDGE_SPIFFE_ID

from . import fx_convert as cv
from . import fx_views as views
from . import responses
from .convert import require_id
from .fx_common import EdgeServicer, renderer, require
from .metadata import Ctx

RENDER_CONVERSION = renderer(views.create_response)


class FxServicer(EdgeServicer, fx_pb2_grpc.FxServiceServicer):
    """The gRPC face of ``FxService`` (None: no FX provider configured)."""

    def __init__(
        self,
        fx: FxService | None,
        *,
        edge_spiffe_id: str = EDGE_SPIFFE_ID,
        trust_plaintext: bool = False,
    ) -> None:
        super().__init__(edge_spiffe_id=edge_spiffe_id, trust_plaintext=trust_plaintext)
        self.fx = fx

    async def GetQuote(self, request: pb.GetQuoteRequest, context: Ctx) -> pb.GetQuoteResponse:
        principal = self._caller(context)
        fx = require(self.fx, "GetQuote")
        quote = await fx.get_quote(cv.quote_request(request, principal.merchant_id))
        return pb.GetQuoteResponse(quote=views.quote(quote))

    async def CreateConversion(
        self, request: pb.CreateConversionRequest, context: Ctx
    ) -> pb.CreateConversionResponse:
        principal = self._caller(context)
        fx = require(self.fx, "CreateConversion")
        cmd = cv.create_conversion(request, principal, self._key(request.request_id, context))
        answer = await fx.create_conversion(cmd, RENDER_CONVERSION)
        return await responses.send(answer, pb.CreateConversionResponse.FromString, context)

    async def GetConversion(
        self, request: pb.GetConversionRequest, context: Ctx
    ) -> pb.GetConversionResponse:
        principal = self._caller(context)
        fx = require(self.fx, "GetConversion")
        found = await fx.get_conversion(
            principal.merchant_id, require_id(request.conversion_id, "conversion_id")
        )
        return pb.GetConversionResponse(conversion=views.conversion(found))

    async def ListConversions(
        self, request: pb.ListConversionsRequest, context: Ctx
    ) -> pb.ListConversionsResponse:
        principal = self._caller(context)
        fx = require(self.fx, "ListConversions")
        page = await fx.list_conversions(cv.list_conversions(request, principal.merchant_id))
        return pb.ListConversionsResponse(
            conversions=[views.conversion(c) for c in page.items],
            next_page_token=page.next_page_token,
        )
