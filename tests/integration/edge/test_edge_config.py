"""The Envoy config comes from the protos: services, routes and the transcoder's limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from scripts import envoy_config as ec


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("edge") / "paymesh.pb"
    ec.build_descriptor_set(out)
    return out


def test_every_service_with_an_http_binding_is_transcoded(descriptor_set: Path) -> None:
    assert ec.services_with_http(descriptor_set) == [
        "paymesh.identity.v1.IdentityService",
        "paymesh.ledger.v1.LedgerService",
    ]


def test_the_descriptor_set_carries_the_rich_error_types(descriptor_set: Path) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    names = {f.name for f in files.file}
    assert {"google/rpc/error_details.proto", "google/rpc/status.proto"} <= names


def test_a_response_body_envoy_cannot_transcode_is_named(descriptor_set: Path) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    identity = next(f for f in files.file if f.package == "paymesh.identity.v1")
    method = next(m for m in identity.service[0].method if m.name == "WhoAmI")
    method.options.Extensions[ec._HTTP].response_body = "principal"

    assert ec._unsupported_response_bodies(files) == ["paymesh.identity.v1.IdentityService.WhoAmI"]


def test_the_shipped_protos_have_no_such_response_body(descriptor_set: Path) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    assert ec._unsupported_response_bodies(files) == []
