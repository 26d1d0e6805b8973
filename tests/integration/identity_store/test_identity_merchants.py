"""Merchant use cases against SQLite and PostgreSQL: create, read, list, update."""

from __future__ import annotations

import pytest

from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.domain.errors import (
    InvalidPageToken,
    MerchantNotFound,
    RequestIdReused,
    ValidationFailed,
)
from identity_svc.domain.model import MerchantStatus
from identity_svc.domain.permissions import Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from tests.integration.identity_store.identity_store_support import caller, new_tenant


async def _create(identity: Identity, admin: CallContext, name: str, request_id: str = "") -> str:
    merchant = await identity.create_merchant(
        admin,
        display_name=name,
        default_currency="USD",
        metadata={"k": "v"},
        status=None,
        request_id=request_id,
    )
    return merchant.merchant_id


async def test_a_created_merchant_reads_back_active_with_its_fields(
    identity: Identity, admin: CallContext
) -> None:
    created = await identity.create_merchant(
        admin,
        display_name="Acme",
        default_currency="JPY",
        metadata={"region": "eu"},
        status=None,
        request_id="",
    )
    found = await identity.get_merchant(admin, created.merchant_id)
    assert found == created
    assert found.status is MerchantStatus.ACTIVE
    assert found.merchant_id.startswith("mer_") and len(found.merchant_id) == 30
    assert found.create_time.tzinfo is not None and found.update_time == found.create_time


async def test_listing_pages_through_merchants_in_creation_order(
    identity: Identity, admin: CallContext
) -> None:
    made = [await _create(identity, admin, f"m{i}") for i in range(5)]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await identity.list_merchants(admin, page_size=2, page_token=token, status=None)
        seen += [m.merchant_id for m in page.items]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    # The bootstrap platform merchant was created first.
    assert seen[1:] == made
    assert pages == 3


async def test_listing_filters_by_status_and_binds_the_token_to_the_filter(
    identity: Identity, admin: CallContext
) -> None:
    suspended = await _create(identity, admin, "s")
    await _create(identity, admin, "a")
    await identity.update_merchant(
        admin, suspended, paths=["status"], status=MerchantStatus.SUSPENDED
    )
    page = await identity.list_merchants(
        admin, page_size=1, page_token="", status=MerchantStatus.SUSPENDED
    )
    assert [m.merchant_id for m in page.items] == [suspended]
    first = await identity.list_merchants(admin, page_size=1, page_token="", status=None)
    with pytest.raises(InvalidPageToken):
        await identity.list_merchants(
            admin,
            page_size=1,
            page_token=first.next_page_token,
            status=MerchantStatus.ACTIVE,
        )


async def test_a_garbled_page_token_is_refused(identity: Identity, admin: CallContext) -> None:
    with pytest.raises(InvalidPageToken) as caught:
        await identity.list_merchants(admin, page_size=0, page_token="not-a-token", status=None)
    assert [v.field for v in caught.value.violations] == ["page_token"]


async def test_suspending_and_reactivating_writes_the_change_feed(
    identity: Identity, admin: CallContext, store: SqlIdentityStore
) -> None:
    merchant_id = await _create(identity, admin, "feed")
    cursor = await store.change_cursor()
    suspended = await identity.update_merchant(
        admin, merchant_id, paths=["status"], status=MerchantStatus.SUSPENDED
    )
    active = await identity.update_merchant(
        admin, merchant_id, paths=["status"], status=MerchantStatus.ACTIVE
    )
    changes = await store.changes_since(cursor)
    assert suspended.status is MerchantStatus.SUSPENDED
    assert active.status is MerchantStatus.ACTIVE
    assert [(c.merchant_id, c.key_id) for c in changes] == [(merchant_id, None)] * 2
    assert changes[0].seq < changes[1].seq


