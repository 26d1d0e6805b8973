"""Every REST route the protos declare, as (HTTP method, sample path): for "no route escapes
the edge's check" tests at every tier. Routes of RPCs that declare ``public`` (provider
callbacks, whose signature is their credential) are listed apart, so a route can only leave
the check by an explicit option that a test also names."""

from __future__ import annotations

import re
from typing import Any, cast

from google.api import annotations_pb2

from identity_svc.entrypoints.routes import paymesh_services
from paymesh.auth.v1 import auth_pb2

HTTP = cast(Any, annotations_pb2.http)  # typed as a plain FieldDescriptor by its stubs


def rest_bindings(*, public: bool = False) -> list[tuple[str, str]]:
    """(HTTP method, sample path) for every google.api.http binding of the paymesh protos
    whose RPC needs an API key; with ``public``, of those that declare ``public`` instead."""
    samples = []
    for service in paymesh_services():
        for method in service.methods:
            options = method.GetOptions()
            if options.Extensions[auth_pb2.public] != public:
                continue
            rule = options.Extensions[HTTP]
            for one in (rule, *rule.additional_bindings):
                verb = one.WhichOneof("pattern")
                path = re.sub(r"\{[^}]*\}", "x", getattr(one, verb))
                samples.append((verb.upper(), path))
    return samples
