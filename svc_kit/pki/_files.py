"""The PKI directory: ca.pem, ca-key.pem and <workload>.pem / <workload>-key.pem.

Every file is replaced atomically (a temporary file in the same directory, then a rename), so a
service re-reading its files (svc_kit.tls) sees the old file or the new one, never half of one.
Keys are created 0600 and never pass through another mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from svc_kit.pki._certs import (
    DEFAULT_DNS_NAMES,
    DEFAULT_IP_ADDRESSES,
    DEFAULT_WORKLOADS,
    cert_info,
    generate_ca,
    issue_cert,
    merged,
    spiffe_id,
)

CA_NAME = "paymesh development CA"
_CA_FILE, _CA_KEY_FILE = "ca.pem", "ca-key.pem"
_KEY_SUFFIX = "-key.pem"
Say = Callable[[str], None]


@dataclass(frozen=True)
class ExtraNames:
    """SANs every leaf gets on top of localhost and 127.0.0.1 (docker-compose: ``ledger``)."""

    dns_names: Sequence[str] = ()
    ip_addresses: Sequence[str] = ()


def _quiet(line: str) -> None:
    del line


def _loud(line: str) -> None:
    print(line, flush=True)  # progress shows live under make, not when the buffer fills


def write_atomically(path: Path, data: bytes, *, secret: bool) -> None:
    """Replace ``path`` with ``data`` in one rename; a secret is 0600 from its first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    try:
        # O_CREAT's mode does not apply to a temporary file left behind by a crash.
        os.fchmod(fd, 0o600 if secret else 0o644)
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
            out.flush()
            os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def workloads_in(directory: Path) -> list[str]:
    """The workloads that have both a certificate and a key in ``directory``."""
    return sorted(
        path.name.removesuffix(_KEY_SUFFIX)
        for path in directory.glob(f"*{_KEY_SUFFIX}")
        if path.name != _CA_KEY_FILE
        and (directory / f"{path.name.removesuffix(_KEY_SUFFIX)}.pem").exists()
    )


def write_dev_pki(
    directory: Path,
    workloads: Sequence[str] = DEFAULT_WORKLOADS,
    *,
    force: bool = False,
    progress: bool = False,
    extra: ExtraNames = ExtraNames(),  # frozen: one shared default is safe
) -> None:
    """Write the CA and a certificate per workload into ``directory``.

    Existing files are kept unless ``force``, so running it at every start is cheap and does not
    invalidate certificates that running peers already hold. A new CA re-issues every leaf.
    """
    say: Say = _loud if progress else _quiet
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = directory / _CA_FILE, directory / _CA_KEY_FILE
    new_ca = force or not (ca_path.exists() and ca_key_path.exists())
    if new_ca:
        ca_pem, ca_key = _new_ca(directory, say)
    else:
        ca_pem, ca_key = ca_path.read_bytes(), ca_key_path.read_bytes()
        say(f"kept {ca_path}")
    for workload in workloads:
        cert_path = directory / f"{workload}.pem"
        if not new_ca and cert_path.exists() and (directory / f"{workload}-key.pem").exists():
            say(f"kept {cert_path}{_missing_names(cert_path, extra)}")
            continue
        _issue(directory, workload, (ca_pem, ca_key), extra, say, verb="wrote")


def rotate_dev_pki(
    directory: Path,
    workloads: Sequence[str] = (),
    *,
    new_ca: bool = False,
    progress: bool = False,
    extra: ExtraNames = ExtraNames(),  # frozen: one shared default is safe
) -> list[str]:
    """Re-issue every workload certificate (new keys, new serials); returns the workloads.

    The CA is kept unless ``new_ca``. A leaf keeps the DNS names and addresses it had, plus
    ``extra``. Without ``workloads``, every leaf in the directory is rotated (the defaults
    when there is none); with ``new_ca``, every leaf in the directory and ``workloads``.
    """
    say: Say = _loud if progress else _quiet
    ca_path, ca_key_path = directory / _CA_FILE, directory / _CA_KEY_FILE
    if new_ca:
        directory.mkdir(parents=True, exist_ok=True)
        ca = _new_ca(directory, say)
    elif ca_path.exists() and ca_key_path.exists():
        ca = ca_path.read_bytes(), ca_key_path.read_bytes()
        say(f"kept {ca_path} (the CA stays; only leaves change)")
    else:
        raise FileNotFoundError(f"no CA in {directory}: run `init` first, or `rotate --ca`")
    present = workloads_in(directory)
    # A new CA orphans every leaf it did not sign: re-issue all of them, not just those named.
    chosen = list(merged(present, workloads) if new_ca else workloads)
    chosen = chosen or present or list(DEFAULT_WORKLOADS)
    for workload in chosen:
        _issue(directory, workload, ca, extra, say, verb="re-issued")
    return chosen


def _new_ca(directory: Path, say: Say) -> tuple[bytes, bytes]:
    ca_pem, ca_key = generate_ca(CA_NAME)
    # Key first: a reader that sees the new CA certificate can already find its key.
    write_atomically(directory / _CA_KEY_FILE, ca_key, secret=True)
    write_atomically(directory / _CA_FILE, ca_pem, secret=False)
    say(f"wrote {directory / _CA_FILE} (new CA, serial {cert_info(ca_pem).serial:x})")
    return ca_pem, ca_key


def _issue(
    directory: Path,
    workload: str,
    ca: tuple[bytes, bytes],
    extra: ExtraNames,
    say: Say,
    *,
    verb: str,
) -> None:
    cert_path = directory / f"{workload}.pem"
    dns, ips = _names_of(cert_path)
    cert_pem, key_pem = issue_cert(
        *ca,
        workload,
        dns_names=merged(DEFAULT_DNS_NAMES, dns, extra.dns_names),
        ip_addresses=merged(DEFAULT_IP_ADDRESSES, ips, extra.ip_addresses),
    )
    # A server re-reading its files between these two renames sees a key that does not match
    # its certificate; svc_kit.tls waits for the pair to match again.
    write_atomically(directory / f"{workload}-key.pem", key_pem, secret=True)
    write_atomically(cert_path, cert_pem, secret=False)
    say(f"{verb} {cert_path} ({spiffe_id(workload)}, serial {cert_info(cert_pem).serial:x})")


def _names_of(cert_path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The DNS names and addresses an existing leaf carries; a rotation keeps them."""
    try:
        info = cert_info(cert_path.read_bytes())
    except (OSError, ValueError):
        return (), ()
    return info.dns_names, info.ip_addresses


def _missing_names(cert_path: Path, extra: ExtraNames) -> str:
    dns, ips = _names_of(cert_path)
    missing = [name for name in extra.dns_names if name not in dns]
    missing += [ip for ip in extra.ip_addresses if ip not in ips]
    return (
        f" (lacks {', '.join(missing)}; `rotate` with the same options adds it)" if missing else ""
    )


def list_certs(directory: Path) -> list[tuple[str, bytes]]:
    """(file name, PEM) of the CA and every leaf in ``directory``, CA first."""
    names = [_CA_FILE] if (directory / _CA_FILE).exists() else []
    names += [f"{workload}.pem" for workload in workloads_in(directory)]
    return [(name, (directory / name).read_bytes()) for name in names]
