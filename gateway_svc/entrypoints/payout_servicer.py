"""PayoutService over gRPC: each method translates, calls one use case, translates back.

As ``servicer.PaymentServicer``: no try/except (the error interceptor maps raised errors);
CreatePayout and CancelPayout answer from the response stored with their idempotency key
(``responses.send``); every call acts for the merchant of the edge's principal.

GetBalances reads only the ledger, so it answers whether or not the gateway has an FX
provider: a merchant's card captures are a balance too. The payout RPCs need the provider and
answer FX_PROVIDER_NOT_CONFIGURED without one (``fx_common``).
"""

from __future__ import annotations

from gateway_svc.service_layer.balances import Balances
from gateway_svc.service_layer.payout_service import PayoutService
from paymesh.gateway.v1 import payouts_pb2 as pb
from paymesh.gateway.v1 import payouts_pb2_grpc
from svc_kit.principal import EDGE_SPIFFE_ID

from . import payout_convert as cv
from . import payout_views as views
from . import responses
from .convert import require_id
from .fx_common import EdgeServicer, renderer, require
from .metadata import Ctx

RENDER_CREATE = renderer(views.create_response)
RENDER_CANCEL = renderer(views.cancel_response)


class PayoutServicer(EdgeServicer, payouts_pb2_grpc.PayoutServiceServicer):
    """The gRPC face of ``PayoutService`` (None: no FX provider configured) and of the
    merchant's ``Balances``."""

    def __init__(
        self,
        payouts: PayoutService | None,
        balances: Balances,
        *,
        edge_spiffe_id: str = EDGE_SPIFFE_ID,
        trust_plaintext: bool = False,
    ) -> None:
        super().__init__(edge_spiffe_id=edge_spiffe_id, trust_plaintext=trust_plaintext)
        self.payouts = payouts
        self.balances = balances

    async def CreatePayout(
        self, request: pb.CreatePayoutRequest, context: Ctx
    ) -> pb.CreatePayoutResponse:
        principal = self._caller(context)
        service = require(self.payouts, "CreatePayout")
        cmd = cv.create_payout(request, principal, self._key(request.request_id, context))
        answer = await service.create_payout(cmd, RENDER_CREATE)
        return await responses.send(answer, pb.CreatePayoutResponse.FromString, context)

    async def GetPayout(self, request: pb.GetPayoutRequest, context: Ctx) -> pb.GetPayoutResponse:
        principal = self._caller(context)
        service = require(self.payouts, "GetPayout")
        found = await service.get_payout(
            principal.merchant_id, require_id(request.payout_id, "payout_id")
        )
        return pb.GetPayoutResponse(payout=views.payout(found))

    async def ListPayouts(
        self, request: pb.ListPayoutsRequest, context: Ctx
    ) -> pb.ListPayoutsResponse:
        principal = self._caller(context)
        service = require(self.payouts, "ListPayouts")
        page = await service.list_payouts(cv.list_payouts(request, principal.merchant_id))
        return pb.ListPayoutsResponse(
            payouts=[views.payout(p) for p in page.items], next_page_token=page.next_page_token
        )

    async def CancelPayout(
        self, request: pb.CancelPayoutRequest, context: Ctx
    ) -> pb.CancelPayoutResponse:
        principal = self._caller(context)
        service = require(self.payouts, "CancelPayout")
        cmd = cv.cancel_payout(request, principal, self._key(request.request_id, context))
        answer = await service.cancel_payout(cmd, RENDER_CANCEL)
        return await responses.send(answer, pb.CancelPayoutResponse.FromString, context)

    async def GetBalances(
        self, request: pb.GetBalancesRequest, context: Ctx
    ) -> pb.GetBalancesResponse:
        principal = self._caller(context)
        found = await self.balances.get_balances(principal.merchant_id)
        return pb.GetBalancesResponse(balances=[views.balance(b) for b in found])
