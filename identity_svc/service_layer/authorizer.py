"""The edge's decision for one outside request: who is calling, may they, how often.

Flow (each step refuses with one class of ``domain.errors``):

1. public paths and PUBLIC routes pass without a key (and without a principal);
2. the key comes from ``Authorization: Bearer`` or ``X-Api-Key``; its shape and
   checksum are checked offline, so typos never reach the store (401);
3. the key cache answers with the key's AuthRecord, which authenticates the
   token's hash (401);
4. the route names the permission the RPC declares (404 unknown route, 403);
5. the key's token bucket (429);
6. usage is counted, and the principal header is handed to Envoy.

Unknown routes answer 404 only after authentication, so that an anonymous
caller cannot map the API surface.

This is the hot path: every outside request runs it. On a warm cache it does no
store access, no logging and no awaiting, and builds only what the answer needs.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Protocol

from identity_svc.domain import errors as e
from identity_svc.domain.keys import hash_token, parse_token
from identity_svc.domain.model import AuthRecord, Principal
from identity_svc.domain.permissions import Permission, RateLimit
from identity_svc.domain.ratelimit import TokenBucket
from identity_svc.service_layer.key_cache import KeyCache
from identity_svc.service_layer.usage_recorder import UsageRecorder
from svc_kit.observability import REQUEST_ID_KEY
from svc_kit.principal import PRINCIPAL_HEADER, EdgePrincipal


class Special(Enum):
    """Access that is not a permission."""

    ANY_AUTHENTICATED = "any_authenticated"
    PUBLIC = "public"
    UNDECLARED = "undeclared"
    """No option, more than one, or an unknown permission: nobody may call it."""


ANY_AUTHENTICATED = Special.ANY_AUTHENTICATED
PUBLIC = Special.PUBLIC
UNDECLARED = Special.UNDECLARED
Access = Permission | Special


@dataclass(frozen=True, slots=True)
class MethodRoute:
    """An RPC as the edge sees it, with the access it declares."""

    full_method: str
    """gRPC path, for example ``/paymesh.identity.v1.IdentityService/WhoAmI``."""
    access: Access

    @property
    def rpc(self) -> str:
        """The name usage is counted under (``paymesh.identity.v1.IdentityService/WhoAmI``)."""
        return self.full_method[1:]


class RouteLookup(Protocol):
    """What the authorizer needs from the route table (``entrypoints.routes.RouteTable``)."""

    def lookup(self, method: str, path: str) -> MethodRoute | None:
        """The RPC bound to this HTTP method and path (query ignored), or None."""
        ...


@dataclass(frozen=True, slots=True)
class AuthzRequest:
    """One request as Envoy describes it. Header names are lower-case."""

    method: str
    path: str
    """Including any query string."""
    headers: Mapping[str, str]
    source_address: str
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """Allow (with header changes for the upstream request) or deny (with the error)."""

    request_id: str
    error: e.IdentityError | None = None
    headers: tuple[tuple[str, str], ...] = ()
    headers_to_remove: tuple[str, ...] = ()
    retry_after_s: int = 0

    @property
    def allowed(self) -> bool:
        """True when the request may go upstream."""
        return self.error is None


# Prefix checks, not routes: provider webhooks are signed by the provider and
# checked by the gateway; health must answer while identity's store is down.
PUBLIC_PREFIXES = ("/v1/provider-webhooks/", "/grpc.health.v1.Health/")
PUBLIC_PATHS = frozenset({"/healthz"})
# The key must not travel upstream, and a client must never choose its principal.
# On public routes Authorization is left alone: a provider may sign its webhooks
# with HTTP Basic credentials that the gateway checks.
_REMOVE_ON_ALLOW = ("authorization", "x-api-key")
_REMOVE_ON_PUBLIC = (PRINCIPAL_HEADER,)
_BEARER = "bearer "
_MAX_SOURCES_PER_KEY = 256
_MAX_VERIFIED = 100_000


def utc_now() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that authenticated against ``record``, valid until ``valid_until``."""

    record: AuthRecord
    principal: Principal
    valid_until: datetime | None


def _deadline(record: AuthRecord, now: datetime) -> datetime | None:
    """The earliest future moment at which the record could refuse a token it accepts now.

    Conservative: the key's expiry, or any secret's rotation deadline still
    ahead, whichever comes first. Ending a memo early only costs one full check.
    """
    times = [s.not_after for s in record.secrets if s.not_after is not None and s.not_after > now]
    if record.key.expire_time is not None:
        times.append(record.key.expire_time)
    return min(times, default=None)


