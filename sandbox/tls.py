"""The sandbox's TLS: a server context, and its certificate issued from the dev CA.

With ``--pki-dir`` the sandbox serves ``sandbox.pem`` / ``sandbox-key.pem`` from that directory,
issuing them from the directory's dev CA (svc_kit.pki) when they are missing, expired or
signed by another CA (after ``rotate --ca``), so gateways that trust ``ca.pem`` trust it too.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from svc_kit.pki import issue_cert, write_atomically

WORKLOAD = "sandbox"
CA_FILE, CA_KEY_FILE = "ca.pem", "ca-key.pem"
CERT_FILE, KEY_FILE = f"{WORKLOAD}.pem", f"{WORKLOAD}-key.pem"
# Re-issue a little before expiry, so a long stack run never serves an expired certificate.
_RENEW_BEFORE = dt.timedelta(days=7)


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context; ALPN says http/1.1 (the only protocol served)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["http/1.1"])
    return context


def ensure_pki_cert(pki_dir: Path) -> tuple[Path, Path]:
    """(cert, key) of the sandbox in ``pki_dir``, issued from its CA when needed.

    Raises FileNotFoundError when the directory has no CA: the sandbox never makes a CA of
    its own, since no client would trust it.
    """
    ca_path, ca_key_path = pki_dir / CA_FILE, pki_dir / CA_KEY_FILE
    if not (ca_path.exists() and ca_key_path.exists()):
        raise FileNotFoundError(
            f"no dev CA in {pki_dir} (ca.pem, ca-key.pem): run `python -m svc_kit.pki init "
            f"--dir {pki_dir}` first"
        )
    cert_path, key_path = pki_dir / CERT_FILE, pki_dir / KEY_FILE
    ca_pem = ca_path.read_bytes()
    if not (key_path.exists() and _still_good(cert_path, ca_pem)):
        cert_pem, key_pem = issue_cert(ca_pem, ca_key_path.read_bytes(), WORKLOAD)
        # Key first, as svc_kit.pki does: whoever sees the new certificate finds its key.
        write_atomically(key_path, key_pem, secret=True)
        write_atomically(cert_path, cert_pem, secret=False)
    return cert_path, key_path


def _still_good(cert_path: Path, ca_pem: bytes) -> bool:
    """True when the certificate exists, is signed by this CA and is not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return cert.not_valid_after_utc - _RENEW_BEFORE > dt.datetime.now(dt.UTC)
