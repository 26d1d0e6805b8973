"""API key state, principals, and AuthRecord.authenticate: one test per refusal reason."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from identity_svc.domain import errors as e
from identity_svc.domain.keys import hash_token, new_key_id, new_token
from identity_svc.domain.model import (
    ApiKey,
    AuthRecord,
    KeySecret,
    KeyState,
    MerchantStatus,
    Principal,
)
from identity_svc.domain.permissions import (
    DEFAULT_RATE_LIMITS,
    ROLE_PERMISSIONS,
    Permission,
    RateLimit,
    Role,
)
from svc_kit.faults import DomainError

PEPPER = b"unit-test-pepper"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
KEY_ID = new_key_id()
TOKEN = new_token("live", KEY_ID)
OLD_TOKEN = new_token("live", KEY_ID)


def _key(**changes: Any) -> ApiKey:
    key = ApiKey(
        key_id=KEY_ID,
        merchant_id="mer_123",
        display_name="checkout",
        description="",
        role=Role.DEVELOPER,
        environment="live",
        create_time=T0,
    )
    return dataclasses.replace(key, **changes)


def _record(
    key: ApiKey | None = None,
    status: MerchantStatus = MerchantStatus.ACTIVE,
    old_secret_not_after: datetime | None = None,
) -> AuthRecord:
    secrets = [KeySecret(hash_token(PEPPER, TOKEN), T0, None)]
    if old_secret_not_after is not None:
        secrets.insert(0, KeySecret(hash_token(PEPPER, OLD_TOKEN), T0, old_secret_not_after))
    return AuthRecord(key=key or _key(), merchant_status=status, secrets=tuple(secrets))


# ------------------------------------------------------------- key state


def test_a_key_without_expiry_or_revocation_is_active() -> None:
    assert _key().state(NOW) is KeyState.ACTIVE


def test_a_key_is_expired_from_its_expire_time_on() -> None:
    key = _key(expire_time=NOW)

    assert key.state(NOW - timedelta(microseconds=1)) is KeyState.ACTIVE
    assert key.state(NOW) is KeyState.EXPIRED


def test_revocation_wins_over_expiry() -> None:
    key = _key(expire_time=NOW - timedelta(days=1), revoke_time=NOW - timedelta(days=2))

    assert key.state(NOW) is KeyState.REVOKED


def test_a_revocation_takes_effect_whatever_its_time() -> None:
    assert _key(revoke_time=NOW + timedelta(days=1)).state(NOW) is KeyState.REVOKED


def test_a_key_without_its_own_rate_limit_uses_its_roles_default() -> None:
    for role in Role:
        assert _key(role=role).effective_rate_limit() == DEFAULT_RATE_LIMITS[role]


def test_a_keys_own_rate_limit_overrides_the_roles_default() -> None:
    own = RateLimit(requests_per_second=3, burst=7)

    assert _key(rate_limit=own).effective_rate_limit() == own


# ------------------------------------------------------------- principal


def test_a_principal_has_exactly_its_roles_permissions() -> None:
    principal = Principal("mer_123", KEY_ID, Role.FINANCE, "live")

    assert principal.permissions == ROLE_PERMISSIONS[Role.FINANCE]
    assert Permission.PAYOUTS_WRITE in principal.permissions
    assert Permission.PAYMENTS_WRITE not in principal.permissions


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_a_merchant_key_sees_its_own_merchant_and_no_other(role: Role) -> None:
    principal = Principal("mer_123", KEY_ID, role, "live")

    assert not principal.is_platform_operator
    assert principal.can_see("mer_123")
    assert not principal.can_see("mer_456")
    assert not principal.can_see("")


def test_an_admin_key_sees_every_merchant() -> None:
    principal = Principal("mer_platform", KEY_ID, Role.ADMIN, "live")

    assert principal.is_platform_operator
    assert principal.can_see("mer_123") and principal.can_see("mer_456")


# ---------------------------------------------------------- authenticate


def test_the_right_secret_on_an_active_key_yields_the_keys_principal() -> None:
    record = _record(_key(role=Role.FINANCE))

    principal = record.authenticate(hash_token(PEPPER, TOKEN), NOW)

    assert principal == Principal(
        merchant_id="mer_123", key_id=KEY_ID, role=Role.FINANCE, environment="live"
    )


def test_a_wrong_secret_is_invalid() -> None:
    wrong = new_token("live", KEY_ID)

    with pytest.raises(e.CredentialsInvalid):
        _record().authenticate(hash_token(PEPPER, wrong), NOW)


def test_the_right_token_hashed_with_another_pepper_is_invalid() -> None:
    with pytest.raises(e.CredentialsInvalid):
        _record().authenticate(hash_token(b"other-pepper", TOKEN), NOW)


def test_a_key_with_no_secrets_accepts_nothing() -> None:
    record = AuthRecord(key=_key(), merchant_status=MerchantStatus.ACTIVE)

    with pytest.raises(e.CredentialsInvalid):
        record.authenticate(hash_token(PEPPER, TOKEN), NOW)


def test_a_wrong_secret_on_a_revoked_key_says_invalid_not_revoked() -> None:
    # Someone without the secret learns nothing about the key's state.
    record = _record(_key(revoke_time=T0), status=MerchantStatus.SUSPENDED)

    with pytest.raises(e.CredentialsInvalid):
        record.authenticate(hash_token(PEPPER, new_token("live", KEY_ID)), NOW)


def test_the_right_secret_on_a_revoked_key_is_revoked() -> None:
    record = _record(_key(revoke_time=NOW - timedelta(hours=1)))

    with pytest.raises(e.CredentialsRevoked):
        record.authenticate(hash_token(PEPPER, TOKEN), NOW)


def test_the_right_secret_on_an_expired_key_is_expired() -> None:
    record = _record(_key(expire_time=NOW - timedelta(seconds=1)))

    with pytest.raises(e.CredentialsExpired, match="has expired"):
        record.authenticate(hash_token(PEPPER, TOKEN), NOW)


def test_a_rotated_out_secret_past_its_overlap_is_expired() -> None:
    record = _record(old_secret_not_after=NOW)

    with pytest.raises(e.CredentialsExpired, match="rotated out"):
        record.authenticate(hash_token(PEPPER, OLD_TOKEN), NOW)


def test_a_rotated_out_secret_still_works_during_its_overlap_and_the_new_one_after() -> None:
    record = _record(old_secret_not_after=NOW + timedelta(hours=1))

    during = record.authenticate(hash_token(PEPPER, OLD_TOKEN), NOW)
    after = record.authenticate(hash_token(PEPPER, TOKEN), NOW + timedelta(days=30))

    assert during.key_id == after.key_id == KEY_ID


def test_the_right_secret_of_a_suspended_merchant_is_refused_as_suspended() -> None:
    record = _record(status=MerchantStatus.SUSPENDED)

    with pytest.raises(e.MerchantSuspended):
        record.authenticate(hash_token(PEPPER, TOKEN), NOW)


@pytest.mark.parametrize(
    ("refusal", "reason"),
    [
        (e.CredentialsInvalid, "API_KEY_INVALID"),
        (e.CredentialsRevoked, "API_KEY_REVOKED"),
        (e.CredentialsExpired, "API_KEY_EXPIRED"),
        (e.MerchantSuspended, "MERCHANT_SUSPENDED"),
    ],
)
def test_every_authentication_refusal_is_an_identity_domain_error_with_its_reason(
    refusal: type[e.AuthenticationFailed], reason: str
) -> None:
    assert issubclass(refusal, e.AuthenticationFailed)
    assert issubclass(refusal, e.IdentityError)
    assert issubclass(refusal, DomainError)
    assert refusal.reason == reason