class Authorizer:
    """Decides each request. One instance per process; not thread-safe (asyncio only)."""

    def __init__(
        self,
        routes: RouteLookup,
        cache: KeyCache,
        recorder: UsageRecorder,
        pepper: bytes,
        *,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        assert pepper, "the pepper must be configured"
        self._routes = routes
        self._cache = cache
        self._recorder = recorder
        self._pepper = pepper
        self._clock = clock
        self._monotonic = monotonic
        # key_id -> (bucket, the limit it was shaped with): reshape when a key's
        # limit changes without losing the tokens it already spent.
        self._buckets: dict[str, tuple[TokenBucket, RateLimit]] = {}
        # token -> what verifying it established; see _authenticate
        self._verified: dict[str, _Verified] = {}
        # key_id -> (the record it was built from, source address -> principal header)
        self._headers: dict[str, tuple[AuthRecord, dict[str, str]]] = {}

    async def decide(self, req: AuthzRequest) -> Decision:
        """Allow or deny ``req``. Raises ``StoreUnavailable`` when it cannot know."""
        headers: tuple[tuple[str, str], ...]
        request_id = req.headers.get(REQUEST_ID_KEY) or req.request_id
        new_id = not request_id
        if new_id:
            request_id = uuid.uuid4().hex
        path = req.path.partition("?")[0]
        route = self._routes.lookup(req.method, path)
        if _is_public(path, route):
            headers = ((REQUEST_ID_KEY, request_id),) if new_id else ()
            return Decision(request_id, headers=headers, headers_to_remove=_REMOVE_ON_PUBLIC)
        now = self._clock()
        try:
            token = _credential(req.headers)
            principal, record = await self._authenticate(token, now)
            _authorize(principal, route)
            assert route is not None
            retry_after_s = self._take_token(principal.key_id, record.key.effective_rate_limit())
        except e.IdentityError as exc:
            return Decision(request_id, error=exc)
        if retry_after_s:
            self._recorder.record(principal.key_id, principal.merchant_id, route.rpc, False, now)
            return Decision(
                request_id,
                error=e.RateLimited(
                    "the API key's rate limit is exhausted; retry later",
                    metadata={"retry_after_s": str(retry_after_s)},
                ),
                retry_after_s=retry_after_s,
            )
        self._recorder.record(principal.key_id, principal.merchant_id, route.rpc, True, now)
        header = self._principal_header(record, principal, req.source_address)
        if new_id:
            headers = ((PRINCIPAL_HEADER, header), (REQUEST_ID_KEY, request_id))
        else:
            headers = ((PRINCIPAL_HEADER, header),)
        return Decision(request_id, headers=headers, headers_to_remove=_REMOVE_ON_ALLOW)

    async def _authenticate(self, token: str, now: datetime) -> tuple[Principal, AuthRecord]:
        """The principal of ``token``, or the IdentityError that refuses it.

        A token verified before is answered from ``_verified`` without the
        parse, the HMAC and the constant-time comparisons, as long as the cache
        still holds the very record it was verified against (any change to the
        key or its merchant evicts that record) and no deadline of that record
        has passed. In the server, this path measured about a third of the
        full one. Tokens are keys of the memo: exact matches only, so a near
        miss always takes the full path.
        """
        memo = self._verified.get(token)
        if memo is not None:
            current = self._cache.peek(memo.record.key.key_id)
            if current is memo.record and (memo.valid_until is None or now < memo.valid_until):
                return memo.principal, current
        record = await self._record_for(token)
        principal = record.authenticate(hash_token(self._pepper, token), now)
        if len(self._verified) >= _MAX_VERIFIED:  # bound memory; it refills from the cache
            self._verified.clear()
        self._verified[token] = _Verified(record, principal, _deadline(record, now))
        return principal, record

    async def _record_for(self, token: str) -> AuthRecord:
        key_id = parse_token(token).key_id  # offline: a typo never costs a store read
        record = await self._cache.get(key_id)
        if record is None:
            raise e.CredentialsInvalid("the API key is not valid")
        return record

    def _principal_header(self, record: AuthRecord, principal: Principal, source: str) -> str:
        """The header value, built once per (record, source): urlencode was half the
        cost of a warm decide. A reloaded record is a new object, so a changed key
        never reuses an old header."""
        entry = self._headers.get(principal.key_id)
        if entry is None or entry[0] is not record:
            entry = self._headers[principal.key_id] = (record, {})
        by_source = entry[1]
        header = by_source.get(source)
        if header is None:
            if len(by_source) >= _MAX_SOURCES_PER_KEY:  # bound memory, not correctness
                by_source.clear()
            header = by_source[source] = EdgePrincipal(
                principal.merchant_id,
                principal.key_id,
                principal.role.value,
                principal.environment,
                source,
            ).to_header()
        return header

    def _take_token(self, key_id: str, limit: RateLimit) -> int:
        """0 if allowed, else whole seconds until the bucket has a token again."""
        now = self._monotonic()
        entry = self._buckets.get(key_id)
        if entry is None:
            bucket = TokenBucket(limit, now)
            self._buckets[key_id] = (bucket, limit)
        else:
            bucket, shaped = entry
            # `is` first: the role defaults are shared objects, so this is the common case.
            if limit is not shaped and limit != shaped:
                bucket.reshape(limit, now)
                self._buckets[key_id] = (bucket, limit)
        wait_s = bucket.take(now)
        return math.ceil(wait_s) if wait_s > 0 else 0


def _is_public(path: str, route: MethodRoute | None) -> bool:
    if route is not None:
        return route.access is PUBLIC
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _credential(headers: Mapping[str, str]) -> str:
    value = headers.get("authorization")
    if value is not None:
        # RFC 9110 §11.1: the scheme is case-insensitive.
        if value[:7].lower() == _BEARER:
            return value[7:].strip()
        raise e.CredentialsMalformed("the Authorization header must be 'Bearer <API key>'")
    value = headers.get("x-api-key")
    if value:
        return value.strip()
    raise e.CredentialsMissing(
        "an API key is required: send 'Authorization: Bearer <API key>' or 'X-Api-Key'"
    )


def _authorize(principal: Principal, route: MethodRoute | None) -> None:
    if route is None:
        raise e.RouteNotFound("no API method is bound to this HTTP method and path")
    access = route.access
    if access is ANY_AUTHENTICATED:
        return
    if access is UNDECLARED or access is PUBLIC:
        # PUBLIC never gets here (answered earlier); refusing it keeps this total.
        raise e.PermissionUndeclared(
            f"{route.rpc} declares no permission, so no key may call it",
            metadata={"rpc": route.rpc},
        )
    assert isinstance(access, Permission)
    if access not in principal.permissions:
        raise e.PermissionMissing(
            f"the API key's role '{principal.role.value}' lacks the permission "
            f"'{access.value}' that {route.rpc} requires",
            metadata={"permission": access.value, "role": principal.role.value},
        )
