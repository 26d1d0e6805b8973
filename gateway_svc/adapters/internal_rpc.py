"""What the gateway's clients of our own services share: the channel, and one error tree.

The gateway reaches the ledger and identity's AuditService through Envoy's internal listener
(``:9443``), over mutual TLS with its own certificate; Envoy authorizes each call by that
certificate's SPIFFE id (``spiffe://paymesh.local/gateway``). Plaintext channels exist only for
tests on loopback and must be asked for (``ClientTls`` None).

Every failed call becomes one of these, so the use cases see no gRPC::

    UpstreamError
     +-- UpstreamUnavailable   the call may not have happened, or its answer was lost:
     |    |                    retry later with the same request_id / event_id (both
     |    |                    services are idempotent on them), or give up and reconcile
     |    +-- LedgerUnavailable (ledger_client)
     |    +-- AuditUnavailable  (audit_client)
     +-- UpstreamRefused       the service answered no: retrying the same call cannot help;
          |                    ``reason`` is the google.rpc.ErrorInfo reason
          +-- LedgerRefused     (ledger_client; e.g. LIMIT_EXCEEDED, PENDING_EXPIRED)
          +-- AuditRefused      (audit_client; e.g. EVENT_ID_REUSED)

Channel credentials are read once, when the channel is made: after a certificate rotation
(``python -m svc_kit.pki rotate``) a new client picks up the new files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
from google.rpc import error_details_pb2, status_pb2

_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Codes after which the same call, retried with the same idempotency key, may succeed:
# the request never arrived, the answer was lost, or the service asked for a retry
# (ABORTED: CONCURRENT_MODIFICATION). Everything else is the service's considered "no".
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)


class UpstreamError(Exception):
    """A call to one of our own services failed; the subclass says whether to retry."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason or code.name
        """The ErrorInfo reason, or the status code's name when the answer carried none
        (Envoy's own refusals: RBAC's PERMISSION_DENIED, an unreachable upstream)."""
        self.metadata = dict(metadata or {})


class UpstreamUnavailable(UpstreamError):
    """Raised when the call may not have taken place; retry it later, unchanged."""


class UpstreamRefused(UpstreamError):
    """Raised when the service refused the call; ``reason`` says why."""


@dataclass(frozen=True, slots=True)
class ClientTls:
    """The gateway's own certificate, presented to Envoy, and the CA Envoy's must chain to."""

    cert_file: str
    key_file: str
    ca_file: str

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials from the files as they are now."""
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca_file).read_bytes(),
            private_key=Path(self.key_file).read_bytes(),
            certificate_chain=Path(self.cert_file).read_bytes(),
        )


def internal_channel(target: str, tls: ClientTls | None) -> grpc.aio.Channel:
    """A channel to ``target`` (host:port): mTLS, or plaintext when ``tls`` is None (tests)."""
    options = [
        ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.primary_user_agent", "paymesh-gateway"),
    ]
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, tls.credentials(), options=options)


def error_info(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The ErrorInfo (reason, metadata) in the status details; ("", {}) when there is none."""
    for key, value in error.trailing_metadata() or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return info.reason, dict(info.metadata)
    return "", {}


def translate(
    error: grpc.aio.AioRpcError,
    what: str,
    unavailable: type[UpstreamUnavailable],
    refused: type[UpstreamRefused],
) -> UpstreamError:
    """The gateway's exception for a failed call of ``what`` ("ledger CreateAccount")."""
    code = error.code()
    reason, metadata = error_info(error)
    message = f"{what}: {code.name}: {error.details() or ''}".rstrip(": ")
    kind = unavailable if code in _TRANSIENT else refused
    return kind(message, code=code, reason=reason, metadata=metadata)


def translate_status(
    status: status_pb2.Status,
    what: str,
    unavailable: type[UpstreamUnavailable],
    refused: type[UpstreamRefused],
) -> UpstreamError:
    """``translate`` for a status carried inside a reply (one item of a batch call that
    answers per item) rather than raised by the call."""
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    reason, metadata = "", {}
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
            break
    message = f"{what}: {code.name}: {status.message}".rstrip(": ")
    kind = unavailable if code in _TRANSIENT else refused
    return kind(message, code=code, reason=reason, metadata=metadata)


_CODES = {code.value[0]: code for code in grpc.StatusCode}
