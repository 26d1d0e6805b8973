"""The REST listener: TLS, API keys (ext_authz), JSON <-> gRPC, one error shape.

Filter order, and why (guide/edge.md):

1. header_mutation (grpc_headers): a response passes the filters in reverse
   order, so this one runs last, after the transcoder, and drops the grpc-*
   headers from REST replies. Removing them on the route instead breaks the
   transcoder's error conversion (errors become empty 200s).
2. header_mutation: drops a client-sent ``x-paymesh-principal`` before
   ext_authz, so only identity's can reach a service.
3. buffer: refuses a body over ``max_request_bytes`` with 413 before anyone
   spends work on it (ext_authz would cost a Check).
4. ext_authz: sees the REST path and method, so identity can decide per REST
   route (over HTTP/1.1 by default, or gRPC Check; see ``_ext_authz``). It only
   checks when a route matches the REST path, hence the catch-all ``/`` route.
5. grpc_json_transcoder: maps REST to gRPC, rewrites ``:path`` to the gRPC
   path and clears the route cache; an unknown REST path gets a 404 here
   (reject_unknown_method).
6. router: matches again on the gRPC path, ``/<service>/`` to its cluster,
   within that service's timeout (``ROUTE_TIMEOUTS``).

Only a request the transcoder let through untranslated (a gRPC call to a
service that has no route) ever reaches the catch-all's own 404.

Request headers the client sends reach the service as gRPC metadata, lower-cased
(HTTP/2 has no other case): ``Idempotency-Key`` arrives as ``idempotency-key``,
which PaymentService reads when a request has no ``request_id``. Only the
headers in ``CLIENT_FORBIDDEN_HEADERS`` are removed, and identity's allow drops
only the credentials (``authorization``, ``x-api-key``); ext_authz's
``allowed_headers`` only chooses what identity is shown, never what the service
gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scripts.envoy_config._common import (
    HCM_TYPE,
    HTTP2_OPTIONS,
    RETRY_POLICY,
    access_log,
    downstream_tls,
)
from scripts.envoy_config._descriptors import workload_of
from scripts.envoy_config._errors import local_reply_config
from scripts.envoy_config._model import AUTHZ_CLUSTER, EdgeConfig, socket_address, typed

REST_LISTENER = "rest"
EXT_AUTHZ_TYPE = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
AUTHZ_PATH_PREFIX = "/check"
PRINCIPAL_HEADER = "x-paymesh-principal"
# identity sets the principal on allow; the transcoder sets the original method
# and path, which the access log reports: a client may set none of them.
CLIENT_FORBIDDEN_HEADERS = (PRINCIPAL_HEADER, "x-envoy-original-method", "x-envoy-original-path")
# What a gRPC upstream adds that a REST client has no use for (and that tells
# it what runs behind the edge).
GRPC_RESPONSE_HEADERS = (
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-accept-encoding",
    "grpc-encoding",
)


DEFAULT_ROUTE_TIMEOUT = "15s"
"""Envoy's own default, written down: the ledger and identity answer in milliseconds."""
ROUTE_TIMEOUTS: Mapping[str, str] = {
    # A payment may call providers several times before it answers, and Envoy must not
    # give up first: a client told 504 while the payment goes on has to ask again to learn
    # the outcome. The gateway's worst case with its defaults is about 50 s: one provider
    # that cannot be reached (three 2 s connect timeouts) fails over; on the next, three
    # calls of up to GATEWAY_<P>__TIMEOUT_S (10 s) with 0.5 s and 1 s of backoff between
    # them (gateway_svc/domain/retry.py), or a 429 and its Retry-After (at most 10 s)
    # instead of a timed-out call; then the ledger and audit calls
    # (GATEWAY_INTERNAL_TIMEOUT_S, 5 s each). A call that timed out after it was sent is
    # UNKNOWN and never fails over. Raise this with those settings, but keep it under
    # GATEWAY_IDEMPOTENCY_LOCK_TIMEOUT_S (90 s), so a client retrying after the 504 gets
    # ABORTED while the first request may still run, and then the stored outcome with the
    # same Idempotency-Key: never a second charge.
    "paymesh.gateway.v1.PaymentService": "60s",
    # The same reasoning for the gateway's Currencycloud services (issue 6). One Currencycloud
    # call may first log in (single flight), then absorb 429s inside the adapter: up to
    # three tries of up to the provider's timeout (10 s), with a Retry-After of at most 10 s
    # slept between them (adapters/providers/currencycloud_transport.py); a payout or a
    # conversion also holds in the ledger before the call and posts or voids after it
    # (5 s each). That is 70 s at the defaults; still under the 90 s key lock, so a retry
    # after a 504 gets ABORTED while the first request may run, never a second payout.
    "paymesh.gateway.v1.FxService": "75s",
    "paymesh.gateway.v1.BeneficiaryService": "75s",
    "paymesh.gateway.v1.PayoutService": "75s",
    # Provider callbacks (issue 7): the gateway checks a signature, records the event and
    # applies it (with one verification call to the provider for PayPal). Written down
    # rather than left to the default, because a longer wait buys nothing here: a provider
    # treats a 504 like any failure and sends the event again, and the gateway applies
    # each provider event id once, so the retry is answered as a duplicate or completes
    # what the timed-out request started.
    "paymesh.gateway.v1.ProviderWebhookService": "15s",
}
"""Per service: how long Envoy waits for the whole reply, from the request's end."""


