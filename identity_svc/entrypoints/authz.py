"""Envoy's ext_authz Check: translate the CheckRequest, ask the Authorizer, answer.

Allow: status OK plus ``ok_response`` with the headers to set upstream (each
overwriting whatever the client sent) and to remove. Deny: the gRPC code plus a
``denied_response`` that Envoy sends to the client as is: HTTP status, JSON
``google.rpc.Status`` body with an ErrorInfo (the same shape the transcoder
gives every other error), ``www-authenticate`` on 401, ``retry-after`` on 429.

When the decision needs the store and the store is down, the Check RPC itself
fails with UNAVAILABLE: Envoy (``failure_mode_allow: false``) then denies.

Envoy can ask the same Authorizer over HTTP/1.1 instead (``authz_http``). The
pieces both protocols answer with live here once: ``denial`` (HTTP status, JSON
body, headers of a refusal), ``status_json`` (the JSON google.rpc.Status), and
``AllowMemo`` (allow answers built once per principal header and removals).

Check runs without the shared interceptors, so it refuses callers that are not
on the service's SPIFFE allow-list itself (svc_kit.peers): PERMISSION_DENIED
with ErrorInfo ``PEER_NOT_ALLOWED``, as every other RPC of the service answers.

``build_authz`` assembles routes, cache, recorder and authorizer for the host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeAlias, TypeVar

import grpc
import grpc.aio
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import Counter

from identity_svc.domain import errors as e
from identity_svc.entrypoints.errors import ERROR_DOMAIN, HTTP_STATUS, MAPPER
from identity_svc.entrypoints.routes import RouteTable
from identity_svc.service_layer.authorizer import (
    Authorizer,
    AuthzRequest,
    Decision,
    RouteLookup,
    utc_now,
)
from identity_svc.service_layer.key_cache import KeyCache, StoreUnavailable
from identity_svc.service_layer.ports import AuthStore
from identity_svc.service_layer.usage_recorder import UsageRecorder
from paymesh.third_party.envoy import (
    attribute_context_pb2,
    core_pb2,
    external_auth_pb2,
    external_auth_pb2_grpc,
    http_status_pb2,
)
from svc_kit.observability import REQUEST_ID_KEY
from svc_kit.peers import PEER_NOT_ALLOWED, PeerAllowList
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal

_log = logging.getLogger(__name__)
_OVERWRITE = core_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
# Check bypasses the shared RPC interceptors (svc_kit.server.ServiceBinding.intercepted), so it
# counts its own outcomes. Reasons are a fixed set of error classes: bounded label values.
DECISIONS = Counter(
    "paymesh_authz_decisions_total",
    "ext_authz Check answers, by outcome (allow, or the denial's ErrorInfo reason).",
    ["outcome"],
)
_ALLOWED = DECISIONS.labels("allow")
_OK = status_pb2.Status(code=0)
_MAX_CACHED_ALLOWS = 10_000
_AllowKey: TypeAlias = tuple[tuple[tuple[str, str], ...], tuple[str, ...]]
_HttpCode: TypeAlias = "http_status_pb2.StatusCode.ValueType"
_Reply = TypeVar("_Reply")
_NO_METADATA: Mapping[str, str] = MappingProxyType({})


def denial_status(error: e.IdentityError) -> tuple[grpc.StatusCode, _HttpCode]:
    """The gRPC code and HTTP status that answer ``error``, from identity's one error table."""
    # Anything the table misses is still a refusal, never an allow.
    code = MAPPER.code_for(error) or grpc.StatusCode.PERMISSION_DENIED
    return code, http_status_pb2.StatusCode.ValueType(HTTP_STATUS.get(code, 403))


def authz_request(request: external_auth_pb2.CheckRequest) -> AuthzRequest:
    """The CheckRequest's HTTP attributes, as the authorizer reads them."""
    attributes = request.attributes
    http = attributes.request.http
    return AuthzRequest(
        method=http.method,
        path=http.path,
        headers=http.headers,  # Envoy lower-cases the names; a read-only view, no copy
        source_address=_source_address(attributes.source),
        request_id=http.id,
    )


