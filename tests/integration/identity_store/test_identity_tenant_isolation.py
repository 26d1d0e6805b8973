"""Tenant isolation: another merchant's resources answer exactly as missing ones do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.domain import errors as e
from identity_svc.domain.model import MerchantStatus
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from identity_svc.service_layer.ports import UsageDelta
from tests.integration.identity_store.identity_store_support import Tenant, new_tenant

MISSING_MERCHANT = "mer_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
MISSING_KEY = "ZZZZZZZZZZZZZZZZ"


@pytest.fixture
async def tenants(identity: Identity, admin: CallContext) -> tuple[Tenant, Tenant]:
    return await new_tenant(identity, admin, "a"), await new_tenant(identity, admin, "b")


async def _same_answer(
    call: Callable[[str], Awaitable[object]], theirs: str, missing: str
) -> tuple[e.NotFound, e.NotFound]:
    """Call with another tenant's id and with a missing one; return both refusals."""
    with pytest.raises(e.NotFound) as foreign:
        await call(theirs)
    with pytest.raises(e.NotFound) as absent:
        await call(missing)
    # Same class, and the message and metadata differ only by the id itself.
    assert type(foreign.value) is type(absent.value)
    assert foreign.value.message.replace(theirs, "ID") == absent.value.message.replace(
        missing, "ID"
    )
    assert set(foreign.value.metadata) == set(absent.value.metadata)
    return foreign.value, absent.value


async def test_another_merchants_merchant_is_not_found(
    identity: Identity, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    foreign, _ = await _same_answer(
        lambda m: identity.get_merchant(a.ctx, m), b.merchant.merchant_id, MISSING_MERCHANT
    )
    assert isinstance(foreign, e.MerchantNotFound)


async def test_another_merchants_keys_cannot_be_listed_or_issued(
    identity: Identity, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    foreign, _ = await _same_answer(
        lambda m: identity.list_api_keys(a.ctx, m, page_size=0, page_token=""),
        b.merchant.merchant_id,
        MISSING_MERCHANT,
    )
    assert isinstance(foreign, e.MerchantNotFound)

    async def issue(merchant_id: str) -> object:
        return await identity.create_api_key(
            a.ctx,
            merchant_id,
            display_name="x",
            description="",
            role=Role.VIEWER,
            expire_time=None,
            rate_limit=None,
            request_id="",
        )

    await _same_answer(issue, b.merchant.merchant_id, MISSING_MERCHANT)


@pytest.mark.parametrize("operation", ["get", "rotate", "revoke"])
async def test_another_merchants_key_is_not_found(
    identity: Identity, tenants: tuple[Tenant, Tenant], operation: str
) -> None:
    a, b = tenants

    async def call(key_id: str) -> object:
        if operation == "get":
            return await identity.get_api_key(a.ctx, key_id)
        if operation == "rotate":
            return await identity.rotate_api_key(a.ctx, key_id, overlap=timedelta(0), request_id="")
        return await identity.revoke_api_key(a.ctx, key_id)

    foreign, _ = await _same_answer(call, b.owner.key_id, MISSING_KEY)
    assert isinstance(foreign, e.ApiKeyNotFound)
    untouched = await identity.get_api_key(b.ctx, b.owner.key_id)
    assert untouched.revoke_time is None and untouched.previous_secret_expire_time is None


async def test_another_merchant_cannot_be_updated(
    identity: Identity, tenants: tuple[Tenant, Tenant], admin: CallContext
) -> None:
    a, b = tenants
    await _same_answer(
        lambda m: identity.update_merchant(
            a.ctx, m, paths=["status"], status=MerchantStatus.SUSPENDED
        ),
        b.merchant.merchant_id,
        MISSING_MERCHANT,
    )
    assert (await identity.get_merchant(admin, b.merchant.merchant_id)).status is (
        MerchantStatus.ACTIVE
    )


async def test_another_merchants_usage_is_not_found(
    identity: Identity, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    foreign, _ = await _same_answer(
        lambda m: identity.get_usage(a.ctx, m, start_day=None, end_day=None, key_id=""),
        b.merchant.merchant_id,
        MISSING_MERCHANT,
    )
    assert isinstance(foreign, e.MerchantNotFound)


async def test_naming_another_merchants_key_in_usage_matches_nothing(
    identity: Identity, tenants: tuple[Tenant, Tenant], store: SqlIdentityStore
) -> None:
    a, b = tenants
    today = datetime.now(UTC).date()
    await store.add_usage(
        [UsageDelta(b.owner.key_id, b.merchant.merchant_id, "rpc/X", today, 3, 0, None)]
    )
    report = await identity.get_usage(
        a.ctx, a.merchant.merchant_id, start_day=None, end_day=None, key_id=b.owner.key_id
    )
    assert report.records == [] and report.total_allowed == 0


async def test_a_merchants_key_sees_only_its_own_audit_events(
    identity: Identity, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    await identity.revoke_api_key(b.ctx, b.owner.key_id)
    page = await identity.list_audit_events(
        a.ctx, merchant_id=b.merchant.merchant_id, action="", page_size=500, page_token=""
    )
    assert page.items, "a's own key creation is in its log"
    assert {r.entry.merchant_id for r in page.items} == {a.merchant.merchant_id}


async def test_a_refused_cross_tenant_attempt_is_recorded_in_the_callers_log_only(
    identity: Identity, tenants: tuple[Tenant, Tenant], admin: CallContext
) -> None:
    a, b = tenants
    with pytest.raises(e.ApiKeyNotFound):
        await identity.revoke_api_key(a.ctx, b.owner.key_id)
    mine = await identity.list_audit_events(
        a.ctx, action="identity.api_key.revoke", page_size=0, page_token=""
    )
    theirs = await identity.list_audit_events(
        admin,
        merchant_id=b.merchant.merchant_id,
        action="identity.api_key.revoke",
        page_size=0,
        page_token="",
    )
    assert [(r.entry.outcome.value, r.entry.reason) for r in mine.items] == [
        ("failure", "API_KEY_NOT_FOUND")
    ]
    assert theirs.items == []
