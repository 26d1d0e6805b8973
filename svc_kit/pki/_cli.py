"""``python -m svc_kit.pki``: init, rotate and show (see the package docstring)."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from svc_kit.pki._certs import DEFAULT_WORKLOADS, cert_info
from svc_kit.pki._files import ExtraNames, list_certs, rotate_dev_pki, write_dev_pki

# A host name as DNS SANs take it (RFC 1123 labels, an optional leading wildcard label).
_DNS_RE = re.compile(r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


def _dns_name(value: str) -> str:
    if len(value) > 253 or not _DNS_RE.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a DNS name")
    return value.rstrip(".").lower()


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))  # canonical form, so duplicates collapse
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IP address") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m svc_kit.pki", description="Development PKI for paymesh."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the CA and workload certificates if missing")
    init.add_argument("--force", action="store_true", help="replace existing CA and certificates")
    rotate = commands.add_parser(
        "rotate", help="re-issue every workload certificate (new keys and serials)"
    )
    rotate.add_argument("--ca", action="store_true", help="make a new CA too, then re-issue all")
    show = commands.add_parser("show", help="print each certificate's SPIFFE id, serial, expiry")
    for command in (init, rotate, show):
        command.add_argument("--dir", type=Path, default=Path("var/pki"), help="PKI directory")
    for command in (init, rotate):
        command.add_argument(
            "--workload",
            action="append",
            dest="workloads",
            default=[],
            help="workload to issue for (repeatable; init default: "
            f"{' '.join(DEFAULT_WORKLOADS)}; rotate default: every leaf in --dir)",
        )
        command.add_argument(
            "--dns",
            action="append",
            type=_dns_name,
            default=[],
            help="extra DNS SAN for every leaf, besides localhost (repeatable)",
        )
        command.add_argument(
            "--ip",
            action="append",
            type=_ip_address,
            default=[],
            help="extra IP SAN for every leaf, besides 127.0.0.1 (repeatable)",
        )
    return parser


def _show(directory: Path) -> int:
    certs = list_certs(directory)
    if not certs:
        print(f"no certificates in {directory}", file=sys.stderr)
        return 1
    now = dt.datetime.now(dt.UTC)
    rows = []
    for name, pem in certs:
        info = cert_info(pem)
        identity = "CA " + info.subject if info.is_ca else " ".join(info.spiffe_ids) or "-"
        names = ",".join((*info.dns_names, *info.ip_addresses))
        expiry = info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        if info.not_after <= now:
            expiry += " EXPIRED"
        rows.append((name, identity, f"{info.serial:x}", expiry, names))
    header = ("FILE", "SPIFFE ID", "SERIAL", "NOT AFTER", "SANS")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "show":
        return _show(args.dir)
    extra = ExtraNames(dns_names=args.dns, ip_addresses=args.ip)
    if args.command == "init":
        workloads = args.workloads or DEFAULT_WORKLOADS
        write_dev_pki(args.dir, workloads, force=args.force, progress=True, extra=extra)
        return 0
    try:
        rotated = rotate_dev_pki(
            args.dir, args.workloads, new_ca=args.ca, progress=True, extra=extra
        )
    except FileNotFoundError as exc:
        print(f"rotate: {exc}", file=sys.stderr)
        return 1
    print(
        f"rotated {len(rotated)} certificate(s){' and the CA' if args.ca else ''}; running "
        "services pick the new files up on their next connection, Envoy on its restart"
    )
    return 0
