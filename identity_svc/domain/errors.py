"""identity_svc's one error tree. Every refusal identity can give is a class here.

    DomainError (svc_kit.faults)
     +-- IdentityError
          +-- ValidationFailed          VALIDATION_FAILED: a request field is wrong
          |    +-- InvalidPageToken     a page token is garbled or from other filters
          +-- NotFound                  (also the answer for another tenant's resource)
          |    +-- MerchantNotFound
          |    +-- ApiKeyNotFound
          |    +-- RouteNotFound        the edge knows no RPC at this method and path
          +-- Conflict
          |    +-- RequestIdReused      a request_id came back (secrets are never replayed)
          |    +-- EventIdReused        an audit event_id came back with other content
          +-- PreconditionFailed
          |    +-- MerchantNotActive    keys cannot be issued for a suspended merchant
          |    +-- KeyNotActive         a revoked or expired key cannot be rotated
          |         +-- KeyRevoked      API_KEY_REVOKED
          |         +-- KeyExpired      API_KEY_EXPIRED
          +-- AuthenticationFailed      401 at the edge: no usable credential
          |    +-- CredentialsMissing   no Authorization: Bearer / X-Api-Key header
          |    +-- CredentialsMalformed not a paymesh key (prefix, length, alphabet)
          |    +-- ChecksumMismatch     a typo: caught before any lookup
          |    +-- CredentialsInvalid   unknown key id or wrong secret
          |    +-- CredentialsRevoked
          |    +-- CredentialsExpired   the key, or a rotated-out secret, passed its deadline
          |    +-- MerchantSuspended    the key's merchant is suspended
          |    +-- PrincipalMissing     an RPC reached directly, without the edge's principal
          |    +-- WorkloadMissing      a workload-only RPC without a workload identity
          +-- PermissionDenied          403: the role lacks what the RPC declares
          |    +-- PermissionMissing
          |    +-- PermissionUndeclared the RPC declares no permission: refused, fail closed
          |    +-- RoleNotGrantable     only an admin key may issue an admin key
          +-- RateLimited               429: the key's token bucket is empty

The gRPC status (and the HTTP status the edge answers) of each branch is chosen
once, in ``identity_svc.entrypoints.errors``.
"""

from __future__ import annotations

from svc_kit.faults import DomainError


class IdentityError(DomainError):
    """Base of every identity refusal."""

    reason = "IDENTITY_ERROR"


class ValidationFailed(IdentityError):
    """A request field is missing or wrong; ``violations`` names it."""

    reason = "VALIDATION_FAILED"


class InvalidPageToken(ValidationFailed):
    """A page token that this service did not issue, or issued for other filters."""

    reason = "INVALID_PAGE_TOKEN"


class NotFound(IdentityError):
    """The resource does not exist, or belongs to another tenant (same answer)."""

    reason = "NOT_FOUND"


class MerchantNotFound(NotFound):
    """No merchant with this id is visible to the caller."""

    reason = "MERCHANT_NOT_FOUND"


class ApiKeyNotFound(NotFound):
    """No API key with this id is visible to the caller."""

    reason = "API_KEY_NOT_FOUND"


class RouteNotFound(NotFound):
    """No RPC is bound to this HTTP method and path."""

    reason = "ROUTE_NOT_FOUND"


class Conflict(IdentityError):
    """The request clashes with existing state."""

    reason = "CONFLICT"


class RequestIdReused(Conflict):
    """A request_id came back; a secret-bearing answer cannot be replayed."""

    reason = "REQUEST_ID_REUSED"


class EventIdReused(Conflict):
    """An audit event_id already in the log came with different content."""

    reason = "EVENT_ID_REUSED"


class PreconditionFailed(IdentityError):
    """The target is in a state that refuses the operation."""

    reason = "PRECONDITION_FAILED"


class MerchantNotActive(PreconditionFailed):
    """The merchant is suspended."""

    reason = "MERCHANT_SUSPENDED"


class KeyNotActive(PreconditionFailed):
    """The key is revoked or expired; metadata ``state`` says which."""

    reason = "API_KEY_NOT_ACTIVE"


class KeyRevoked(KeyNotActive):
    """The key was revoked, so it cannot be rotated (RotateApiKey's API_KEY_REVOKED)."""

    reason = "API_KEY_REVOKED"


class KeyExpired(KeyNotActive):
    """The key passed its expire_time, so it cannot be rotated (API_KEY_EXPIRED)."""

    reason = "API_KEY_EXPIRED"


class AuthenticationFailed(IdentityError):
    """No usable credential: the edge answers 401."""

    reason = "UNAUTHENTICATED"


class CredentialsMissing(AuthenticationFailed):
    """Neither ``Authorization: Bearer`` nor ``X-Api-Key`` was sent."""

    reason = "API_KEY_MISSING"


class CredentialsMalformed(AuthenticationFailed):
    """The credential is not shaped like a paymesh key."""

    reason = "API_KEY_MALFORMED"


class ChecksumMismatch(AuthenticationFailed):
    """The key's checksum does not match: almost certainly a typo."""

    reason = "API_KEY_CHECKSUM_MISMATCH"


class CredentialsInvalid(AuthenticationFailed):
    """Unknown key id or wrong secret. Deliberately does not say which."""

    reason = "API_KEY_INVALID"


class CredentialsRevoked(AuthenticationFailed):
    """The key was revoked."""

    reason = "API_KEY_REVOKED"


class CredentialsExpired(AuthenticationFailed):
    """The key passed its expire time, or this secret passed its rotation deadline."""

    reason = "API_KEY_EXPIRED"


class MerchantSuspended(AuthenticationFailed):
    """The key's merchant is suspended, so none of its keys work."""

    reason = "MERCHANT_SUSPENDED"


class PrincipalMissing(AuthenticationFailed):
    """The RPC needs the caller's principal and none was trusted."""

    reason = "PRINCIPAL_MISSING"


class WorkloadMissing(AuthenticationFailed):
    """A workload-only RPC (AuditService) was called without a workload identity."""

    reason = "WORKLOAD_MISSING"


class PermissionDenied(IdentityError):
    """The caller is known but may not do this: the edge answers 403."""

    reason = "PERMISSION_DENIED"


class PermissionMissing(PermissionDenied):
    """The key's role does not grant the permission the RPC declares."""

    reason = "PERMISSION_MISSING"


class PermissionUndeclared(PermissionDenied):
    """The RPC declares no permission, so nobody may call it (fail closed)."""

    reason = "PERMISSION_UNDECLARED"


class RoleNotGrantable(PermissionDenied):
    """Only an admin key may issue an admin key."""

    reason = "ROLE_NOT_GRANTABLE"


class RateLimited(IdentityError):
    """The key's token bucket is empty; metadata ``retry_after_s`` says when to retry."""

    reason = "RATE_LIMITED"
