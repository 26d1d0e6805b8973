"""What a call says besides its message: who is calling, and its idempotency key.

The caller is the merchant principal Envoy's ext_authz attached, believed only as
``svc_kit.principal.trusted_principal`` allows (the edge's SPIFFE id, or a plaintext
loopback server that opted in). Without one there is no merchant to act for: UNAUTHENTICATED,
as identity answers (its ``PrincipalMissing``). The edge has already checked the key's role
against the RPC's ``required_permission``, so a believed principal may call.

The idempotency key of a mutation is its ``request_id`` field or, for REST callers, the
``Idempotency-Key`` header, which Envoy's transcoder forwards as the gRPC metadata key
``idempotency-key`` (edge.md). Two different keys for one request are refused: picking
either one silently could run a request twice that the client meant once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

from gateway_svc.domain.errors import ValidationFailed
from svc_kit.faults import FieldViolation
from svc_kit.principal import EdgePrincipal, trusted_principal

from .errors import PrincipalMissing

IDEMPOTENCY_KEY = "idempotency-key"
"""gRPC metadata keys are lower case; HTTP's ``Idempotency-Key`` arrives as this."""

Ctx = grpc.aio.ServicerContext[Any, Any]
Metadata = Iterable[tuple[str, str | bytes]]


def caller(context: Ctx, *, edge_spiffe_id: str, trust_plaintext: bool) -> EdgePrincipal:
    """The merchant principal of this call; PrincipalMissing when none may be believed."""
    principal = trusted_principal(
        context, edge_spiffe_id=edge_spiffe_id, trust_plaintext=trust_plaintext
    )
    if principal is None:
        raise PrincipalMissing("no caller principal: call through the edge with an API key")
    return principal


def header_keys(metadata: Metadata) -> list[str]:
    """Every ``idempotency-key`` value sent, in order (a repeated header arrives twice)."""
    keys: list[str] = []
    for key, value in metadata:
        if key == IDEMPOTENCY_KEY:
            keys.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return keys


def request_id(field_value: str, metadata: Metadata) -> str:
    """The call's idempotency key: the field, else the header, else "" (none sent).

    Raises ValidationFailed (a violation on ``request_id``) when the header is repeated with
    different values, or when the field and the header are both set and differ.
    """
    sent = set(header_keys(metadata))
    if len(sent) > 1:
        raise _conflict("is ambiguous: the Idempotency-Key header came with different keys")
    header = next(iter(sent), "")
    if field_value and header and field_value != header:
        raise _conflict("differs from the Idempotency-Key header: send one, or the same key")
    return field_value or header


def _conflict(why: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid request: request_id {why}", violations=[FieldViolation("request_id", why)]
    )
