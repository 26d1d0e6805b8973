"""Who may call a service at all: the SPIFFE allow-list, checked on every call.

mTLS proves that a caller holds a certificate of our CA; that alone lets every workload call
every service. In production each service is reached only through Envoy (the REST edge and the
internal :9443 listener both connect with Envoy's certificate), so ``allowed_peers`` defaults to
Envoy's SPIFFE id and anything else is refused: PERMISSION_DENIED with
``ErrorInfo{reason: PEER_NOT_ALLOWED, domain: <the service's error domain>}``.

One rule for every RPC on every port of a service, health and reflection included: Envoy's health
checks come from Envoy too, so no caller needs an exception. Where the rule is applied:

- the main server: ``ErrorMappingInterceptor(refuse=...)``, before the handler runs (no third
  interceptor layer);
- a hot-path service without interceptors (identity's ext_authz Check): the handler calls
  ``PeerAllowList.refusal`` itself;
- the other services on the hot listener (health, reflection): registered through
  ``PeerCheckedRegistrar``, which wraps their handlers once, at registration;
- a listener that is not gRPC (identity's HTTP ext_authz listener, Python's ``ssl``): once per
  connection, when it is made, with ``PeerAllowList.admits_certificate``. Stricter than gRPC's
  rule: the certificate must carry exactly one URI SAN, an allowed one.

Plaintext servers (unit tests on loopback) have no peer identity and skip the check, as does
``allowed_peers=["*"]``, which admits any certificate the handshake accepted.

Cost: the check reads ``peer_identity_key()`` and ``peer_identities()`` (the certificate's SANs,
which gRPC keeps on the connection) instead of ``auth_context()``, which copies every property,
the PEM certificate included, into a new dict on each call. Timed inside a real mTLS call (2-core
machine, best of 5 x 50,000): about 1.0 us for an allowed caller, against 3.3 us for
``peer_spiffe_id`` (3.0 us of it ``auth_context()``); a refusal, which builds its status, about
10 us. Nothing is cached: a connection's peer address is fixed, but a new connection may reuse it
with another certificate, and grpc.aio exposes nothing that is bound to the connection itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio

from svc_kit._handlers import Context, Guard, Handler, wrap_handler
from svc_kit.grpc_errors import rich_status
from svc_kit.settings import ANY_PEER, ServiceSettings
from svc_kit.tls import peer_spiffe_id

PEER_NOT_ALLOWED = "PEER_NOT_ALLOWED"
# gRPC names the SAN list the peer identity whenever the certificate has SANs; without any it
# falls back to the common name, which must never pass for a SPIFFE id.
_SAN_KEY = "x509_subject_alternative_name"
_SPIFFE_PREFIX = b"spiffe://"


class PeerAllowList:
    """The SPIFFE ids allowed to call one service, and the refusal everyone else gets."""

    def __init__(self, allowed: Sequence[str], *, domain: str) -> None:
        if not allowed or ANY_PEER in allowed:
            raise ValueError("an allow-list names SPIFFE ids; build none to admit any peer")
        self._allowed = frozenset(peer.encode() for peer in allowed)
        self._domain = domain

    def admits(self, context: Context) -> bool:
        """True when the caller's certificate carries exactly one SPIFFE id, an allowed one."""
        if context.peer_identity_key() != _SAN_KEY:
            return False
        found = None
        for san in context.peer_identities() or ():
            if san.startswith(_SPIFFE_PREFIX):
                if found is not None:
                    return False  # two SPIFFE ids: ambiguous, trust neither
                found = san
        return found in self._allowed

    def admits_certificate(self, peercert: Mapping[str, Any] | None) -> bool:
        """True when ``peercert`` (``ssl``'s ``getpeercert()``) has exactly one URI SAN, and
        that one is allowed."""
        uris = certificate_uris(peercert)
        return len(uris) == 1 and uris[0].encode() in self._allowed

    def refusal(self, context: Context) -> grpc.Status | None:
        """None when the caller may proceed, else the status to abort the call with."""
        if self.admits(context):
            return None
        # Only refusals pay for the full auth context, to name the caller.
        peer = peer_spiffe_id(context) or ""
        return rich_status(
            grpc.StatusCode.PERMISSION_DENIED,
            f"peer {peer or '(no SPIFFE id)'} is not allowed to call this service",
            reason=PEER_NOT_ALLOWED,
            domain=self._domain,
            metadata={"peer": peer},
        )


def certificate_uris(peercert: Mapping[str, Any] | None) -> list[str]:
    """The URI SANs of a certificate as ``ssl.SSLObject.getpeercert()`` describes it."""
    if not peercert:
        return []
    return [str(value) for kind, value in peercert.get("subjectAltName", ()) if kind == "URI"]


def peer_allow_list(settings: ServiceSettings, domain: str) -> PeerAllowList | None:
    """The allow-list ``settings`` ask for; None when every peer may call (plaintext or "*")."""
    if settings.plaintext or settings.allowed_peers == [ANY_PEER]:
        return None
    return PeerAllowList(settings.allowed_peers, domain=domain)


class PeerCheckedRegistrar:
    """Stands in for a grpc.aio server in ``add_*_to_server``: every handler it registers is
    served only to peers ``allow_list`` admits.

    Handlers are wrapped once, here, so the server needs no interceptor: a service that checks
    its own peers (identity's Check) shares the server and pays nothing for the others.
    """

    def __init__(self, server: grpc.aio.Server, allow_list: PeerAllowList) -> None:
        self._server = server
        self._allow_list = allow_list

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Like ``grpc.aio.Server.add_generic_rpc_handlers``, each handler behind the check."""
        self._server.add_generic_rpc_handlers(
            tuple(_CheckedGenericHandler(handler, self._check) for handler in handlers)
        )

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, Handler]
    ) -> None:
        """Like ``grpc.aio.Server.add_registered_method_handlers``, behind the check."""
        self._server.add_registered_method_handlers(
            service_name,
            {name: wrap_handler(h, self._check) for name, h in method_handlers.items()},
        )

    @asynccontextmanager
    async def _check(self, context: Context) -> AsyncIterator[None]:
        refusal = self._allow_list.refusal(context)
        if refusal is not None:
            await context.abort_with_status(refusal)
        yield


class _CheckedGenericHandler(grpc.GenericRpcHandler):
    """A generic handler whose method handlers run behind ``check``; each wrapped once."""

    def __init__(self, inner: grpc.GenericRpcHandler, check: Guard) -> None:
        self._inner = inner
        self._check = check
        # Keyed by method name; only names the inner handler knows get an entry, so a
        # scanner cannot grow it.
        self._wrapped: dict[str, Handler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            inner = self._inner.service(handler_call_details)
            if inner is None:
                return None
            wrapped = self._wrapped[method] = wrap_handler(inner, self._check)
        return wrapped
