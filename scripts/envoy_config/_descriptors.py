"""The descriptor set: compiled from proto/, then read for services, routes and access.

It is the one source of truth of the edge: which services the transcoder
exposes, which cluster serves each, and what each RPC requires on the
internal listener all come from it, never from a hand-written list.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, cast

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from paymesh.auth.v1 import auth_pb2

if TYPE_CHECKING:
    from google.protobuf.internal.extension_dict import _ExtensionFieldDescriptor

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = "proto"
VENDOR_DIR = "proto_vendor"
# Without these the transcoder cannot print google.rpc.Status details, and
# convert_grpc_status silently returns an empty body (edge.md).
ERROR_DETAIL_PROTOS = (
    f"{VENDOR_DIR}/google/rpc/error_details.proto",
    f"{VENDOR_DIR}/google/rpc/status.proto",
)
HTTP_BODY = ".google.api.HttpBody"
# Only our own services are routed; vendored ones (Envoy's Check) never are.
PAYMESH_PACKAGE = "paymesh."
THIRD_PARTY_PACKAGE = "paymesh.third_party."
ANY_AUTHENTICATED = "any_authenticated"
PUBLIC = "public"
# googleapis-common-protos types the extension as a plain FieldDescriptor.
HTTP_RULE = cast(
    "_ExtensionFieldDescriptor[descriptor_pb2.MethodOptions, http_pb2.HttpRule]",
    annotations_pb2.http,
)


@dataclass(frozen=True, slots=True)
class Rpc:
    """One RPC as the internal listener sees it."""

    service: str
    """Full service name: ``paymesh.ledger.v1.LedgerService``."""
    path: str
    """The gRPC path: ``/paymesh.ledger.v1.LedgerService/CreateAccount``."""
    access: str
    """``required_permission`` (``ledger:write``), ``any_authenticated``, ``public``,
    or empty when the RPC declares none or more than one (it is then refused)."""


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
    unsupported = unsupported_response_bodies(files)
    if unsupported:
        raise ValueError(
            "Envoy's transcoder supports response_body only for google.api.HttpBody fields; "
            f"remove it from: {', '.join(unsupported)}"
        )
    out_path.write_bytes(files.SerializeToString(deterministic=True))


def load(descriptor_set: Path) -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())


def _services(
    files: descriptor_pb2.FileDescriptorSet,
) -> Iterator[tuple[str, descriptor_pb2.ServiceDescriptorProto]]:
    """(full name, service) of every paymesh service, vendored ones left out."""
    for file in files.file:
        for service in file.service:
            name = f"{file.package}.{service.name}"
            if name.startswith(PAYMESH_PACKAGE) and not name.startswith(THIRD_PARTY_PACKAGE):
                yield name, service


def unsupported_response_bodies(files: descriptor_pb2.FileDescriptorSet) -> list[str]:
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
    for name, service in _services(files):
        for method in service.method:
            if not method.options.HasExtension(HTTP_RULE):
                continue
            rule = method.options.Extensions[HTTP_RULE]
            bodies = (b.response_body for b in (rule, *rule.additional_bindings))
            if any(body and not is_http_body(method.output_type, body) for body in bodies):
                unsupported.append(f"{name}.{method.name}")
    return sorted(unsupported)


def services_with_http(descriptor_set: Path) -> list[str]:
    """Full names of the services with at least one google.api.http binding, sorted."""
    return sorted(
        name
        for name, service in _services(load(descriptor_set))
        if any(m.options.HasExtension(HTTP_RULE) for m in service.method)
    )


def grpc_rpcs(descriptor_set: Path) -> list[Rpc]:
    """Every RPC of every paymesh service, with the access it declares, sorted by path."""
    return sorted(
        (
            Rpc(name, f"/{name}/{method.name}", method_access(method.options))
            for name, service in _services(load(descriptor_set))
            for method in service.method
        ),
        key=lambda rpc: rpc.path,
    )


def method_access(options: descriptor_pb2.MethodOptions) -> str:
    """The one paymesh.auth.v1 option a method declares; empty for none or several.

    The same rule as identity's edge check (identity_svc/entrypoints/routes.py):
    anything but exactly one valid declaration grants nothing (fail closed).
    """
    declared: list[str] = []
    if options.HasExtension(auth_pb2.required_permission):
        declared.append(options.Extensions[auth_pb2.required_permission])
    if options.HasExtension(auth_pb2.any_authenticated):
        declared.append(ANY_AUTHENTICATED if options.Extensions[auth_pb2.any_authenticated] else "")
    if options.HasExtension(auth_pb2.public):
        declared.append(PUBLIC if options.Extensions[auth_pb2.public] else "")
    return declared[0] if len(declared) == 1 else ""


def workload_of(service: str) -> str:
    """The workload (and cluster) serving ``paymesh.<workload>.v1.<Service>``."""
    parts = service.split(".")
    if len(parts) < 4 or parts[0] != "paymesh":
        raise ValueError(f"not a paymesh.<workload>.<version>.<Service> name: {service!r}")
    return parts[1]
