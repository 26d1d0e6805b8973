"""The ledger's one mapping table: domain error branch -> gRPC status code.

The ErrorInfo reason comes from each class's ``reason``; this table only picks
the code, and ``svc_kit.grpc_errors`` applies it in one interceptor. The most
specific class listed wins, so a new subclass inherits its branch's code.
"""

from __future__ import annotations

import grpc

from ledger_svc.domain import errors as e
from svc_kit.grpc_errors import ErrorMapper, ErrorTable

ERROR_DOMAIN = "ledger.paymesh.local"

ERROR_TABLE: ErrorTable = {
    e.ValidationFailed: grpc.StatusCode.INVALID_ARGUMENT,
    e.NotFound: grpc.StatusCode.NOT_FOUND,
    e.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    e.PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    e.ConcurrentModification: grpc.StatusCode.ABORTED,
}

MAPPER = ErrorMapper(ERROR_TABLE, ERROR_DOMAIN)