def _strip_request_headers() -> dict[str, Any]:
    """Headers only Envoy or identity may set, removed from what the client sent."""
    config = typed(
        "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        mutations={"request_mutations": [{"remove": name} for name in CLIENT_FORBIDDEN_HEADERS]},
    )
    return {"name": "envoy.filters.http.header_mutation", "typed_config": config}


def _strip_grpc_response_headers() -> dict[str, Any]:
    """grpc-* headers removed from replies to REST requests; gRPC callers keep them.

    A gRPC call through this listener (not transcoded) gets its errors as
    trailers-only responses, whose status is the grpc-status header: removing
    it would turn every error into an empty 200.
    """
    mutation = typed(
        "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        mutations={"response_mutations": [{"remove": name} for name in GRPC_RESPONSE_HEADERS]},
    )
    is_grpc = {
        "single_predicate": {
            "input": {
                "name": "content-type",
                "typed_config": typed(
                    "envoy.type.matcher.v3.HttpRequestHeaderMatchInput", header_name="content-type"
                ),
            },
            "value_match": {"prefix": "application/grpc"},
        }
    }
    skip = {
        "action": {
            "name": "skip",
            "typed_config": typed("envoy.extensions.filters.common.matcher.action.v3.SkipFilter"),
        }
    }
    config = typed(
        "envoy.extensions.common.matching.v3.ExtensionWithMatcher",
        extension_config={"name": "grpc_headers", "typed_config": mutation},
        xds_matcher={"matcher_list": {"matchers": [{"predicate": is_grpc, "on_match": skip}]}},
    )
    return {"name": "envoy.filters.http.header_mutation.grpc_headers", "typed_config": config}


def _transcoder(cfg: EdgeConfig, services: list[str]) -> dict[str, Any]:
    config = typed(
        "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        proto_descriptor=str(cfg.descriptor_set),
        services=services,
        print_options={
            "add_whitespace": False,
            "always_print_primitive_fields": True,
            "always_print_enums_as_ints": False,
            "preserve_proto_field_names": True,
        },
        convert_grpc_status=True,
        request_validation_options={
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
        },
    )
    return {"name": "envoy.filters.http.grpc_json_transcoder", "typed_config": config}


def _patterns(*names: str) -> dict[str, Any]:
    return {"patterns": [{"exact": name} for name in names]}


