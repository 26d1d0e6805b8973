"""Every REST route the protos declare, as (HTTP method, sample path): for "no route escapes
the edge's check" tests at every tier."""

from __future__ import annotations

import re
from typing import Any, cast

from google.api import annotations_pb2

from identity_svc.entrypoints.routes import paymesh_services

HTTP = cast(Any, annotations_pb2.http)  # typed as a plain FieldDescriptor by its stubs


def rest_bindings() -> list[tuple[str, str]]:
    """(HTTP method, sample path) for every google.api.http binding of the paymesh protos."""
    samples = []
    for service in paymesh_services():
        for method in service.methods:
            rule = method.GetOptions().Extensions[HTTP]
            for one in (rule, *rule.additional_bindings):
                verb = one.WhichOneof("pattern")
                path = re.sub(r"\{[^}]*\}", "x", getattr(one, verb))
                samples.append((verb.upper(), path))
    return samples
