"""Making the certificates: a development CA, and leaves with one SPIFFE id each."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_WORKLOADS = ("ledger", "identity", "gateway", "envoy", "client")
TRUST_DOMAIN = "paymesh.local"
# Every leaf answers to these, so local tools reach any service on loopback.
DEFAULT_DNS_NAMES = ("localhost",)
DEFAULT_IP_ADDRESSES = ("127.0.0.1",)
_CA_DAYS = 3650
_LEAF_DAYS = 365
# Clocks of two machines (or a container) drift; a certificate valid "from now" can be
# rejected as not yet valid by a peer whose clock is a little behind.
_BACKDATE = dt.timedelta(minutes=5)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_ca(common_name: str) -> tuple[bytes, bytes]:
    """A self-signed CA valid for ten years. Returns (cert_pem, key_pem)."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_cert(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    workload: str,
    *,
    trust_domain: str = TRUST_DOMAIN,
    dns_names: Sequence[str] = DEFAULT_DNS_NAMES,
    ip_addresses: Sequence[str] = DEFAULT_IP_ADDRESSES,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
) -> tuple[bytes, bytes]:
    """A leaf for ``workload`` signed by the CA. Returns (cert_pem, key_pem).

    Valid for a year from now unless ``valid_from``/``valid_until`` say otherwise
    (tests use them to make an expired certificate).
    """
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the development CA key must be an EC key")
    key = _new_key()
    sans: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(spiffe_id(workload, trust_domain)),
        *(x509.DNSName(name) for name in dns_names),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses),
    ]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, workload)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from or now - _BACKDATE)
        .not_valid_after(valid_until or now + dt.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def spiffe_id(workload: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """The SPIFFE id a leaf for ``workload`` carries."""
    return f"spiffe://{trust_domain}/{workload}"


@dataclass(frozen=True)
class CertInfo:
    """What ``show`` prints about one certificate."""

    spiffe_ids: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    serial: int
    not_after: dt.datetime
    is_ca: bool
    subject: str


def cert_info(cert_pem: bytes) -> CertInfo:
    """Read a PEM certificate's identity, names, serial and expiry."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = x509.SubjectAlternativeName([])
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(
        spiffe_ids=tuple(
            uri
            for uri in sans.get_values_for_type(x509.UniformResourceIdentifier)
            if uri.startswith("spiffe://")
        ),
        dns_names=tuple(sans.get_values_for_type(x509.DNSName)),
        ip_addresses=tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)),
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
        is_ca=is_ca,
        subject=cert.subject.rfc4514_string(),
    )


def merged(*groups: Sequence[str]) -> tuple[str, ...]:
    """The names of every group, first occurrence first, each once."""
    return tuple(dict.fromkeys(name for group in groups for name in group))
