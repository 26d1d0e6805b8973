"""The gateway's one mapping table: domain error branch -> gRPC status code.

The ErrorInfo reason comes from each class's ``reason``; this table only picks the code, and
``svc_kit.grpc_errors`` applies it in one interceptor (raised errors) and in
``stored_error`` (errors stored with an idempotency key and replayed later), so both paths
build the same ``google.rpc.Status``. The most specific class listed wins: a new subclass
inherits its branch's code. The HTTP status is what Envoy's transcoder makes of the code
(edge.md).

=============================  =====================  ====  ================================
branch                         code                   HTTP  why
=============================  =====================  ====  ================================
ValidationFailed (and          INVALID_ARGUMENT       400   the request itself is wrong
TestCardNotAllowed,
InvalidPageToken)
NotFound                       NOT_FOUND              404   also another merchant's payment
Conflict                       ALREADY_EXISTS         409   see "IDEMPOTENCY_KEY_REUSED"
(IdempotencyKeyReused)
PreconditionFailed (the        FAILED_PRECONDITION    400   well formed, but the payment's
illegal transitions,                                        state refuses it; AIP-193's
ProviderNotEligible)                                        choice for "fix the state first"
IdempotencyKeyInUse            ABORTED                409   retry later with the same key
ConcurrentModification         ABORTED                409   retry with the same key
NoProviderAvailable (NoRoute,  UNAVAILABLE            503   nothing was charged; retrying
ProviderUnavailable)                                        with the same key is safe
FxProviderNotConfigured (a     UNAVAILABLE            503   no FX provider on this gateway:
NoProviderAvailable, in                                     nothing was done; it works once
fx_common)                                                  Currencycloud is configured
PrincipalMissing               UNAUTHENTICATED        401   no edge principal to believe
WebhookSignatureInvalid        UNAUTHENTICATED        401   a provider callback that does not
(WebhookSignatureMissing,                                   verify: nothing was applied
WebhookTimestampOutOfTolerance)
WebhookPayloadInvalid (a       INVALID_ARGUMENT       400   verified, but not the event it
ValidationFailed)                                           claims; violations name fields
WebhookProviderNotFound (a     NOT_FOUND              404   a provider-webhook route for no
NotFound)                                                   provider the gateway knows
WebhookDestinationRefused (a   INVALID_ARGUMENT       400   a webhook URL the SSRF guard
ValidationFailed)                                           refuses; one violation on ``url``
=============================  =====================  ====  ================================

IDEMPOTENCY_KEY_REUSED is ALREADY_EXISTS (409). Stripe answers a key reused with other
parameters with 400 ``idempotency_error``; the IETF Idempotency-Key draft with 422, which
gRPC has no code for. We keep 409 because the request is not malformed (it would succeed
with a fresh key) and what it collides with is a stored thing, the key's first request:
AIP-193 reserves INVALID_ARGUMENT for a request that is wrong whatever the server holds.
It is also the branch's code in identity and the ledger (``Conflict``), and the contract
(payments.proto) promises it. A client tells it from ABORTED's in-flight 409 by
``ErrorInfo.reason``, which is what every paymesh error asks clients to switch on.
"""

from __future__ import annotations

import grpc

from gateway_svc.domain import errors as e
from gateway_svc.domain.idempotency import StoredResponse
from svc_kit.grpc_errors import ErrorMapper, ErrorTable

ERROR_DOMAIN = "gateway.paymesh.local"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class PrincipalMissing(e.GatewayError):
    """Raised when an RPC arrives without a principal the gateway may believe: not through
    the edge (or from a peer that is not the edge), so there is no merchant to act for.

    An entrypoint refusal, not a domain one: the domain never sees a call without a
    merchant, so the class lives beside the table instead of in ``domain.errors``."""

    reason = "PRINCIPAL_MISSING"


ERROR_TABLE: ErrorTable = {
    e.ValidationFailed: grpc.StatusCode.INVALID_ARGUMENT,
    e.NotFound: grpc.StatusCode.NOT_FOUND,
    e.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    e.PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    e.IdempotencyKeyInUse: grpc.StatusCode.ABORTED,
    e.ConcurrentModification: grpc.StatusCode.ABORTED,
    e.NoProviderAvailable: grpc.StatusCode.UNAVAILABLE,
    e.LedgerUnavailable: grpc.StatusCode.UNAVAILABLE,
    PrincipalMissing: grpc.StatusCode.UNAUTHENTICATED,
    e.WebhookSignatureInvalid: grpc.StatusCode.UNAUTHENTICATED,
    e.WebhookPayloadInvalid: grpc.StatusCode.INVALID_ARGUMENT,
    e.WebhookProviderNotFound: grpc.StatusCode.NOT_FOUND,
    e.WebhookDestinationRefused: grpc.StatusCode.INVALID_ARGUMENT,
}

MAPPER = ErrorMapper(ERROR_TABLE, ERROR_DOMAIN)


def stored_error(exc: e.GatewayError) -> StoredResponse:
    """The response an error is stored as: its status code and the serialized
    ``google.rpc.Status`` (ErrorInfo, BadRequest) the interceptor would have sent."""
    status = MAPPER.status_for(exc)
    for key, value in status.trailing_metadata or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            return StoredResponse(status.code.value[0], value)
    # svc_kit.grpc_errors.rich_status always attaches the details; reaching here is a bug.
    raise AssertionError(f"{type(exc).__name__}: the mapped status carries no details")
