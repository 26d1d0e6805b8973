"""ProbeService: a service built at test time, one method per way of (not) declaring access.

No .proto file holds it, so no shipped RPC can be left undeclared for a test's
sake; the descriptors are assembled here, exactly as protoc would emit them.
"""

from __future__ import annotations

from typing import Any, cast

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from paymesh.auth.v1 import auth_pb2

HTTP = cast(Any, annotations_pb2.http)  # typed as a plain FieldDescriptor by its stubs
PROBE = "/probe.v1.ProbeService/"


def probe_service() -> ServiceDescriptor:
    """ProbeService, with one method per way of (not) declaring access."""
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, http_pb2, annotations_pb2, auth_pb2):
        dependency = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(dependency)
        pool.Add(dependency)
    file = descriptor_pb2.FileDescriptorProto(
        name="probe/v1/probe.proto",
        package="probe.v1",
        syntax="proto3",
        dependency=["google/api/annotations.proto", "paymesh/auth/v1/auth.proto"],
    )
    file.message_type.add(name="Req")
    service = file.service.add(name="ProbeService")
    methods: dict[str, dict[Any, Any]] = {
        "Undeclared": {},
        "Declared": {auth_pb2.required_permission: "ledger:read"},
        "UnknownPermission": {auth_pb2.required_permission: "payments:teleport"},
        "TwoOptions": {auth_pb2.required_permission: "ledger:read", auth_pb2.public: True},
        "AnyAuthenticatedFalse": {auth_pb2.any_authenticated: False},
        "Public": {auth_pb2.public: True},
    }
    for name, options in methods.items():
        method = service.method.add(
            name=name, input_type=".probe.v1.Req", output_type=".probe.v1.Req"
        )
        method.options.Extensions[HTTP].get = f"/v1/probe/{name.lower()}/{{id}}"
        for extension, value in options.items():
            method.options.Extensions[extension] = value
    pool.Add(file)
    return pool.FindServiceByName("probe.v1.ProbeService")
