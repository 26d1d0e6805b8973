"""Identity's domain types: merchants, API keys and their secrets, principals.

Standard library only. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from . import errors as e
from .keys import hash_matches
from .permissions import DEFAULT_RATE_LIMITS, ROLE_PERMISSIONS, Permission, RateLimit, Role


class MerchantStatus(StrEnum):
    """Whether a merchant's keys work."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class KeyState(StrEnum):
    """An API key's state, derived from its times."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Merchant:
    """One tenant."""

    merchant_id: str
    display_name: str
    status: MerchantStatus
    default_currency: str
    metadata: Mapping[str, str]
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class KeySecret:
    """One accepted secret of a key: its hash, and until when it is accepted."""

    secret_hash: bytes
    create_time: datetime
    not_after: datetime | None
    """None for the current secret; the overlap deadline for a rotated-out one."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's properties (never its secret)."""

    key_id: str
    merchant_id: str
    display_name: str
    description: str
    role: Role
    environment: str
    create_time: datetime
    expire_time: datetime | None = None
    revoke_time: datetime | None = None
    last_used_time: datetime | None = None
    rate_limit: RateLimit | None = None
    previous_secret_expire_time: datetime | None = None

    def state(self, now: datetime) -> KeyState:
        """REVOKED wins over EXPIRED: a revocation is a decision, an expiry a date."""
        if self.revoke_time is not None:
            return KeyState.REVOKED
        if self.expire_time is not None and self.expire_time <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    def effective_rate_limit(self) -> RateLimit:
        """The key's own limit if it has one, else its role's default."""
        return self.rate_limit or DEFAULT_RATE_LIMITS[self.role]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the output of authentication, the input of every scoping rule."""

    merchant_id: str
    key_id: str
    role: Role
    environment: str

    @property
    def permissions(self) -> frozenset[Permission]:
        """What the role grants."""
        return ROLE_PERMISSIONS[self.role]

    @property
    def is_platform_operator(self) -> bool:
        """Admins act across merchants; everyone else only within their own."""
        return self.role is Role.ADMIN

    def can_see(self, merchant_id: str) -> bool:
        """Tenant isolation: a merchant's key sees its own merchant only."""
        return self.is_platform_operator or merchant_id == self.merchant_id


@dataclass(frozen=True, slots=True)
class AuthRecord:
    """Everything the edge needs to decide on a key: what the key cache holds."""

    key: ApiKey
    merchant_status: MerchantStatus
    secrets: tuple[KeySecret, ...] = field(default_factory=tuple)

    def authenticate(self, token_hash: bytes, now: datetime) -> Principal:
        """The principal for a token with this hash, or the reason it is refused.

        Every secret is compared, in constant time, so the time taken does not
        reveal which one matched.
        """
        matched: KeySecret | None = None
        for candidate in self.secrets:
            if hash_matches(token_hash, candidate.secret_hash):
                matched = candidate
        if matched is None:
            raise e.CredentialsInvalid("the API key is not valid")
        state = self.key.state(now)
        if state is KeyState.REVOKED:
            raise e.CredentialsRevoked("the API key was revoked")
        if state is KeyState.EXPIRED:
            raise e.CredentialsExpired("the API key has expired")
        if matched.not_after is not None and matched.not_after <= now:
            raise e.CredentialsExpired(
                "this secret was rotated out and its overlap has ended; use the new secret"
            )
        if self.merchant_status is not MerchantStatus.ACTIVE:
            raise e.MerchantSuspended("the API key's merchant is suspended")
        return Principal(
            merchant_id=self.key.merchant_id,
            key_id=self.key.key_id,
            role=self.key.role,
            environment=self.key.environment,
        )
