"""Generate the edge Envoy's bootstrap from the proto descriptors.

Usage:

    .venv/bin/python scripts/envoy_config.py --pki-dir var/pki --out var/envoy \\
        [--rest-addr 127.0.0.1:8443] [--admin-addr 127.0.0.1:9901] \\
        [--ledger-addr 127.0.0.1:50061] [--identity-addr 127.0.0.1:50062] \\
        [--identity-authz-addr 127.0.0.1:50063]

writes OUT/paymesh.pb (a FileDescriptorSet) and OUT/envoy.json (the bootstrap).

The descriptor set is the one source of truth: the services the JSON
transcoder exposes, and the upstream route of each, come from the
google.api.http bindings in it, never from a hand-written list. Each
transcoded service ``paymesh.<name>.v1.<Svc>`` is served by the cluster
``<name>`` (its workload, whose SPIFFE id is checked on the upstream mTLS).

Filter order on the REST listener, and why (guide/edge.md):

1. ext_authz: sees the REST path and method, so identity can decide per
   REST route. It only checks when a route matches the REST path, hence the
   catch-all ``/`` route below.
2. grpc_json_transcoder: maps REST to gRPC, rewrites ``:path`` to the gRPC
   path and clears the route cache; an unknown REST path gets a 404 here
   (reject_unknown_method).
3. router: matches again on the gRPC path, ``/<service>/`` to the service's
   cluster.

Routes: one prefix route per transcoded service on its gRPC path, then a
catch-all ``/`` that answers 404 itself (direct_response). Before the
transcoder every REST path matches the catch-all (so ext_authz always runs);
after it, the gRPC path matches its service's route. Only a request the
transcoder let through untranslated (a gRPC call to another service) ever
reaches the catch-all's 404.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

if TYPE_CHECKING:
    from google.protobuf.internal.extension_dict import _ExtensionFieldDescriptor

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = "proto"
VENDOR_DIR = "proto_vendor"
# Without these the transcoder cannot print google.rpc.Status details, and
# convert_grpc_status silently returns an empty body (edge.md).
ERROR_DETAIL_PROTOS = (
    f"{VENDOR_DIR}/google/rpc/error_details.proto",
    f"{VENDOR_DIR}/google/rpc/status.proto",
)
TRUST_DOMAIN = "paymesh.local"
DESCRIPTOR_SET_NAME = "paymesh.pb"
CONFIG_NAME = "envoy.json"
REST_LISTENER = "rest"
AUTHZ_CLUSTER = "identity_authz"
ENVOY_WORKLOAD = "envoy"
HTTP_BODY = ".google.api.HttpBody"
_TYPE = "type.googleapis.com/"
# googleapis-common-protos types the extension as a plain FieldDescriptor.
_HTTP = cast(
    "_ExtensionFieldDescriptor[descriptor_pb2.MethodOptions, http_pb2.HttpRule]",
    annotations_pb2.http,
)


@dataclass(frozen=True)
class EdgeConfig:
    """Where everything is: addresses are host:port (port 0 lets the kernel pick)."""

    rest_addr: str
    admin_addr: str
    ledger_addr: str
    identity_addr: str
    identity_authz_addr: str
    pki_dir: Path
    descriptor_set: Path


def build_descriptor_set(out_path: Path) -> None:
    """Compile proto/paymesh/** plus the google.rpc error types into one descriptor set.

    The set is written deterministically to ``out_path``. Envoy 1.40's
    transcoder refuses to start on a binding whose ``response_body`` names a
    field that is not a google.api.HttpBody ("Setting "response_body" is not
    supported yet for non-HttpBody fields"); such a binding is refused here,
    naming the method, rather than at Envoy's start. REST responses are the
    whole response message (``{"account": {...}}``).
    """
    protos = sorted(
        p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / PROTO_DIR).rglob("*.proto")
    )
    if not protos:
        raise RuntimeError(f"no .proto files under {REPO_ROOT / PROTO_DIR}")
    wkt_include = resources.files("grpc_tools") / "_proto"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.pb"
        args = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{VENDOR_DIR}",
            f"-I{wkt_include}",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={raw}",
            *protos,
            *ERROR_DETAIL_PROTOS,
        ]
        result = subprocess.run(  # noqa: S603 - fixed argv
            args, cwd=REPO_ROOT, check=False, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"protoc failed ({result.returncode}):\n{result.stderr}")
        files = descriptor_pb2.FileDescriptorSet.FromString(raw.read_bytes())
    unsupported = _unsupported_response_bodies(files)
    if unsupported:
        raise ValueError(
            "Envoy's transcoder supports response_body only for google.api.HttpBody fields; "
            f"remove it from: {', '.join(unsupported)}"
        )
    out_path.write_bytes(files.SerializeToString(deterministic=True))


def _unsupported_response_bodies(files: descriptor_pb2.FileDescriptorSet) -> list[str]:
    """The methods with a ``response_body`` that names a non-HttpBody field."""
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}

    def collect(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}"
        messages[name] = message
        for nested in message.nested_type:
            collect(name, nested)

    for file in files.file:
        for message in file.message_type:
            collect(f".{file.package}" if file.package else "", message)

    def is_http_body(message_name: str, field_name: str) -> bool:
        fields = {f.name: f for f in messages[message_name].field}
        return field_name in fields and fields[field_name].type_name == HTTP_BODY

    unsupported: list[str] = []
    for file in files.file:
        for service in file.service:
            for method in service.method:
                if not method.options.HasExtension(_HTTP):
                    continue
                rule = method.options.Extensions[_HTTP]
                touched = False
                for binding in (rule, *rule.additional_bindings):
                    body = binding.response_body
                    if body and not is_http_body(method.output_type, body):
                        touched = True
                if touched:
                    unsupported.append(f"{file.package}.{service.name}.{method.name}")
    return sorted(unsupported)


def services_with_http(descriptor_set_path: Path) -> list[str]:
    """Full names of the services with at least one google.api.http binding, sorted."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_path.read_bytes())
    names: set[str] = set()
    for file in files.file:
        for service in file.service:
            if any(m.options.HasExtension(_HTTP) for m in service.method):
                names.add(f"{file.package}.{service.name}" if file.package else service.name)
    return sorted(names)


def workload_of(service: str) -> str:
    """The workload (and cluster) serving ``paymesh.<workload>.v1.<Service>``."""
    parts = service.split(".")
    if len(parts) < 4 or parts[0] != "paymesh":
        raise ValueError(f"not a paymesh.<workload>.<version>.<Service> name: {service!r}")
    return parts[1]


def spiffe_id(workload: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/{workload}"


def socket_address(addr: str) -> dict[str, Any]:
    """An Envoy Address from host:port."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {addr!r}")
    return {"socket_address": {"address": host.strip("[]"), "port_value": int(port)}}


def _file(path: Path) -> dict[str, str]:
    return {"filename": str(path)}


def _certificate(cfg: EdgeConfig) -> dict[str, Any]:
    return {
        "certificate_chain": _file(cfg.pki_dir / f"{ENVOY_WORKLOAD}.pem"),
        "private_key": _file(cfg.pki_dir / f"{ENVOY_WORKLOAD}-key.pem"),
    }


def _cluster(cfg: EdgeConfig, name: str, addr: str, workload: str) -> dict[str, Any]:
    """An HTTP/2 upstream over mTLS that must present ``workload``'s SPIFFE id."""
    tls = {
        "@type": _TYPE + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "tls_params": {"tls_maximum_protocol_version": "TLSv1_3"},
            "alpn_protocols": ["h2"],
            "tls_certificates": [_certificate(cfg)],
            "validation_context": {
                "trusted_ca": _file(cfg.pki_dir / "ca.pem"),
                "match_typed_subject_alt_names": [
                    {"san_type": "URI", "matcher": {"exact": spiffe_id(workload)}}
                ],
            },
        },
    }
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(addr)}}]}],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _TYPE + "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": tls},
    }


def _routes(services: list[str]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = [
        {"match": {"prefix": f"/{service}/"}, "route": {"cluster": workload_of(service)}}
        for service in services
    ]
    # Matched by every REST path before the transcoder, so ext_authz always checks.
    routes.append({"match": {"prefix": "/"}, "direct_response": {"status": 404}})
    return routes


def _http_filters(cfg: EdgeConfig, services: list[str]) -> list[dict[str, Any]]:
    ext_authz = {
        "@type": _TYPE + "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "grpc_service": {"envoy_grpc": {"cluster_name": AUTHZ_CLUSTER}, "timeout": "0.5s"},
        "transport_api_version": "V3",
        "failure_mode_allow": False,
    }
    transcoder = {
        "@type": _TYPE + "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        "proto_descriptor": str(cfg.descriptor_set),
        "services": services,
        "print_options": {
            "add_whitespace": False,
            "always_print_primitive_fields": True,
            "always_print_enums_as_ints": False,
            "preserve_proto_field_names": True,
        },
        "convert_grpc_status": True,
        "request_validation_options": {
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
        },
    }
    router = {"@type": _TYPE + "envoy.extensions.filters.http.router.v3.Router"}
    return [
        {"name": "envoy.filters.http.ext_authz", "typed_config": ext_authz},
        {"name": "envoy.filters.http.grpc_json_transcoder", "typed_config": transcoder},
        {"name": "envoy.filters.http.router", "typed_config": router},
    ]


def _rest_listener(cfg: EdgeConfig, services: list[str]) -> dict[str, Any]:
    hcm = {
        "@type": _TYPE
        + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": REST_LISTENER,
        "codec_type": "AUTO",
        "route_config": {
            "name": REST_LISTENER,
            "virtual_hosts": [{"name": "paymesh", "domains": ["*"], "routes": _routes(services)}],
        },
        "http_filters": _http_filters(cfg, services),
    }
    tls = {
        "@type": _TYPE + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        # Client certificates are optional; when one is sent it must chain to our CA.
        "require_client_certificate": False,
        "common_tls_context": {
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_certificates": [_certificate(cfg)],
            "validation_context": {"trusted_ca": _file(cfg.pki_dir / "ca.pem")},
        },
    }
    return {
        "name": REST_LISTENER,
        "address": socket_address(cfg.rest_addr),
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ],
                "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": tls},
            }
        ],
    }


def render(cfg: EdgeConfig) -> dict[str, Any]:
    """The Envoy bootstrap (JSON-compatible) for ``cfg``; the descriptor set must exist."""
    services = services_with_http(cfg.descriptor_set)
    if not services:
        raise ValueError(f"{cfg.descriptor_set} has no service with a google.api.http binding")
    upstreams = {"ledger": cfg.ledger_addr, "identity": cfg.identity_addr}
    unknown = {workload_of(s) for s in services} - upstreams.keys()
    if unknown:
        raise ValueError(f"no upstream address for transcoded workload(s) {sorted(unknown)}")
    clusters = [_cluster(cfg, name, addr, name) for name, addr in sorted(upstreams.items())]
    clusters.append(_cluster(cfg, AUTHZ_CLUSTER, cfg.identity_authz_addr, "identity"))
    return {
        "admin": {"address": socket_address(cfg.admin_addr)},
        "static_resources": {
            "listeners": [_rest_listener(cfg, services)],
            "clusters": clusters,
        },
    }


def write_config(cfg: EdgeConfig, out_dir: Path) -> Path:
    """Write ``render(cfg)`` to OUT_DIR/envoy.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CONFIG_NAME
    path.write_text(json.dumps(render(cfg), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the edge Envoy's bootstrap.")
    parser.add_argument("--pki-dir", type=Path, required=True, help="from svc_kit.pki init")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--rest-addr", default="127.0.0.1:8443")
    parser.add_argument("--admin-addr", default="127.0.0.1:9901")
    parser.add_argument("--ledger-addr", default="127.0.0.1:50061")
    parser.add_argument("--identity-addr", default="127.0.0.1:50062")
    parser.add_argument("--identity-authz-addr", default="127.0.0.1:50063")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    descriptor_set = out / DESCRIPTOR_SET_NAME
    build_descriptor_set(descriptor_set)
    cfg = EdgeConfig(
        rest_addr=args.rest_addr,
        admin_addr=args.admin_addr,
        ledger_addr=args.ledger_addr,
        identity_addr=args.identity_addr,
        identity_authz_addr=args.identity_authz_addr,
        pki_dir=args.pki_dir.resolve(),
        descriptor_set=descriptor_set,
    )
    config = write_config(cfg, out)
    print(f"envoy_config: wrote {descriptor_set}")
    print(
        f"envoy_config: wrote {config} (services: {', '.join(services_with_http(descriptor_set))})"
    )


if __name__ == "__main__":
    main()
