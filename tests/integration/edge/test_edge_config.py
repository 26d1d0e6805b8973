"""The REST listener the protos make: descriptor set, filter order, one error shape.

Assertions on ``render()`` with the real descriptor set (fixtures in
conftest.py). What the config does at run time is proven through the real
Envoy in tests/e2e/test_edge_rest.py and tests/e2e/test_edge_errors.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from scripts import envoy_config as ec
from scripts.envoy_config import _descriptors
from tests.integration.edge.config_support import (
    AUDIT,
    BENEFICIARIES,
    FX,
    IDENTITY,
    LEDGER,
    PAYMENTS,
    PAYOUTS,
    PROVIDER_WEBHOOKS,
    WEBHOOKS,
    downstream_tls,
    hcm,
    http_filter,
)

# --- the descriptor set ---------------------------------------------------------------


def test_every_service_with_an_http_binding_is_transcoded(descriptor_set: Path) -> None:
    assert ec.services_with_http(descriptor_set) == [
        BENEFICIARIES,
        FX,
        PAYMENTS,
        PAYOUTS,
        PROVIDER_WEBHOOKS,
        WEBHOOKS,
        AUDIT,
        IDENTITY,
        LEDGER,
    ]


def test_the_descriptor_set_carries_the_rich_error_types(descriptor_set: Path) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    names = {f.name for f in files.file}
    assert {"google/rpc/error_details.proto", "google/rpc/status.proto"} <= names


def test_a_response_body_envoy_cannot_transcode_is_named(descriptor_set: Path) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    identity = next(f for f in files.file if f.package == "paymesh.identity.v1")
    method = next(m for m in identity.service[0].method if m.name == "WhoAmI")
    method.options.Extensions[_descriptors.HTTP_RULE].response_body = "principal"

    assert ec.unsupported_response_bodies(files) == [f"{IDENTITY}.WhoAmI"]


def test_the_shipped_protos_have_no_such_response_body(descriptor_set: Path) -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    assert ec.unsupported_response_bodies(files) == []


# --- the REST listener ----------------------------------------------------------------


def test_the_rest_filters_run_in_the_documented_order(config: dict[str, Any]) -> None:
    names = [f["name"] for f in hcm(config, "rest")["http_filters"]]

    assert names == [
        "envoy.filters.http.header_mutation.grpc_headers",
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.buffer",
        "envoy.filters.http.ext_authz",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]


def test_grpc_headers_leave_rest_replies_but_not_grpc_ones(config: dict[str, Any]) -> None:
    wrapper = http_filter(config, "rest", "envoy.filters.http.header_mutation.grpc_headers")
    mutations = wrapper["extension_config"]["typed_config"]["mutations"]
    matcher = wrapper["xds_matcher"]["matcher_list"]["matchers"][0]

    assert [m["remove"] for m in mutations["response_mutations"]] == [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "grpc-accept-encoding",
        "grpc-encoding",
    ]
    assert matcher["predicate"]["single_predicate"]["value_match"] == {"prefix": "application/grpc"}
    assert matcher["on_match"]["action"]["typed_config"]["@type"].endswith(".SkipFilter")


def test_a_client_sent_principal_is_dropped_before_ext_authz(config: dict[str, Any]) -> None:
    strip = http_filter(config, "rest", "envoy.filters.http.header_mutation")

    removed = [m["remove"] for m in strip["mutations"]["request_mutations"]]
    assert removed == ["x-paymesh-principal", "x-envoy-original-method", "x-envoy-original-path"]


def test_ext_authz_asks_identitys_http_check_and_fails_closed_with_503(
    config: dict[str, Any],
) -> None:
    ext_authz = http_filter(config, "rest", "envoy.filters.http.ext_authz")

    service = ext_authz["http_service"]
    assert service["server_uri"]["cluster"] == "identity_authz"
    assert service["server_uri"]["timeout"] == "0.5s"
    # identity sees /check<path>, so its /healthz can never be taken for a request.
    assert service["path_prefix"] == "/check"
    upstream = service["authorization_response"]["allowed_upstream_headers"]["patterns"]
    assert {p["exact"] for p in upstream} == {"x-paymesh-principal", "x-request-id"}
    to_client = service["authorization_response"]["allowed_client_headers"]["patterns"]
    assert {p["exact"] for p in to_client} == {"content-type", "www-authenticate", "retry-after"}
    sent = {p["exact"] for p in ext_authz["allowed_headers"]["patterns"]}
    assert sent == {"x-api-key", "x-request-id", "x-forwarded-for"}
    assert (ext_authz["failure_mode_allow"], ext_authz["status_on_error"]) == (False, {"code": 503})


def test_the_grpc_check_is_the_other_choice(cfg: ec.EdgeConfig) -> None:
    config = ec.render(dataclasses.replace(cfg, authz_protocol="grpc"))

    ext_authz = http_filter(config, "rest", "envoy.filters.http.ext_authz")
    assert ext_authz["grpc_service"] == {
        "envoy_grpc": {"cluster_name": "identity_authz"},
        "timeout": "0.5s",
    }
    assert "http_service" not in ext_authz
    assert (ext_authz["failure_mode_allow"], ext_authz["status_on_error"]) == (False, {"code": 503})


def test_an_unknown_authz_protocol_is_refused(cfg: ec.EdgeConfig) -> None:
    with pytest.raises(ValueError, match="authz_protocol must be one of http, grpc"):
        dataclasses.replace(cfg, authz_protocol="thrift")


def test_the_body_limit_is_the_configured_one(cfg: ec.EdgeConfig) -> None:
    config = ec.render(dataclasses.replace(cfg, max_request_bytes=4096))

    buffer = http_filter(config, "rest", "envoy.filters.http.buffer")
    assert buffer["max_request_bytes"] == 4096


def test_identitys_denials_are_matched_first_and_left_untouched(config: dict[str, Any]) -> None:
    mappers = hcm(config, "rest")["local_reply_config"]["mappers"]
    denial, unavailable = mappers[0], mappers[1]
    flags = {"response_flag_filter": {"flags": ["UAEX"]}}

    assert denial["filter"]["and_filter"]["filters"][0] == flags
    assert (
        denial["filter"]["and_filter"]["filters"][1]["status_code_filter"]["comparison"]["op"]
        == "NE"
    )
    assert "body_format_override" not in denial
    assert unavailable["body_format_override"]["json_format"]["code"] == 14
    assert "body_format" not in hcm(config, "rest")["local_reply_config"]


def test_every_local_reply_status_gets_the_matching_grpc_code(config: dict[str, Any]) -> None:
    mappers = hcm(config, "rest")["local_reply_config"]["mappers"][2:]
    by_status = {
        m["filter"]["status_code_filter"]["comparison"]["value"]["default_value"]: m[
            "body_format_override"
        ]["json_format"]
        for m in mappers
        if m["filter"]["status_code_filter"]["comparison"]["op"] == "EQ"
    }

    assert {status: body["code"] for status, body in by_status.items()} == {
        400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 3,
        429: 8, 500: 13, 501: 12, 502: 14, 503: 14, 504: 4,
    }  # fmt: skip
    assert all(body["message"] == "%LOCAL_REPLY_BODY%" for body in by_status.values())
    assert mappers[-1]["filter"]["status_code_filter"]["comparison"]["op"] == "GE"


def test_the_rest_listener_is_hardened(config: dict[str, Any]) -> None:
    manager = hcm(config, "rest")
    tls = downstream_tls(config, "rest")

    assert {
        key: manager[key]
        for key in (
            "normalize_path",
            "merge_slashes",
            "path_with_escaped_slashes_action",
            "use_remote_address",
            "generate_request_id",
            "always_set_request_id_in_response",
            "forward_client_cert_details",
            "set_current_client_cert_details",
        )
    } == {
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "use_remote_address": True,
        "generate_request_id": True,
        "always_set_request_id_in_response": True,
        "forward_client_cert_details": "SANITIZE_SET",
        "set_current_client_cert_details": {"uri": True},
    }
    assert tls["require_client_certificate"] is False
    assert tls["common_tls_context"]["validation_context"]["trusted_ca"] == {
        "filename": "/pki/ca.pem"
    }


def test_a_required_client_certificate_must_name_our_trust_domain(cfg: ec.EdgeConfig) -> None:
    config = ec.render(dataclasses.replace(cfg, require_client_cert=True))

    tls = downstream_tls(config, "rest")
    assert tls["require_client_certificate"] is True
    assert tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"prefix": "spiffe://paymesh.local/"}}
    ]


def test_the_catch_all_route_comes_last_so_ext_authz_always_runs(config: dict[str, Any]) -> None:
    routes = hcm(config, "rest")["route_config"]["virtual_hosts"][0]["routes"]

    assert [r["match"]["prefix"] for r in routes] == [
        f"/{BENEFICIARIES}/",
        f"/{FX}/",
        f"/{PAYMENTS}/",
        f"/{PAYOUTS}/",
        f"/{PROVIDER_WEBHOOKS}/",
        f"/{WEBHOOKS}/",
        f"/{AUDIT}/",
        f"/{IDENTITY}/",
        f"/{LEDGER}/",
        "/",
    ]
    assert routes[-1]["direct_response"]["status"] == 404