def _ext_authz(cfg: EdgeConfig) -> dict[str, Any]:
    """identity decides every request; over HTTP/1.1 (default) or gRPC Check.

    Both ask the same Authorizer and answer the same way. HTTP is the default
    because its Python side costs about a fifth of a grpc.aio Check per request
    (bench/edge.py): identity's HTTP check listener is a bare asyncio protocol.
    """
    common: dict[str, Any] = {
        "transport_api_version": "V3",
        "failure_mode_allow": False,
        # Not the default 403: a check that could not be asked is "unavailable",
        # never "forbidden"; the 503 is rewritten to JSON code 14 (_errors.py).
        "status_on_error": {"code": 503},
    }
    if cfg.authz_protocol == "grpc":
        grpc_service = {"envoy_grpc": {"cluster_name": AUTHZ_CLUSTER}, "timeout": "0.5s"}
        return typed(EXT_AUTHZ_TYPE, grpc_service=grpc_service, **common)
    http_service = {
        # The URI's host is only the Host header; the cluster is what is dialled.
        "server_uri": {"uri": "https://identity", "cluster": AUTHZ_CLUSTER, "timeout": "0.5s"},
        # identity sees "<method> /check<original path>": a path outside /check
        # (its /healthz) can never be mistaken for a request to authorize.
        "path_prefix": AUTHZ_PATH_PREFIX,
        "authorization_response": {
            # Set on the upstream request on allow; x-envoy-auth-headers-to-remove
            # in identity's reply drops the key headers.
            "allowed_upstream_headers": _patterns(PRINCIPAL_HEADER, "x-request-id"),
            # Passed to the client with a denial, with identity's JSON body.
            "allowed_client_headers": _patterns("content-type", "www-authenticate", "retry-after"),
        },
    }
    # Besides these, Envoy always sends Host, Method, Path, Content-Length and
    # Authorization. x-forwarded-for carries the client's address (use_remote_address).
    allowed = _patterns("x-api-key", "x-request-id", "x-forwarded-for")
    return typed(EXT_AUTHZ_TYPE, http_service=http_service, allowed_headers=allowed, **common)


def http_filters(cfg: EdgeConfig, services: list[str]) -> list[dict[str, Any]]:
    buffer = typed(
        "envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes=cfg.max_request_bytes
    )
    ext_authz = _ext_authz(cfg)
    router = typed("envoy.extensions.filters.http.router.v3.Router")
    return [
        _strip_grpc_response_headers(),
        _strip_request_headers(),
        {"name": "envoy.filters.http.buffer", "typed_config": buffer},
        {"name": "envoy.filters.http.ext_authz", "typed_config": ext_authz},
        _transcoder(cfg, services),
        {"name": "envoy.filters.http.router", "typed_config": router},
    ]


def routes(services: list[str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [
        {
            "match": {"prefix": f"/{service}/"},
            "route": {
                "cluster": workload_of(service),
                "retry_policy": RETRY_POLICY,
                "timeout": ROUTE_TIMEOUTS.get(service, DEFAULT_ROUTE_TIMEOUT),
            },
        }
        for service in services
    ]
    # Matched by every REST path before the transcoder, so ext_authz always checks.
    result.append(
        {
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": "no route for this path"}},
        }
    )
    return result


def rest_listener(cfg: EdgeConfig, services: list[str]) -> dict[str, Any]:
    hcm = typed(
        HCM_TYPE,
        stat_prefix=REST_LISTENER,
        codec_type="AUTO",
        route_config={
            "name": REST_LISTENER,
            "virtual_hosts": [{"name": "paymesh", "domains": ["*"], "routes": routes(services)}],
        },
        http_filters=http_filters(cfg, services),
        http2_protocol_options=HTTP2_OPTIONS,
        local_reply_config=local_reply_config(),
        access_log=access_log(cfg, REST_LISTENER),
        # The client's own address, not one it claims in x-forwarded-for; and
        # the request is external, so a client-sent x-request-id is replaced.
        use_remote_address=True,
        generate_request_id=True,
        always_set_request_id_in_response=True,
        # One spelling per path, so identity's route check and the transcoder
        # agree on what a path is; %2F could smuggle a segment past both.
        normalize_path=True,
        merge_slashes=True,
        path_with_escaped_slashes_action="REJECT_REQUEST",
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"uri": True},
    )
    tls = downstream_tls(
        cfg,
        require_client_cert=cfg.require_client_cert,
        alpn=["h2", "http/1.1"],
        tls_min="TLSv1_2",
    )
    return {
        "name": REST_LISTENER,
        "address": socket_address(cfg.rest_addr),
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ],
                "transport_socket": tls,
            }
        ],
    }
