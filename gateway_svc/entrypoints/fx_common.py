"""What the FX, beneficiary and payout servicers share: the caller, the key, the missing
provider, rendering a keyed mutation's answer, and amounts and times in.

Each of the three servicers is built whether or not the gateway has an FX provider
(Currencycloud): without one its use cases are None, and every RPC that needs them answers
UNAVAILABLE with the reason FX_PROVIDER_NOT_CONFIGURED (``require``), so a client learns that
the deployment lacks the provider rather than that the API lacks the method (UNIMPLEMENTED
would say the latter). The caller is still checked first: a call without a believable
principal is UNAUTHENTICATED whatever the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from gateway_svc.domain.errors import GatewayError, NoProviderAvailable, ValidationFailed
from gateway_svc.domain.idempotency import StoredResponse
from paymesh.common.v1.money_pb2 import Money
from svc_kit.faults import FieldViolation
from svc_kit.principal import EDGE_SPIFFE_ID, EdgePrincipal

from . import metadata
from .errors import stored_error
from .metadata import Ctx
from .responses import OK

T = TypeVar("T")
S = TypeVar("S")


class FxProviderNotConfigured(NoProviderAvailable):
    """Raised when an FX, beneficiary or payout RPC reaches a gateway without an FX provider
    (no ``GATEWAY_CURRENCYCLOUD__BASE_URL``). UNAVAILABLE, as every NoProviderAvailable:
    nothing was done, and the same request succeeds once a provider is configured.

    An entrypoint refusal, like PrincipalMissing: the use cases never exist without a
    provider, so the domain never raises it."""

    reason = "FX_PROVIDER_NOT_CONFIGURED"


def require(service: S | None, rpc: str) -> S:
    """``service``, or FxProviderNotConfigured for ``rpc`` when the gateway has none."""
    if service is None:
        raise FxProviderNotConfigured(
            f"{rpc} is unavailable: this gateway has no FX provider configured",
            metadata={"rpc": rpc},
        )
    return service


class EdgeServicer:
    """The caller and the idempotency key, as ``PaymentServicer`` reads them."""

    def __init__(
        self, *, edge_spiffe_id: str = EDGE_SPIFFE_ID, trust_plaintext: bool = False
    ) -> None:
        self._edge = edge_spiffe_id
        self._trust_plaintext = trust_plaintext

    def _caller(self, context: Ctx) -> EdgePrincipal:
        return metadata.caller(
            context, edge_spiffe_id=self._edge, trust_plaintext=self._trust_plaintext
        )

    @staticmethod
    def _key(field_value: str, context: Ctx) -> str:
        return metadata.request_id(field_value, context.invocation_metadata() or ())


def renderer(to_message: Callable[[T], Message]) -> Callable[[T | GatewayError], StoredResponse]:
    """The render callback of a keyed mutation: its result as the response message's bytes,
    or an error as its stored status (``responses`` explains why once, and stored)."""

    def render(result: T | GatewayError) -> StoredResponse:
        if isinstance(result, GatewayError):
            return stored_error(result)
        # Deterministic, so one result has one encoding whenever it is rendered.
        return StoredResponse(OK, to_message(result).SerializeToString(deterministic=True))

    return render


def invalid(violations: Sequence[FieldViolation]) -> ValidationFailed:
    """One ValidationFailed carrying every violation, worded as the domain words them."""
    text = "; ".join(f"{v.field} {v.description}" for v in violations)
    return ValidationFailed(f"invalid request: {text}", violations=list(violations))


def merged(found: Sequence[FieldViolation], check: Callable[[], object]) -> ValidationFailed:
    """``found`` (the entrypoint's own violations) together with the domain's verdict on the
    rest of the request (``check``), one violation per field: a client fixing one field at a
    time would otherwise need a round trip per field."""
    named = {v.field for v in found}
    rest: list[FieldViolation] = []
    try:
        check()
    except ValidationFailed as exc:
        rest = [v for v in exc.violations if v.field not in named]
    return invalid([*found, *rest])


def currency_violation(amount: Money, expected: str, path: str) -> FieldViolation | None:
    """A violation when ``amount`` names a currency other than ``expected``; an empty
    ``currency_code`` means ``expected`` (the proto allows leaving it out)."""
    given = amount.currency_code
    if not given or given == expected:
        return None
    return FieldViolation(f"{path}.currency_code", f"must be {expected}, or empty")


def time_in(request: Message, field: str) -> datetime | None:
    """A Timestamp field as an aware UTC datetime; None when unset (no bound)."""
    if not request.HasField(field):
        return None
    ts = getattr(request, field)
    assert isinstance(ts, Timestamp)
    return ts.ToDatetime(tzinfo=UTC)
