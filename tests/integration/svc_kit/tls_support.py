"""For mTLS tests: certificates the dev PKI would never issue, a raw TLS handshake, and typed
health, reflection and ErrorInfo helpers.

The handshake is Python's ``ssl`` module, not gRPC: it shows what the server negotiates (TLS
version, cipher) and which certificate it presents, which a gRPC channel hides. The typeshed
stubs of HealthStub and ServerReflectionStub describe the sync API only, so those calls are
spelled out with their serializers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from svc_kit.pki import write_atomically

HealthRequest = health_pb2.HealthCheckRequest
HealthResponse = health_pb2.HealthCheckResponse
ReflectionRequest = reflection_pb2.ServerReflectionRequest
ReflectionResponse = reflection_pb2.ServerReflectionResponse


def odd_leaf(pki: Path, name: str, *, uris: tuple[str, ...], common_name: str) -> tuple[Path, Path]:
    """A client certificate of ``pki``'s CA with exactly ``uris`` as SANs (none: no SAN at all).

    Written next to the CA as ``<name>.pem`` / ``<name>-key.pem``; returns both paths.
    """
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca-key.pem").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if uris:
        sans = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris])
        builder = builder.add_extension(sans, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = pki / f"{name}.pem", pki / f"{name}-key.pem"
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), secret=False)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomically(key_path, key_pem, secret=True)
    return cert_path, key_path


@dataclass(frozen=True)
class Handshake:
    """What one TLS handshake with a server settled on."""

    version: str
    cipher: str
    alpn: str | None
    server_serial: int


def handshake(
    port: int,
    *,
    ca_file: Path,
    cert_file: Path,
    key_file: Path,
    maximum_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
) -> Handshake:
    """Connect to 127.0.0.1:``port`` over TLS as gRPC would (ALPN h2) and report. Blocking."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(cert_file), str(key_file))
    context.set_alpn_protocols(["h2"])
    context.maximum_version = maximum_version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        cipher = tls.cipher()
        version = tls.version()
        assert der is not None and cipher is not None and version is not None
        return Handshake(
            version=version,
            cipher=cipher[0],
            alpn=tls.selected_alpn_protocol(),
            server_serial=x509.load_der_x509_certificate(der).serial_number,
        )


async def health_status(channel: grpc.aio.Channel) -> int:
    """The overall service's health, as Envoy's health checker asks for it."""
    check: grpc.aio.UnaryUnaryMultiCallable[HealthRequest, HealthResponse]
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=HealthRequest.SerializeToString,
        response_deserializer=HealthResponse.FromString,
    )
    return int((await check(HealthRequest(), timeout=5)).status)


async def reflected_services(channel: grpc.aio.Channel) -> list[str]:
    """The services reflection lists (a stream-stream call, as buf curl makes it)."""
    info: grpc.aio.StreamStreamMultiCallable[ReflectionRequest, ReflectionResponse]
    info = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=ReflectionRequest.SerializeToString,
        response_deserializer=ReflectionResponse.FromString,
    )
    names: list[str] = []
    async for reply in info(iter([ReflectionRequest(list_services="")]), timeout=5):
        names += [service.name for service in reply.list_services_response.service]
    return names


async def open_reflection_without_sending(channel: grpc.aio.Channel) -> None:
    """Open reflection's stream and send nothing; raises the status a refusing server ends it with.

    A refusal test must not send: when the server ends the stream before the client's
    first message is written, grpc.aio reports the failed send (INTERNAL, "Failed
    execute_batch") instead of the server's status, about once in 40 runs.
    """
    info: grpc.aio.StreamStreamMultiCallable[ReflectionRequest, ReflectionResponse]
    info = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=ReflectionRequest.SerializeToString,
        response_deserializer=ReflectionResponse.FromString,
    )

    async def silent() -> AsyncIterator[ReflectionRequest]:
        await asyncio.Event().wait()  # cancelled when the call ends
        yield ReflectionRequest()

    async for _ in info(silent(), timeout=5):
        pass


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo in a failed call's status details."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info
