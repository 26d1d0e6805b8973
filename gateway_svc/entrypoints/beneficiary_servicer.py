"""BeneficiaryService over gRPC: each method translates, calls one use case, translates back.

As ``servicer.PaymentServicer``: no try/except (the error interceptor maps raised errors);
CreateBeneficiary answers from the response stored with its idempotency key
(``responses.send``); every call acts for the merchant of the edge's principal. Without an
FX provider every RPC answers FX_PROVIDER_NOT_CONFIGURED (``fx_common``).
"""

from __future__ import annotations

from gateway_svc.service_layer.beneficiary_service import BeneficiaryService
from paymesh.gateway.v1 import beneficiaries_pb2 as pb
from paymesh.gateway.v1 import beneficiaries_pb2_grpc
from svc_kit.principal import EDGE_SPIFFE_ID

from . import beneficiary_convert as cv
from . import beneficiary_views as views
from . import responses
from .convert import require_id
from .fx_common import EdgeServicer, renderer, require
from .metadata import Ctx

RENDER_BENEFICIARY = renderer(views.create_response)


class BeneficiaryServicer(EdgeServicer, beneficiaries_pb2_grpc.BeneficiaryServiceServicer):
    """The gRPC face of ``BeneficiaryService`` (None: no FX provider configured)."""

    def __init__(
        self,
        beneficiaries: BeneficiaryService | None,
        *,
        edge_spiffe_id: str = EDGE_SPIFFE_ID,
        trust_plaintext: bool = False,
    ) -> None:
        super().__init__(edge_spiffe_id=edge_spiffe_id, trust_plaintext=trust_plaintext)
        self.beneficiaries = beneficiaries

    async def ValidateBeneficiary(
        self, request: pb.ValidateBeneficiaryRequest, context: Ctx
    ) -> pb.ValidateBeneficiaryResponse:
        principal = self._caller(context)
        service = require(self.beneficiaries, "ValidateBeneficiary")
        new = cv.new_beneficiary(request.beneficiary, principal.merchant_id)
        return views.checked(await service.validate_beneficiary(new))

    async def CreateBeneficiary(
        self, request: pb.CreateBeneficiaryRequest, context: Ctx
    ) -> pb.CreateBeneficiaryResponse:
        principal = self._caller(context)
        service = require(self.beneficiaries, "CreateBeneficiary")
        cmd = cv.create_beneficiary(request, principal, self._key(request.request_id, context))
        answer = await service.create_beneficiary(cmd, RENDER_BENEFICIARY)
        return await responses.send(answer, pb.CreateBeneficiaryResponse.FromString, context)

    async def GetBeneficiary(
        self, request: pb.GetBeneficiaryRequest, context: Ctx
    ) -> pb.GetBeneficiaryResponse:
        principal = self._caller(context)
        service = require(self.beneficiaries, "GetBeneficiary")
        found = await service.get_beneficiary(
            principal.merchant_id, require_id(request.beneficiary_id, "beneficiary_id")
        )
        return pb.GetBeneficiaryResponse(beneficiary=views.beneficiary(found))

    async def ListBeneficiaries(
        self, request: pb.ListBeneficiariesRequest, context: Ctx
    ) -> pb.ListBeneficiariesResponse:
        principal = self._caller(context)
        service = require(self.beneficiaries, "ListBeneficiaries")
        page = await service.list_beneficiaries(
            cv.list_beneficiaries(request, principal.merchant_id)
        )
        return pb.ListBeneficiariesResponse(
            beneficiaries=[views.beneficiary(b) for b in page.items],
            next_page_token=page.next_page_token,
        )

    async def DeleteBeneficiary(
        self, request: pb.DeleteBeneficiaryRequest, context: Ctx
    ) -> pb.DeleteBeneficiaryResponse:
        principal = self._caller(context)
        service = require(self.beneficiaries, "DeleteBeneficiary")
        await service.delete_beneficiary(cv.delete_beneficiary(request, principal))
        return pb.DeleteBeneficiaryResponse()
