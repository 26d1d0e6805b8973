"""``python -m scripts.envoy_config``: build the descriptor set, render the bootstrap."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from scripts.envoy_config._descriptors import build_descriptor_set, services_with_http
from scripts.envoy_config._model import AUTHZ_PROTOCOLS, EdgeConfig
from scripts.envoy_config._render import write_config

DESCRIPTOR_SET_NAME = "paymesh.pb"
# `make run`'s ports (README); each --<cluster>-addr replaces its default.
DEFAULT_UPSTREAMS = {
    "ledger": ["127.0.0.1:50061"],
    "identity": ["127.0.0.1:50062"],
    "identity_authz": ["127.0.0.1:50063"],
    "gateway": ["127.0.0.1:50064"],
}
_UPSTREAM_FLAGS = ("ledger", "identity", "identity_authz", "gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.envoy_config",
        description="Generate the edge Envoy's bootstrap (OUT/envoy.json, OUT/paymesh.pb).",
    )
    parser.add_argument("--pki-dir", type=Path, required=True, help="from svc_kit.pki init")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    listeners = (
        ("rest", "127.0.0.1:8443", "REST listener (HTTPS, API keys)"),
        ("internal", "127.0.0.1:9443", "internal gRPC listener (mTLS, SPIFFE ids)"),
        ("admin", "127.0.0.1:9901", "Envoy's admin API (plain HTTP: keep it on loopback)"),
    )
    for name, default, what in listeners:
        parser.add_argument(
            f"--{name}-addr",
            default=default,
            metavar="HOST:PORT",
            help=f"{what} (default: {default})",
        )
    for name in _UPSTREAM_FLAGS:
        replicas = DEFAULT_UPSTREAMS.get(name)
        parser.add_argument(
            f"--{name.replace('_', '-')}-addr",
            dest=name,
            action="append",
            metavar="HOST:PORT",
            help=f"host:port of one {name} replica, repeatable (default: "
            f"{' '.join(replicas) if replicas else 'none, no cluster'})",
        )
    parser.add_argument(
        "--require-client-cert",
        action="store_true",
        help="REST listener: refuse clients without a certificate of our CA",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=1 << 20,
        metavar="N",
        help="REST bodies above this are refused with 413 (default: 1 MiB)",
    )
    parser.add_argument(
        "--authz-protocol",
        choices=AUTHZ_PROTOCOLS,
        default="http",
        help="how ext_authz asks identity at --identity-authz-addr: its HTTP check"
        " listener (IDENTITY_AUTHZ_HTTP_LISTEN_ADDR, default) or its gRPC Check"
        " (IDENTITY_AUTHZ_LISTEN_ADDR)",
    )
    parser.add_argument(
        "--access-log", default="", metavar="FILE", help="JSON access log file (default: stdout)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    descriptor_set = out / DESCRIPTOR_SET_NAME
    build_descriptor_set(descriptor_set)
    upstreams = {
        name: getattr(args, name) or DEFAULT_UPSTREAMS[name]
        for name in _UPSTREAM_FLAGS
        if getattr(args, name) or name in DEFAULT_UPSTREAMS
    }
    cfg = EdgeConfig(
        rest_addr=args.rest_addr,
        internal_addr=args.internal_addr,
        admin_addr=args.admin_addr,
        upstreams=upstreams,
        pki_dir=args.pki_dir.resolve(),
        descriptor_set=descriptor_set,
        require_client_cert=args.require_client_cert,
        max_request_bytes=args.max_request_bytes,
        access_log_path=args.access_log,
        authz_protocol=args.authz_protocol,
    )
    config = write_config(cfg, out)
    print(f"envoy_config: wrote {descriptor_set}")
    print(
        f"envoy_config: wrote {config} (services: {', '.join(services_with_http(descriptor_set))})"
    )
