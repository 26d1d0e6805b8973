"""IdentityService over gRPC: each method translates, calls one use case, translates back.

No method catches anything: domain errors become statuses in the one error
interceptor (``svc_kit.grpc_errors``) using ``identity_svc.entrypoints.errors``.
Who is calling comes from the edge's principal header, believed only as
``svc_kit.principal`` allows; without one, every method answers UNAUTHENTICATED.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import grpc

from identity_svc.domain.errors import PermissionMissing, PrincipalMissing
from identity_svc.domain.model import Principal
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from paymesh.identity.v1 import identity_pb2 as pb
from paymesh.identity.v1 import identity_pb2_grpc
from svc_kit.logs import request_id_var
from svc_kit.principal import EdgePrincipal, trusted_principal

from . import convert as cv

Ctx = grpc.aio.ServicerContext[Any, Any]
SERVICE_PATH = "/paymesh.identity.v1.IdentityService/"
DirectAuth = Callable[[Ctx, str], Awaitable[EdgePrincipal | None]]
"""Authenticates a call that did not come through the edge, from its own API key."""


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    """The gRPC face of ``Identity``."""

    def __init__(
        self,
        identity: Identity,
        *,
        edge_spiffe_id: str,
        trust_plaintext: bool,
        clock: Callable[[], datetime],
        direct_auth: DirectAuth | None = None,
    ) -> None:
        self.identity = identity
        self._direct_auth = direct_auth
        self._edge = edge_spiffe_id
        self._trust_plaintext = trust_plaintext
        self._clock = clock

    async def _caller(self, context: Ctx, rpc: str) -> CallContext:
        edge = trusted_principal(
            context, edge_spiffe_id=self._edge, trust_plaintext=self._trust_plaintext
        )
        if edge is None and self._direct_auth is not None:
            # A gRPC caller inside the mesh (or a developer with buf curl) may present an
            # API key itself; it goes through the very same decision as the edge's Check.
            edge = await self._direct_auth(context, SERVICE_PATH + rpc)
        if edge is None:
            raise PrincipalMissing("no caller principal: call through the edge with an API key")
        try:
            role = Role(edge.role)
        except ValueError:
            raise PrincipalMissing("the caller principal names an unknown role") from None
        principal = Principal(edge.merchant_id, edge.key_id, role, edge.environment)
        return CallContext(
            principal=principal,
            request_id=request_id_var.get() or "",
            source_address=edge.source_address or context.peer() or "",
        )

    async def CreateMerchant(
        self, request: pb.CreateMerchantRequest, context: Ctx
    ) -> pb.CreateMerchantResponse:
        m = request.merchant
        created = await self.identity.create_merchant(
            await self._caller(context, "CreateMerchant"),
            display_name=m.display_name,
            default_currency=m.default_currency,
            metadata=dict(m.metadata),
            status=cv.merchant_status_in(m.status),
            request_id=request.request_id,
        )
        return pb.CreateMerchantResponse(merchant=cv.merchant(created))

    async def GetMerchant(
        self, request: pb.GetMerchantRequest, context: Ctx
    ) -> pb.GetMerchantResponse:
        caller = await self._caller(context, "GetMerchant")
        found = await self.identity.get_merchant(caller, request.merchant_id)
        return pb.GetMerchantResponse(merchant=cv.merchant(found))

    async def ListMerchants(
        self, request: pb.ListMerchantsRequest, context: Ctx
    ) -> pb.ListMerchantsResponse:
        page = await self.identity.list_merchants(
            await self._caller(context, "ListMerchants"),
            page_size=request.page_size,
            page_token=request.page_token,
            status=cv.merchant_status_in(request.status),
        )
        return pb.ListMerchantsResponse(
            merchants=[cv.merchant(m) for m in page.items], next_page_token=page.next_page_token
        )

    async def UpdateMerchant(
        self, request: pb.UpdateMerchantRequest, context: Ctx
    ) -> pb.UpdateMerchantResponse:
        m = request.merchant
        updated = await self.identity.update_merchant(
            await self._caller(context, "UpdateMerchant"),
            m.merchant_id,
            paths=list(request.update_mask.paths),
            display_name=m.display_name,
            default_currency=m.default_currency,
            metadata=dict(m.metadata),
            status=cv.merchant_status_in(m.status),
        )
        return pb.UpdateMerchantResponse(merchant=cv.merchant(updated))

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Ctx
    ) -> pb.CreateApiKeyResponse:
        k = request.api_key
        key, secret = await self.identity.create_api_key(
            await self._caller(context, "CreateApiKey"),
            request.merchant_id,
            display_name=k.display_name,
            description=k.description,
            role=cv.ROLES.get(k.role),  # None: the use case refuses it, and audits that
            expire_time=cv.time_in(k.expire_time, k.HasField("expire_time")),
            rate_limit=cv.rate_limit_in(k),
            request_id=request.request_id,
        )
        return pb.CreateApiKeyResponse(api_key=cv.api_key(key, self._clock()), secret=secret)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Ctx
    ) -> pb.ListApiKeysResponse:
        page = await self.identity.list_api_keys(
            await self._caller(context, "ListApiKeys"),
            request.merchant_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        now = self._clock()
        return pb.ListApiKeysResponse(
            api_keys=[cv.api_key(k, now) for k in page.items], next_page_token=page.next_page_token
        )

    async def GetApiKey(self, request: pb.GetApiKeyRequest, context: Ctx) -> pb.GetApiKeyResponse:
        caller = await self._caller(context, "GetApiKey")
        key = await self.identity.get_api_key(caller, request.key_id)
        return pb.GetApiKeyResponse(api_key=cv.api_key(key, self._clock()))

    async def RotateApiKey(
        self, request: pb.RotateApiKeyRequest, context: Ctx
    ) -> pb.RotateApiKeyResponse:
        key, secret = await self.identity.rotate_api_key(
            await self._caller(context, "RotateApiKey"),
            request.key_id,
            overlap=cv.duration_in(request.overlap, request.HasField("overlap")),
            request_id=request.request_id,
        )
        return pb.RotateApiKeyResponse(api_key=cv.api_key(key, self._clock()), secret=secret)

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Ctx
    ) -> pb.RevokeApiKeyResponse:
        caller = await self._caller(context, "RevokeApiKey")
        key = await self.identity.revoke_api_key(caller, request.key_id)
        return pb.RevokeApiKeyResponse(api_key=cv.api_key(key, self._clock()))

    async def GetUsage(self, request: pb.GetUsageRequest, context: Ctx) -> pb.GetUsageResponse:
        report = await self.identity.get_usage(
            await self._caller(context, "GetUsage"),
            request.merchant_id,
            start_day=cv.day_in("start_day", request.start_day),
            end_day=cv.day_in("end_day", request.end_day),
            key_id=request.key_id,
        )
        return cv.usage_report(report)

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Ctx
    ) -> pb.ListAuditEventsResponse:
        page = await self.identity.list_audit_events(
            await self._caller(context, "ListAuditEvents"),
            merchant_id=request.merchant_id,
            action=request.action,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListAuditEventsResponse(
            audit_events=[cv.audit_event(r) for r in page.items],
            next_page_token=page.next_page_token,
        )

    async def VerifyAuditLog(
        self, request: pb.VerifyAuditLogRequest, context: Ctx
    ) -> pb.VerifyAuditLogResponse:
        caller = await self._caller(context, "VerifyAuditLog")
        # The edge already required merchants:manage; the chain spans every tenant, so the
        # service refuses anyone but a platform operator too (rules that matter hold twice).
        if caller.principal is None or not caller.principal.is_platform_operator:
            raise PermissionMissing("verifying the audit log is for platform operators")
        checked, problems = await self.identity.verify_audit_log()
        return pb.VerifyAuditLogResponse(
            ok=not problems,
            events_checked=checked,
            problems=[cv.audit_problem(p) for p in problems],
        )

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Ctx) -> pb.WhoAmIResponse:
        caller = await self._caller(context, "WhoAmI")
        assert caller.principal is not None  # _caller never returns the system context
        return pb.WhoAmIResponse(principal=cv.principal(caller.principal))
