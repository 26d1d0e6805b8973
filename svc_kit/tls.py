"""Mutual TLS for grpc.aio servers and channels, and the caller's SPIFFE id.

Every hop in paymesh is mutual TLS (architecture.md). Servers always require a client
certificate; a service learns who calls it from the certificate's single URI SAN,
``spiffe://paymesh.local/<workload>``, and ``svc_kit.peers`` decides whether that id may call.

Rotation without a restart: before each new connection's handshake, gRPC asks the server's
credentials whether its files changed (``grpc.dynamic_ssl_server_credentials``). We answer with
three ``stat`` calls; when the files did change and the new key matches the new certificate, the
handshake uses them. Connections already open keep what they were made with; a half-written
rotation (new certificate, old key) is not picked up until the pair matches again.

Listeners that are not gRPC (identity's HTTP ext_authz listener, an asyncio server) get the
same files and the same rotation from ``ssl_server_context``: OpenSSL's server-name callback runs
for every handshake, SNI or not, and swaps in a context built from the changed files (the
certificate, key and CA of that connection all come from the swapped-in context).

TLS versions: grpcio 1.85 cannot make a Python server require TLS 1.3. ``ssl_server_credentials``
and ``dynamic_ssl_server_credentials`` build core's legacy SSL server credentials, whose options
have no TLS version setter in the C API, and the Python wrapper passes none (core's defaults:
TLS 1.2 minimum, 1.3 maximum). Adding one is open work upstream (grpc/grpc#43074, #43080; the
channel side is #43045). So the services accept TLS 1.2 (grpc offers only ECDHE AEAD suites
there), every gRPC client negotiates 1.3, and Envoy, the one production caller, is configured for
TLS 1.3 on its upstream connections. ``ssl_server_context`` (Python's own ssl) does require 1.3.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from svc_kit._handlers import Context

_SPIFFE_PREFIX = "spiffe://"
_log = logging.getLogger(__name__)
# (inode, mtime, size) of each file: a rename (how svc_kit.pki writes) changes the inode, an
# in-place rewrite the mtime or size.
_Stamp = tuple[tuple[int, int, int], ...]


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        # grpc's own error for a bad PEM is a bare "ssl error"; name the file up front.
        raise OSError(f"cannot read TLS {what} file {path!r}: {exc.strerror}") from exc


def files_stamp(paths: Sequence[str]) -> _Stamp | None:
    """What changes when any of ``paths`` is replaced or rewritten; None while one is missing."""
    try:
        stats = [os.stat(path) for path in paths]
    except OSError:
        return None  # a file is being replaced right now: look again next time
    return tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in stats)


def server_credentials(cert_file: str, key_file: str, ca_file: str) -> grpc.ServerCredentials:
    """Server credentials that demand a client certificate signed by ``ca_file``, and pick up
    new contents of the three files for each new connection (see the module docstring)."""
    files = _ServerFiles(cert_file, key_file, ca_file)
    return grpc.dynamic_ssl_server_credentials(
        files.initial,
        # types-grpcio omits the None ("no change") that grpc documents and handles.
        files.fetch,  # type: ignore[arg-type]
        require_client_authentication=True,
    )


class _ServerFiles:
    """The certificate, key and CA a server reads, and the answer to "did they change?"."""

    def __init__(self, cert_file: str, key_file: str, ca_file: str) -> None:
        self._paths = (cert_file, key_file, ca_file)
        self._stamp = self._stat()
        self._unusable: _Stamp | None = None
        self.initial = self._load()

    def _stat(self) -> _Stamp | None:
        return files_stamp(self._paths)

    def _load(self) -> grpc.ServerCertificateConfiguration:
        cert_file, key_file, ca_file = self._paths
        cert = _read(cert_file, "certificate")
        key = _read(key_file, "key")
        ca = _read(ca_file, "CA")
        _check_pair(cert, key, cert_file, key_file)
        try:
            x509.load_pem_x509_certificates(ca)
        except ValueError as exc:
            raise ValueError(f"TLS CA file {ca_file!r} holds no valid PEM certificate") from exc
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's fetcher: a new configuration when the files changed and are usable, else None.

        Runs on a gRPC thread before every handshake, so the common case is three stat calls.
        """
        stamp = self._stat()
        if stamp is None or stamp in (self._stamp, self._unusable):
            return None
        try:
            config = self._load()
        except (OSError, ValueError) as exc:
            # Keep serving with the files we have; say so once per unusable state.
            self._unusable = stamp
            _log.warning("TLS files changed but are not usable yet: %s", exc)
            return None
        self._stamp = stamp
        _log.info("TLS files reloaded", extra={"cert_file": self._paths[0]})
        return config


def _check_pair(cert_pem: bytes, key_pem: bytes, cert_file: str, key_file: str) -> None:
    """Refuse a key that does not belong to the certificate (a rotation caught half-way)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot parse TLS {cert_file!r} / {key_file!r}: {exc}") from exc
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise ValueError(f"TLS key {key_file!r} does not match certificate {cert_file!r}")


def ssl_server_context(
    cert_file: str, key_file: str, ca_file: str, *, alpn: Sequence[str] = ("http/1.1",)
) -> ssl.SSLContext:
    """An ``ssl`` server context for asyncio listeners: TLS 1.3 only, a client certificate of
    ``ca_file`` required, ``alpn`` offered; new connections pick up changed files (see the
    module docstring). Raises OSError naming the files when they cannot be loaded now."""
    return _ContextFiles((cert_file, key_file, ca_file), tuple(alpn)).context


class _ContextFiles:
    """The files behind one ``ssl_server_context``, and the context each handshake gets."""

    def __init__(self, paths: tuple[str, str, str], alpn: tuple[str, ...]) -> None:
        self._paths = paths
        self._alpn = alpn
        self._stamp = files_stamp(paths)
        self._unusable: _Stamp | None = None
        self.context = self._load()
        self.context.sni_callback = self._pick
        self._current = self.context

    def _load(self) -> ssl.SSLContext:
        cert_file, key_file, ca_file = self._paths
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            # Refuses a key that does not match the certificate (a rotation caught half-way).
            context.load_cert_chain(cert_file, key_file)
            context.load_verify_locations(cafile=ca_file)
        except OSError as exc:  # ssl.SSLError too; its own text names no file
            files = f"{cert_file!r} / {key_file!r} / {ca_file!r}"
            raise OSError(f"cannot load TLS {files}: {exc}") from exc
        context.set_alpn_protocols(list(self._alpn))
        return context

    def _pick(self, conn: ssl.SSLObject, _server_name: str | None, _ctx: ssl.SSLContext) -> None:
        """Per handshake: three ``stat`` calls; a new context when the files changed and load."""
        stamp = files_stamp(self._paths)
        if stamp is not None and stamp not in (self._stamp, self._unusable):
            try:
                self._current = self._load()
            except OSError as exc:
                # Keep serving with the files we have; say so once per unusable state.
                self._unusable = stamp
                _log.warning("TLS files changed but are not usable yet: %s", exc)
            else:
                self._stamp = stamp
                _log.info("TLS files reloaded", extra={"cert_file": self._paths[0]})
        if self._current is not self.context:
            conn.context = self._current


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
