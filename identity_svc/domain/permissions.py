"""Roles and permissions: the one table in code.

Each RPC declares the permission it needs in the protos
(``paymesh.auth.v1.required_permission``); this module says which role grants
which permission. A role is a fixed set, not data, so that what a key can do
is reviewable in one diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """Every permission an RPC may declare."""

    MERCHANTS_MANAGE = "merchants:manage"
    KEYS_MANAGE = "keys:manage"
    PAYMENTS_READ = "payments:read"
    PAYMENTS_WRITE = "payments:write"
    PAYMENTS_REFUND = "payments:refund"
    PAYOUTS_READ = "payouts:read"
    PAYOUTS_WRITE = "payouts:write"
    FX_READ = "fx:read"
    FX_WRITE = "fx:write"
    BENEFICIARIES_READ = "beneficiaries:read"
    BENEFICIARIES_WRITE = "beneficiaries:write"
    BALANCES_READ = "balances:read"
    """A merchant's own balances per currency (PayoutService.GetBalances), read from the
    ledger by the gateway: unlike ``ledger:read``, scoped to the caller's merchant."""
    LEDGER_READ = "ledger:read"
    LEDGER_WRITE = "ledger:write"
    WEBHOOKS_MANAGE = "webhooks:manage"
    AUDIT_READ = "audit:read"
    AUDIT_WRITE = "audit:write"
    """Appending to the audit log (AuditService). Granted to no role: only our
    workloads append, by certificate, on Envoy's internal listener."""


class Role(StrEnum):
    """The roles a key can carry."""

    ADMIN = "admin"
    OWNER = "owner"
    DEVELOPER = "developer"
    FINANCE = "finance"
    VIEWER = "viewer"


P = Permission

_READS = frozenset(
    {P.PAYMENTS_READ, P.PAYOUTS_READ, P.FX_READ, P.BENEFICIARIES_READ, P.BALANCES_READ}
)
# No API key may write the audit trail it is judged by, not even an admin's: a
# key that could append could forge a record of someone else's action.
_WORKLOADS_ONLY = frozenset({P.AUDIT_WRITE})

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    # Platform operators. The ledger API is theirs alone: it is the platform's
    # books, all merchants' accounts in one journal, and LedgerService does not
    # scope reads to a tenant. Merchants move money through the gateway, which
    # posts with its own identity, and read their balances through it.
    Role.ADMIN: frozenset(Permission) - _WORKLOADS_ONLY,
    # Everything on its own merchant except managing other merchants and the
    # platform's ledger.
    Role.OWNER: frozenset(Permission)
    - _WORKLOADS_ONLY
    - {P.MERCHANTS_MANAGE, P.LEDGER_READ, P.LEDGER_WRITE},
    # Builds the integration: takes payments and manages webhooks, reads the rest.
    # No refunds or payouts: those move money out and belong to finance.
    Role.DEVELOPER: _READS | {P.PAYMENTS_WRITE, P.WEBHOOKS_MANAGE},
    # Moves money out and converts it, and reads the audit trail it answers to.
    Role.FINANCE: _READS
    | {
        P.PAYMENTS_REFUND,
        P.PAYOUTS_WRITE,
        P.FX_WRITE,
        P.BENEFICIARIES_WRITE,
        P.AUDIT_READ,
    },
    Role.VIEWER: _READS,
}


def grants(role: Role, permission: Permission) -> bool:
    """True when ``role`` carries ``permission``."""
    return permission in ROLE_PERMISSIONS[role]


@dataclass(frozen=True)
class RateLimit:
    """A token bucket's shape: refill rate and the largest burst."""

    requests_per_second: float
    burst: int


# Per-role defaults, overridable per key. Admin is generous because platform
# tooling runs batch jobs; viewers read dashboards.
DEFAULT_RATE_LIMITS: Mapping[Role, RateLimit] = {
    Role.ADMIN: RateLimit(requests_per_second=1000, burst=2000),
    Role.OWNER: RateLimit(requests_per_second=200, burst=400),
    Role.DEVELOPER: RateLimit(requests_per_second=200, burst=400),
    Role.FINANCE: RateLimit(requests_per_second=100, burst=200),
    Role.VIEWER: RateLimit(requests_per_second=50, burst=100),
}
