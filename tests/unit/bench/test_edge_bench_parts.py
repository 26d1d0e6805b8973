"""The edge bench's pure parts: h2load's summary, gRPC frames, config variants, ES256, ratios."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench import edge_envoy as ee
from bench.edge_jwt import KEY_ID, Signer, jwt_filter
from bench.edge_load import Run, grpc_frame, parse_h2load
from bench.edge_plan import H2load, Row
from bench.edge_report import RowResult, baseline, by_key, ratio_value

H2LOAD_OUT = """
finished in 5.00s, 1194.40 req/s, 534.08KB/s
requests: 5972 total, 5988 started, 5972 done, 5962 succeeded, 10 failed, 0 errored, 0 timeout
status codes: 5962 2xx, 0 3xx, 10 4xx, 0 5xx
"""


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_h2load_summary_counts_only_2xx_as_served_and_names_the_rest() -> None:
    run = parse_h2load(H2LOAD_OUT, "", 0)
    assert (run.requests, run.ok, run.wall_s) == (5972, 5962, 5.0)
    assert run.errors == {"failed": 10, "4xx": 10}
    assert run.rps == pytest.approx(1192.4)


def test_h2load_without_a_summary_is_a_failure_not_zero_throughput() -> None:
    with pytest.raises(RuntimeError, match="h2load failed"):
        parse_h2load("", "connect error", 1)


def test_a_grpc_frame_is_an_uncompressed_flag_and_a_big_endian_length() -> None:
    assert grpc_frame(b"") == b"\x00\x00\x00\x00\x00"
    assert grpc_frame(b"\x0a\x01x") == b"\x00\x00\x00\x00\x03\x0a\x01x"


def test_without_ext_authz_envoy_sets_the_principal_with_percent_signs_escaped() -> None:
    hcm: dict[str, Any] = {
        "http_filters": [{"name": "keep"}, {"name": ee.EXT_AUTHZ}],
        "route_config": {},
    }
    listener = {"name": "rest", "filter_chains": [{"filters": [{"typed_config": hcm}]}]}
    config: dict[str, Any] = {"static_resources": {"listeners": [listener], "clusters": []}}
    ee.fixed_principal("merchant_id=m&source_address=127.0.0.1%3A1")(config)
    assert [f["name"] for f in hcm["http_filters"]] == ["keep"]
    added = hcm["route_config"]["request_headers_to_add"][0]["header"]
    # Envoy reads the value as a format string, where "%%" is one percent sign.
    assert added == {"key": "x-paymesh-principal",
                     "value": "merchant_id=m&source_address=127.0.0.1%%3A1"}  # fmt: skip
    assert hcm["route_config"]["request_headers_to_remove"] == ["authorization", "x-api-key"]


def test_an_es256_token_verifies_against_the_published_jwks() -> None:
    signer = Signer.generate()
    token = signer.token("key-1", "merchant_id=m", lifetime_s=60)
    header, claims, signature = token.split(".")
    raw = _b64(signature)
    assert len(raw) == 64  # r||s, not DER (RFC 7518 §3.4)
    jwk = signer.jwks()["keys"][0]
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(jwk["x"]), "big"), int.from_bytes(_b64(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()  # fmt: skip
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(_b64(header))["kid"] == KEY_ID == jwk["kid"]
    body = json.loads(_b64(claims))
    assert body["pm"] == "merchant_id=m" and body["exp"] - body["iat"] == 60


def test_the_jwt_filter_caches_only_when_asked_and_never_forwards_the_token() -> None:
    jwks = Signer.generate().jwks()
    cached = jwt_filter(jwks, cache=True)["typed_config"]["providers"]["paymesh"]
    plain = jwt_filter(jwks, cache=False)["typed_config"]["providers"]["paymesh"]
    assert "jwt_cache_config" in cached and "jwt_cache_config" not in plain
    assert cached["forward"] is False and json.loads(cached["local_jwks"]["inline_string"]) == jwks


def test_a_copied_cluster_differs_from_the_product_only_in_what_is_asked() -> None:
    product: dict[str, Any] = {
        "name": "identity_authz",
        "load_assignment": {"cluster_name": "identity_authz", "endpoints": []},
        "typed_extension_protocol_options": {"h2": {"windows": 1}},
        "transport_socket": {"typed_config": {"common_tls_context": {"alpn_protocols": ["h2"]}}},
        "health_checks": [{"grpc_health_check": {}}],
        "outlier_detection": {"consecutive_5xx": 5},
    }
    config: dict[str, Any] = {"static_resources": {"clusters": [product]}}
    plain = ee.copied_cluster(config, "identity_authz", "stub", ["127.0.0.1:9"], tls=False)
    assert "transport_socket" not in plain and "health_checks" not in plain
    assert plain["typed_extension_protocol_options"] == {"h2": {"windows": 1}}
    assert plain["outlier_detection"] == {"consecutive_5xx": 5}
    address = plain["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address == {"socket_address": {"address": "127.0.0.1", "port_value": 9}}
    http1 = ee.copied_cluster(config, "identity_authz", "stub", ["127.0.0.1:9"], http2=False)
    assert "typed_extension_protocol_options" not in http1
    assert http1["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"] == [
        "http/1.1"
    ]
    assert product["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"] == [
        "h2"
    ]  # the product's own cluster is untouched


def test_ratios_pair_the_runs_of_one_repetition_before_taking_the_median() -> None:
    def result(key: str, *rps: float) -> RowResult:
        load = H2load("https://x", {})
        return RowResult(Row(key, "WhoAmI", "p", load, {}), [Run(int(r), int(r), 1.0) for r in rps])

    # The machine slowed down between runs: every pair says 0.5, the medians say 0.75.
    found = by_key([result("1.1", 1000, 500, 250), result("1.2", 2000, 1000, 500)])
    assert ratio_value(found, "1.1", "1.2") == pytest.approx(0.5)
    assert baseline("a3") == "a0-noauth" and baseline("p3") == "p0-direct"
    assert baseline("a1") == "a1-noauth" and baseline("1.1") == "1.2"
