"""Who is calling, as every use case sees it: the principal, or the platform itself."""

from __future__ import annotations

from dataclasses import dataclass

from identity_svc.domain.audit import Actor, ActorKind
from identity_svc.domain.model import Principal


@dataclass(frozen=True, slots=True)
class CallContext:
    """The caller of one use case.

    ``principal`` is the API key the edge authenticated; None means the
    platform itself (bootstrap, jobs), which acts as ``system_name`` and, like
    an admin key, sees every merchant. ``request_id`` is the request's
    x-request-id and ``source_address`` the caller's address as the edge saw
    it; both go into audit records only.
    """

    principal: Principal | None
    request_id: str = ""
    source_address: str = ""
    system_name: str = "platform"

    @classmethod
    def system(cls, name: str, request_id: str = "") -> CallContext:
        """The platform acting as ``name`` (recorded as a SYSTEM actor)."""
        return cls(principal=None, request_id=request_id, system_name=name)

    @property
    def is_platform(self) -> bool:
        """True for admin keys and the platform itself: they act across merchants."""
        return self.principal is None or self.principal.is_platform_operator

    def can_see(self, merchant_id: str) -> bool:
        """Tenant isolation: anyone but the platform sees its own merchant only."""
        return self.principal is None or self.principal.can_see(merchant_id)

    @property
    def own_merchant_id(self) -> str:
        """The caller's merchant; empty for the platform itself."""
        return "" if self.principal is None else self.principal.merchant_id

    @property
    def actor(self) -> Actor:
        """The caller as the audit log records it."""
        if self.principal is None:
            return Actor(ActorKind.SYSTEM, self.system_name)
        return Actor(ActorKind.API_KEY, self.principal.key_id, self.principal.merchant_id)

    @property
    def request_scope(self) -> str:
        """Whose request_ids these are (AIP-155 scopes them to the caller)."""
        if self.principal is None:
            return f"system:{self.system_name}"
        return self.principal.key_id