async def test_an_update_changes_only_the_masked_fields(
    identity: Identity, admin: CallContext, store: SqlIdentityStore
) -> None:
    merchant_id = await _create(identity, admin, "before")
    cursor = await store.change_cursor()
    updated = await identity.update_merchant(
        admin,
        merchant_id,
        paths=["display_name", "metadata"],
        display_name="after",
        default_currency="GBP",
        metadata={"new": "1"},
        status=MerchantStatus.SUSPENDED,
    )
    assert (updated.display_name, updated.default_currency) == ("after", "USD")
    assert updated.metadata == {"new": "1"}
    assert updated.status is MerchantStatus.ACTIVE
    assert updated.update_time > updated.create_time
    assert await identity.get_merchant(admin, merchant_id) == updated
    assert await store.changes_since(cursor) == []


@pytest.mark.parametrize(
    ("paths", "field"),
    [
        ([], "update_mask"),
        (["merchant_id"], "update_mask"),
        (["create_time"], "update_mask"),
        (["colour"], "update_mask"),
        (["status"], "merchant.status"),
        (["default_currency"], "merchant.default_currency"),
    ],
)
async def test_an_update_with_a_bad_mask_or_value_names_the_field(
    identity: Identity, admin: CallContext, paths: list[str], field: str
) -> None:
    merchant_id = await _create(identity, admin, "mask")
    with pytest.raises(ValidationFailed) as caught:
        await identity.update_merchant(
            admin, merchant_id, paths=paths, default_currency="EURO", status=None
        )
    assert field in {v.field for v in caught.value.violations}


async def test_create_names_every_invalid_field_at_once(
    identity: Identity, admin: CallContext
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await identity.create_merchant(
            admin,
            display_name="x" * 201,
            default_currency="EURO",
            metadata={f"k{i}": "v" for i in range(33)},
            status=None,
            request_id="r" * 129,
        )
    assert {v.field for v in caught.value.violations} == {
        "merchant.display_name",
        "merchant.default_currency",
        "merchant.metadata",
        "request_id",
    }


async def test_a_replayed_create_returns_the_first_merchant(
    identity: Identity, admin: CallContext
) -> None:
    first = await _create(identity, admin, "once", request_id="create-once")
    again = await _create(identity, admin, "once", request_id="create-once")
    page = await identity.list_merchants(admin, page_size=100, page_token="", status=None)
    assert again == first
    assert [m.merchant_id for m in page.items].count(first) == 1


async def test_a_request_id_reused_with_other_fields_is_refused(
    identity: Identity, admin: CallContext
) -> None:
    first = await _create(identity, admin, "one", request_id="create-x")
    with pytest.raises(RequestIdReused) as caught:
        await _create(identity, admin, "two", request_id="create-x")
    assert caught.value.metadata == {"merchant_id": first}


async def test_request_ids_are_scoped_to_the_calling_key(
    identity: Identity, admin: CallContext
) -> None:
    other_admin_key, _ = await identity.create_api_key(
        admin,
        admin.own_merchant_id,
        display_name="second admin",
        description="",
        role=Role.ADMIN,
        expire_time=None,
        rate_limit=None,
        request_id="",
    )
    first = await _create(identity, admin, "scoped", request_id="same")
    second = await _create(identity, caller(other_admin_key), "scoped", request_id="same")
    assert first != second


async def test_a_missing_merchant_is_not_found(identity: Identity, admin: CallContext) -> None:
    with pytest.raises(MerchantNotFound) as caught:
        await identity.get_merchant(admin, "mer_01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert caught.value.metadata == {"merchant_id": "mer_01ZZZZZZZZZZZZZZZZZZZZZZZZ"}


async def test_a_merchants_own_key_lists_only_its_merchant(
    identity: Identity, admin: CallContext
) -> None:
    tenant = await new_tenant(identity, admin, "solo")
    await new_tenant(identity, admin, "other")
    page = await identity.list_merchants(tenant.ctx, page_size=0, page_token="", status=None)
    assert [m.merchant_id for m in page.items] == [tenant.merchant.merchant_id]
