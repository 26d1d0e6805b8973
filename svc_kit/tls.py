"""Mutual TLS for grpc.aio servers and channels, and the caller's SPIFFE id.

Every hop in paymesh is mutual TLS (architecture.md). Servers always require a client
certificate; a service learns who calls it from the certificate's single URI SAN,
``spiffe://paymesh.local/<workload>``.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import grpc.aio

from svc_kit._handlers import Context

_SPIFFE_PREFIX = "spiffe://"


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        # grpc's own error for a bad PEM is a bare "ssl error"; name the file up front.
        raise OSError(f"cannot read TLS {what} file {path!r}: {exc.strerror}") from exc


def server_credentials(cert_file: str, key_file: str, ca_file: str) -> grpc.ServerCredentials:
    """Server credentials that demand a client certificate signed by ``ca_file``."""
    return grpc.ssl_server_credentials(
        [(_read(key_file, "key"), _read(cert_file, "certificate"))],
        root_certificates=_read(ca_file, "CA"),
        require_client_auth=True,
    )


def channel_credentials(cert_file: str, key_file: str, ca_file: str) -> grpc.ChannelCredentials:
    """Client credentials presenting ``cert_file`` and trusting only ``ca_file``."""
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file, "CA"),
        private_key=_read(key_file, "key"),
        certificate_chain=_read(cert_file, "certificate"),
    )


def peer_spiffe_id(context: Context) -> str | None:
    """The caller's SPIFFE id, or None on a plaintext call or a certificate without one."""
    auth = context.auth_context()
    # gRPC fills peer_spiffe_id only when the certificate has exactly one URI SAN.
    values = list(auth.get("peer_spiffe_id", ()))
    if len(values) == 1:
        return values[0].decode()
    spiffe_sans = [
        san.decode()
        for san in auth.get("x509_subject_alternative_name", ())
        if san.startswith(_SPIFFE_PREFIX.encode())
    ]
    # Several SPIFFE ids would make the identity ambiguous; trust none of them.
    return spiffe_sans[0] if len(spiffe_sans) == 1 else None
