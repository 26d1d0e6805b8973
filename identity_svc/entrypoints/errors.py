"""identity's one mapping table: domain error branch -> gRPC status code.

The ErrorInfo reason comes from each class's ``reason``; this table only picks
the code, and ``svc_kit.grpc_errors`` applies it in one interceptor. The ext_authz
Check answers with the same codes, turned into HTTP statuses (401, 403, 404,
429) the way Envoy's transcoder does (edge.md), so a client sees one shape.
"""

from __future__ import annotations

import grpc

from identity_svc.domain import errors as e
from svc_kit.grpc_errors import ErrorMapper, ErrorTable

ERROR_DOMAIN = "identity.paymesh.local"

ERROR_TABLE: ErrorTable = {
    e.ValidationFailed: grpc.StatusCode.INVALID_ARGUMENT,
    e.NotFound: grpc.StatusCode.NOT_FOUND,
    e.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    e.PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    e.AuthenticationFailed: grpc.StatusCode.UNAUTHENTICATED,
    e.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    e.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
}
"""The HTTP status Envoy's transcoder gives each code (edge.md), for Check's own denials."""

MAPPER = ErrorMapper(ERROR_TABLE, ERROR_DOMAIN)
