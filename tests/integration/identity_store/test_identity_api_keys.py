"""API key use cases against SQLite and PostgreSQL: issue, list, rotate, revoke, replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.domain import errors as e
from identity_svc.domain.keys import hash_token, parse_token, secret_prefix
from identity_svc.domain.model import KeyState, MerchantStatus, Principal
from identity_svc.domain.permissions import RateLimit, Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from tests.integration.identity_store.identity_store_support import PEPPER, Tenant, new_tenant


def _now() -> datetime:
    return datetime.now(UTC)


async def _authenticate(
    store: SqlIdentityStore, token: str, at: datetime | None = None
) -> Principal:
    parsed = parse_token(token)
    record = await store.load_auth_record(parsed.key_id)
    assert record is not None
    return record.authenticate(hash_token(PEPPER, token), at or _now())


@pytest.fixture
async def acme(identity: Identity, admin: CallContext) -> Tenant:
    return await new_tenant(identity, admin, "acme")


async def _developer_key(
    identity: Identity, tenant: Tenant, request_id: str = ""
) -> tuple[str, str]:
    key, token = await identity.create_api_key(
        tenant.ctx,
        tenant.merchant.merchant_id,
        display_name="ci",
        description="deploys",
        role=Role.DEVELOPER,
        expire_time=None,
        rate_limit=None,
        request_id=request_id,
    )
    return key.key_id, token


async def test_an_issued_key_authenticates_with_its_token(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    expire = _now() + timedelta(days=90)
    key, token = await identity.create_api_key(
        acme.ctx,
        acme.merchant.merchant_id,
        display_name="ci",
        description="deploys",
        role=Role.DEVELOPER,
        expire_time=expire,
        rate_limit=RateLimit(requests_per_second=5, burst=10),
        request_id="",
    )
    principal = await _authenticate(store, token)
    assert principal == Principal(acme.merchant.merchant_id, key.key_id, Role.DEVELOPER, "test")
    assert token.startswith(secret_prefix("test", key.key_id) + "_")
    found = await identity.get_api_key(acme.ctx, key.key_id)
    assert found == key
    assert found.expire_time == expire
    assert found.rate_limit == RateLimit(requests_per_second=5, burst=10)
    assert found.state(_now()) is KeyState.ACTIVE


async def test_issuing_a_key_writes_the_change_feed(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    cursor = await store.change_cursor()
    key_id, _ = await _developer_key(identity, acme)
    changes = await store.changes_since(cursor)
    assert [(c.merchant_id, c.key_id) for c in changes] == [(acme.merchant.merchant_id, key_id)]


async def test_listing_pages_through_a_merchants_keys_in_creation_order(
    identity: Identity, acme: Tenant
) -> None:
    made = [acme.owner.key_id] + [(await _developer_key(identity, acme))[0] for _ in range(4)]
    seen: list[str] = []
    token = ""
    while True:
        page = await identity.list_api_keys(
            acme.ctx, acme.merchant.merchant_id, page_size=2, page_token=token
        )
        seen += [k.key_id for k in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == made


async def test_rotation_keeps_the_old_secret_until_the_overlap_ends(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    key_id, old = await _developer_key(identity, acme)
    before = _now()
    rotated, new = await identity.rotate_api_key(
        acme.ctx, key_id, overlap=timedelta(hours=2), request_id=""
    )
    deadline = rotated.previous_secret_expire_time
    assert deadline is not None
    assert before + timedelta(hours=2) <= deadline <= _now() + timedelta(hours=2)
    assert (await _authenticate(store, old)).key_id == key_id
    assert (await _authenticate(store, new)).key_id == key_id
    with pytest.raises(e.CredentialsExpired):
        await _authenticate(store, old, at=deadline + timedelta(seconds=1))
    assert (await _authenticate(store, new, at=deadline + timedelta(seconds=1))).key_id == key_id


async def test_rotation_without_overlap_defaults_to_a_day(identity: Identity, acme: Tenant) -> None:
    key_id, _ = await _developer_key(identity, acme)
    rotated, _ = await identity.rotate_api_key(acme.ctx, key_id, overlap=None, request_id="")
    deadline = rotated.previous_secret_expire_time
    assert deadline is not None
    assert abs(deadline - (_now() + timedelta(hours=24))) < timedelta(minutes=1)


async def test_rotation_with_zero_overlap_ends_the_old_secret_at_once(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    key_id, old = await _developer_key(identity, acme)
    await identity.rotate_api_key(acme.ctx, key_id, overlap=timedelta(hours=5), request_id="")
    rotated, new = await identity.rotate_api_key(
        acme.ctx, key_id, overlap=timedelta(0), request_id=""
    )
    assert rotated.previous_secret_expire_time is None
    # A zero-overlap rotation also cuts short the secret still in an earlier overlap.
    with pytest.raises(e.CredentialsExpired):
        await _authenticate(store, old)
    assert (await _authenticate(store, new)).key_id == key_id


async def test_an_overlap_beyond_thirty_days_is_refused(identity: Identity, acme: Tenant) -> None:
    with pytest.raises(e.ValidationFailed) as caught:
        await identity.rotate_api_key(
            acme.ctx, acme.owner.key_id, overlap=timedelta(days=31), request_id=""
        )
    assert [v.field for v in caught.value.violations] == ["overlap"]


async def test_revoking_stops_every_secret_and_writes_the_change_feed(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    key_id, old = await _developer_key(identity, acme)
    _, new = await identity.rotate_api_key(acme.ctx, key_id, overlap=None, request_id="")
    cursor = await store.change_cursor()
    revoked = await identity.revoke_api_key(acme.ctx, key_id)
    assert revoked.revoke_time is not None
    assert revoked.state(_now()) is KeyState.REVOKED
    for token in (old, new):
        with pytest.raises(e.CredentialsRevoked):
            await _authenticate(store, token)
    assert [c.key_id for c in await store.changes_since(cursor)] == [key_id]


async def test_revoking_a_revoked_key_changes_nothing(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    key_id, _ = await _developer_key(identity, acme)
    first = await identity.revoke_api_key(acme.ctx, key_id)
    cursor = await store.change_cursor()
    second = await identity.revoke_api_key(acme.ctx, key_id)
    assert second == first
    assert await store.changes_since(cursor) == []


async def test_a_revoked_key_cannot_be_rotated(identity: Identity, acme: Tenant) -> None:
    key_id, _ = await _developer_key(identity, acme)
    await identity.revoke_api_key(acme.ctx, key_id)
    with pytest.raises(e.KeyRevoked) as caught:
        await identity.rotate_api_key(acme.ctx, key_id, overlap=None, request_id="")
    assert isinstance(caught.value, e.KeyNotActive)
    assert caught.value.metadata == {"state": "revoked"}
    assert caught.value.reason == "API_KEY_REVOKED"


async def test_an_expired_key_cannot_be_rotated(engine: AsyncEngine, acme: Tenant) -> None:
    later = Identity(engine, pepper=PEPPER, clock=lambda: _now() + timedelta(days=2))
    key, _ = await later.create_api_key(
        acme.ctx,
        acme.merchant.merchant_id,
        display_name="short",
        description="",
        role=Role.VIEWER,
        expire_time=_now() + timedelta(days=3),
        rate_limit=None,
        request_id="",
    )
    much_later = Identity(engine, pepper=PEPPER, clock=lambda: _now() + timedelta(days=4))
    with pytest.raises(e.KeyExpired) as caught:
        await much_later.rotate_api_key(acme.ctx, key.key_id, overlap=None, request_id="")
    assert caught.value.metadata == {"state": "expired"}


async def test_a_replayed_create_names_the_key_and_issues_nothing(
    identity: Identity, acme: Tenant
) -> None:
    key_id, _ = await _developer_key(identity, acme, request_id="issue-1")
    with pytest.raises(e.RequestIdReused) as caught:
        await _developer_key(identity, acme, request_id="issue-1")
    page = await identity.list_api_keys(
        acme.ctx, acme.merchant.merchant_id, page_size=0, page_token=""
    )
    assert caught.value.metadata == {"key_id": key_id}
    assert len(page.items) == 2  # the owner key and the one issued


async def test_a_replayed_rotation_names_the_key_and_rotates_nothing(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    key_id, _ = await _developer_key(identity, acme)
    _, new = await identity.rotate_api_key(acme.ctx, key_id, overlap=None, request_id="rot-1")
    with pytest.raises(e.RequestIdReused) as caught:
        await identity.rotate_api_key(acme.ctx, key_id, overlap=None, request_id="rot-1")
    assert caught.value.metadata == {"key_id": key_id}
    assert (await _authenticate(store, new)).key_id == key_id


async def test_only_an_admin_may_issue_an_admin_key(
    identity: Identity, acme: Tenant, admin: CallContext
) -> None:
    with pytest.raises(e.RoleNotGrantable):
        await identity.create_api_key(
            acme.ctx,
            acme.merchant.merchant_id,
            display_name="sneaky",
            description="",
            role=Role.ADMIN,
            expire_time=None,
            rate_limit=None,
            request_id="",
        )
    key, _ = await identity.create_api_key(
        admin,
        acme.merchant.merchant_id,
        display_name="granted",
        description="",
        role=Role.ADMIN,
        expire_time=None,
        rate_limit=None,
        request_id="",
    )
    assert key.role is Role.ADMIN


async def test_no_key_is_issued_for_a_suspended_merchant(
    identity: Identity, acme: Tenant, admin: CallContext, store: SqlIdentityStore
) -> None:
    await identity.update_merchant(
        admin, acme.merchant.merchant_id, paths=["status"], status=MerchantStatus.SUSPENDED
    )
    with pytest.raises(e.MerchantNotActive):
        await _developer_key(identity, acme)
    with pytest.raises(e.MerchantSuspended):
        await _authenticate(store, acme.owner_token)


async def test_create_names_every_invalid_key_field(identity: Identity, acme: Tenant) -> None:
    with pytest.raises(e.ValidationFailed) as caught:
        await identity.create_api_key(
            acme.ctx,
            acme.merchant.merchant_id,
            display_name="",
            description="d" * 501,
            role=None,
            expire_time=_now() - timedelta(seconds=1),
            rate_limit=RateLimit(requests_per_second=0, burst=100_001),
            request_id="",
        )
    assert {v.field for v in caught.value.violations} == {
        "api_key.display_name",
        "api_key.description",
        "api_key.role",
        "api_key.expire_time",
        "api_key.rate_limit.requests_per_second",
        "api_key.rate_limit.burst",
    }