def _source_address(peer: attribute_context_pb2.AttributeContext.Peer) -> str:
    socket = peer.address.socket_address
    if not socket.address:
        return ""
    host = f"[{socket.address}]" if ":" in socket.address else socket.address
    return f"{host}:{socket.port_value}"


def status_json(
    code: grpc.StatusCode, message: str, reason: str, metadata: Mapping[str, str] = _NO_METADATA
) -> tuple[status_pb2.Status, str]:
    """A google.rpc.Status with identity's ErrorInfo, and its JSON: every error body the edge
    shows has this shape (the transcoder's own errors included, edge.md)."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata))
    status = status_pb2.Status(code=code.value[0], message=message, details=[info])
    return status, json_format.MessageToJson(status, indent=None)


@dataclass(frozen=True, slots=True)
class Denial:
    """A refused request as the client sees it, whichever protocol carried the decision."""

    code: grpc.StatusCode
    http_status: int
    status: status_pb2.Status
    body: str
    """``status`` as JSON: the response body."""
    headers: tuple[tuple[str, str], ...]
    """content-type, x-request-id, and www-authenticate on 401 or retry-after on 429."""


def denial(error: e.IdentityError, decision: Decision) -> Denial:
    """What the client is told when ``decision`` refuses with ``error``."""
    code, http_status = denial_status(error)
    status, body = status_json(code, error.message, error.reason, error.metadata)
    headers = [("content-type", "application/json"), (REQUEST_ID_KEY, decision.request_id)]
    if http_status == http_status_pb2.Unauthorized:
        headers.append(("www-authenticate", "Bearer"))  # RFC 6750 §3
    if http_status == http_status_pb2.TooManyRequests:
        headers.append(("retry-after", str(max(1, decision.retry_after_s))))
    return Denial(code, int(http_status), status, body, tuple(headers))


def check_response(decision: Decision) -> external_auth_pb2.CheckResponse:
    """The CheckResponse that carries ``decision`` out to Envoy."""
    if decision.error is None:
        return external_auth_pb2.CheckResponse(
            status=_OK,
            ok_response=external_auth_pb2.OkHttpResponse(
                headers=[_header(k, v) for k, v in decision.headers],
                headers_to_remove=decision.headers_to_remove,
            ),
        )
    refusal = denial(decision.error, decision)
    return external_auth_pb2.CheckResponse(
        status=refusal.status,
        denied_response=external_auth_pb2.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(
                code=http_status_pb2.StatusCode.ValueType(refusal.http_status)
            ),
            headers=[_header(k, v) for k, v in refusal.headers],
            body=refusal.body,
        ),
    )


def _header(key: str, value: str) -> core_pb2.HeaderValueOption:
    return core_pb2.HeaderValueOption(
        header=core_pb2.HeaderValue(key=key, value=value), append_action=_OVERWRITE
    )


class AllowMemo(Generic[_Reply]):
    """Allow answers, built once per (headers to set, headers to remove) and reused.

    Allow answers repeat (same principal header, same removals), and building
    one (a protobuf, or HTTP bytes) costs about as much as deciding. An answer
    that carries a request id identity generated is one-off and never kept.
    Answers are shared: never mutate one.
    """

    def __init__(self, build: Callable[[Decision], _Reply]) -> None:
        self._build = build
        self._replies: dict[_AllowKey, _Reply] = {}

    def get(self, decision: Decision) -> _Reply:
        """The answer for an allowing ``decision``."""
        key = (decision.headers, decision.headers_to_remove)
        reply = self._replies.get(key)
        if reply is None:
            reply = self._build(decision)
            if len(self._replies) >= _MAX_CACHED_ALLOWS:  # bound memory; it refills
                self._replies.clear()
            if all(name != REQUEST_ID_KEY for name, _ in decision.headers):
                self._replies[key] = reply
        return reply


class AuthorizationServicer(external_auth_pb2_grpc.AuthorizationServicer):
    """envoy.service.auth.v3.Authorization: translation only; the Authorizer decides."""

    def __init__(self, authorizer: Authorizer, peers: PeerAllowList | None = None) -> None:
        self._authorizer = authorizer
        self._peers = peers  # None: every peer the handshake accepted may ask
        self._allows = AllowMemo(check_response)

    async def Check(  # noqa: N802 - the proto's RPC name
        self,
        request: external_auth_pb2.CheckRequest,
        context: grpc.aio.ServicerContext[
            external_auth_pb2.CheckRequest, external_auth_pb2.CheckResponse
        ],
    ) -> external_auth_pb2.CheckResponse:
        if self._peers is not None:
            refusal = self._peers.refusal(context)
            if refusal is not None:
                # Only Envoy asks; anyone else could probe which keys are valid.
                DECISIONS.labels(PEER_NOT_ALLOWED).inc()
                await context.abort_with_status(refusal)
        try:
            decision = await self._authorizer.decide(authz_request(request))
        except StoreUnavailable:
            # Not a denial: "cannot know". Envoy fails closed on a failed Check.
            DECISIONS.labels("STORE_UNAVAILABLE").inc()
            await context.abort(grpc.StatusCode.UNAVAILABLE, "identity store unavailable")
        except Exception:  # noqa: BLE001 - fail closed on any bug, and log it
            # No interceptor maps errors here; a bug must still fail closed, and be seen.
            _log.exception("authz check failed")
            DECISIONS.labels("INTERNAL").inc()
            await context.abort(grpc.StatusCode.INTERNAL, "authorization check failed")
        if decision.error is not None:
            DECISIONS.labels(decision.error.reason).inc()
            return check_response(decision)
        _ALLOWED.inc()
        return self._allows.get(decision)


@dataclass(frozen=True)
class Authz:
    """The ext_authz parts, wired. ``start()`` after the loop runs, ``stop()`` on shutdown."""

    servicer: AuthorizationServicer
    authorizer: Authorizer
    cache: KeyCache
    recorder: UsageRecorder

    def register(self, server: grpc.aio.Server) -> None:
        """Add the Check service to ``server``."""
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(self.servicer, server)

    async def start(self) -> None:
        """Start following the change feed and flushing usage."""
        await self.cache.start()
        await self.recorder.start()

    async def stop(self) -> None:
        """Stop both background tasks; the last usage is flushed."""
        await self.cache.stop()
        await self.recorder.stop()


def build_authz(
    store: AuthStore,
    pepper: bytes,
    *,
    routes: RouteLookup | None = None,
    clock: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    refresh_interval_s: float = 0.25,
    staleness_s: float = 0.75,
    flush_interval_s: float = 1.0,
    peers: PeerAllowList | None = None,
) -> Authz:
    """Routes from every paymesh service (unless given), a key cache and usage recorder
    over ``store``, and the Authorizer and servicer on top; Check answers only ``peers``."""
    cache = KeyCache(store, monotonic, refresh_interval_s, staleness_s=staleness_s)
    recorder = UsageRecorder(store, clock, flush_interval_s)
    authorizer = Authorizer(
        routes if routes is not None else RouteTable.for_paymesh(),
        cache,
        recorder,
        pepper,
        clock=clock,
        monotonic=monotonic,
    )
    return Authz(AuthorizationServicer(authorizer, peers), authorizer, cache, recorder)


def direct_auth(authorizer: Authorizer) -> Callable[..., Any]:
    """Authentication for gRPC calls that reach IdentityService without the edge.

    The caller's own ``authorization: Bearer`` (or ``x-api-key``) metadata goes
    through ``Authorizer.decide`` for the RPC's gRPC path, exactly as Envoy's
    Check would: same key checks, permission, rate limit and usage count. A
    refusal raises its IdentityError, which the error interceptor maps. Without
    a key the answer is None, and the servicer reports PRINCIPAL_MISSING.
    """

    async def authenticate(
        context: grpc.aio.ServicerContext[Any, Any], grpc_path: str
    ) -> EdgePrincipal | None:
        headers = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str)
        }
        if "authorization" not in headers and "x-api-key" not in headers:
            return None
        request = AuthzRequest("POST", grpc_path, headers, context.peer() or "")
        decision = await authorizer.decide(request)
        if decision.error is not None:
            raise decision.error
        return EdgePrincipal.from_header(dict(decision.headers).get(PRINCIPAL_HEADER, ""))

    return authenticate
