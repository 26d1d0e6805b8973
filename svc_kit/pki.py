"""Development PKI: a CA and one certificate per workload, carrying a SPIFFE id.

For development and tests only; production certificates come from the operator's own CA.
Each leaf has exactly one URI SAN, ``spiffe://<trust_domain>/<workload>``, because gRPC sets
``peer_spiffe_id`` only in that case and Envoy matches on it. Leaves carry both serverAuth and
clientAuth: every service is a server to its callers and a client of the services it calls.

    python -m svc_kit.pki init --dir var/pki [--force] [--workload NAME ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_WORKLOADS = ("ledger", "identity", "gateway", "envoy", "client")
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
    trust_domain: str = "paymesh.local",
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
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
        x509.UniformResourceIdentifier(f"spiffe://{trust_domain}/{workload}"),
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


def _write(path: Path, data: bytes, *, secret: bool) -> None:
    # Create with the final mode so a key is never readable by others, even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    if secret:
        path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed


def write_dev_pki(
    directory: Path,
    workloads: Sequence[str] = DEFAULT_WORKLOADS,
    *,
    force: bool = False,
    progress: bool = False,
) -> None:
    """Write ca.pem, ca-key.pem and <workload>.pem / <workload>-key.pem into ``directory``.

    Existing files are kept unless ``force``, so running it at every start is cheap and does not
    invalidate certificates that running peers already hold. A new CA re-issues every leaf.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    new_ca = force or not (ca_path.exists() and ca_key_path.exists())
    if new_ca:
        ca_pem, ca_key = generate_ca("paymesh development CA")
        _write(ca_path, ca_pem, secret=False)
        _write(ca_key_path, ca_key, secret=True)
        _say(progress, f"wrote {ca_path} (new CA)")
    else:
        ca_pem, ca_key = ca_path.read_bytes(), ca_key_path.read_bytes()
        _say(progress, f"kept {ca_path}")
    for workload in workloads:
        cert_path, key_path = directory / f"{workload}.pem", directory / f"{workload}-key.pem"
        if not new_ca and cert_path.exists() and key_path.exists():
            _say(progress, f"kept {cert_path}")
            continue
        cert_pem, key_pem = issue_cert(ca_pem, ca_key, workload)
        _write(cert_path, cert_pem, secret=False)
        _write(key_path, key_pem, secret=True)
        _say(progress, f"wrote {cert_path} (spiffe://paymesh.local/{workload})")


def _say(enabled: bool, line: str) -> None:
    if enabled:
        print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m svc_kit.pki", description="Development PKI for paymesh."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the development CA and workload certificates")
    init.add_argument("--dir", type=Path, default=Path("var/pki"), help="output directory")
    init.add_argument("--force", action="store_true", help="replace existing CA and certificates")
    init.add_argument(
        "--workload",
        action="append",
        dest="workloads",
        help=f"workload to issue for (repeatable; default: {' '.join(DEFAULT_WORKLOADS)})",
    )
    args = parser.parse_args(argv)
    write_dev_pki(args.dir, args.workloads or DEFAULT_WORKLOADS, force=args.force, progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
