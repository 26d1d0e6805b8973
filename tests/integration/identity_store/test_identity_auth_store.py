"""The AuthStore contract (what the edge relies on) and usage counting, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.domain import errors as e
from identity_svc.domain.keys import hash_token, new_key_id
from identity_svc.domain.model import MerchantStatus
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from identity_svc.service_layer.ports import AuthStore, UsageDelta
from tests.integration.identity_store.identity_store_support import PEPPER, Tenant, new_tenant

DAY = date(2026, 3, 1)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def acme(identity: Identity, admin: CallContext) -> Tenant:
    return await new_tenant(identity, admin, "acme")


def _delta(tenant: Tenant, rpc: str, allowed: int, throttled: int, **kw: object) -> UsageDelta:
    return UsageDelta(
        key_id=tenant.owner.key_id,
        merchant_id=tenant.merchant.merchant_id,
        rpc=rpc,
        day=kw.get("day", DAY),  # type: ignore[arg-type]
        allowed=allowed,
        throttled=throttled,
        last_used=kw.get("last_used"),  # type: ignore[arg-type]
    )


async def test_the_store_satisfies_the_auth_store_protocol(store: SqlIdentityStore) -> None:
    as_port: AuthStore = store
    assert await as_port.change_cursor() == 0


async def test_an_unknown_key_has_no_auth_record(store: SqlIdentityStore) -> None:
    assert await store.load_auth_record(new_key_id()) is None


async def test_the_auth_record_carries_key_merchant_status_and_hashes_only(
    acme: Tenant, store: SqlIdentityStore
) -> None:
    record = await store.load_auth_record(acme.owner.key_id)
    assert record is not None
    assert record.key == acme.owner
    assert record.merchant_status is MerchantStatus.ACTIVE
    assert [s.secret_hash for s in record.secrets] == [hash_token(PEPPER, acme.owner_token)]
    assert record.secrets[0].not_after is None


async def test_a_wrong_secret_for_a_known_key_is_invalid(
    acme: Tenant, store: SqlIdentityStore
) -> None:
    record = await store.load_auth_record(acme.owner.key_id)
    assert record is not None
    with pytest.raises(e.CredentialsInvalid):
        record.authenticate(hash_token(b"another pepper entirely", acme.owner_token), T0)


async def test_the_change_feed_lists_changes_in_order_from_a_cursor(
    identity: Identity, acme: Tenant, admin: CallContext, store: SqlIdentityStore
) -> None:
    start = await store.change_cursor()
    merchant_id, key_id = acme.merchant.merchant_id, acme.owner.key_id
    await identity.rotate_api_key(acme.ctx, key_id, overlap=None, request_id="")
    await identity.update_merchant(
        admin, merchant_id, paths=["status"], status=MerchantStatus.SUSPENDED
    )
    await identity.revoke_api_key(admin, key_id)
    changes = await store.changes_since(start)
    assert [(c.merchant_id, c.key_id) for c in changes] == [
        (merchant_id, key_id),
        (merchant_id, None),
        (merchant_id, key_id),
    ]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    assert await store.change_cursor() == changes[-1].seq
    assert await store.changes_since(changes[0].seq, limit=1) == [changes[1]]
    assert await store.changes_since(changes[-1].seq) == []


async def test_usage_deltas_add_up_per_key_rpc_and_day(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    await store.add_usage(
        [_delta(acme, "a", 2, 1), _delta(acme, "a", 3, 0), _delta(acme, "b", 1, 0)]
    )
    await store.add_usage(
        [_delta(acme, "a", 10, 4), _delta(acme, "a", 0, 1, day=DAY + timedelta(1))]
    )
    report = await identity.get_usage(
        acme.ctx, acme.merchant.merchant_id, start_day=DAY, end_day=DAY + timedelta(1), key_id=""
    )
    assert [(r.rpc, r.day, r.allowed_count, r.throttled_count) for r in report.records] == [
        ("a", DAY, 15, 5),
        ("b", DAY, 1, 0),
        ("a", DAY + timedelta(1), 0, 1),
    ]
    assert (report.total_allowed, report.total_throttled) == (16, 6)


async def test_a_re_sent_usage_batch_is_counted_once(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    batch = [_delta(acme, "a", 3, 1)]

    first = await store.add_usage(batch, batch_id="batch-1")
    again = await store.add_usage(batch, batch_id="batch-1")
    other = await store.add_usage(batch, batch_id="batch-2")

    report = await identity.get_usage(
        acme.ctx, acme.merchant.merchant_id, start_day=DAY, end_day=DAY, key_id=""
    )
    assert (first, again, other) == (True, False, True)
    assert (report.total_allowed, report.total_throttled) == (6, 2)


async def test_usage_is_read_only_inside_the_requested_days(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    await store.add_usage([_delta(acme, "a", 1, 0, day=DAY + timedelta(d)) for d in range(5)])
    report = await identity.get_usage(
        acme.ctx,
        acme.merchant.merchant_id,
        start_day=DAY + timedelta(1),
        end_day=DAY + timedelta(3),
        key_id=acme.owner.key_id,
    )
    assert [r.day for r in report.records] == [DAY + timedelta(d) for d in (1, 2, 3)]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(DAY, DAY - timedelta(1), "end_day"), (DAY, DAY + timedelta(367), "end_day")],
)
async def test_a_bad_usage_window_names_the_field(
    identity: Identity, acme: Tenant, start: date, end: date, field: str
) -> None:
    with pytest.raises(e.ValidationFailed) as caught:
        await identity.get_usage(
            acme.ctx, acme.merchant.merchant_id, start_day=start, end_day=end, key_id=""
        )
    assert [v.field for v in caught.value.violations] == [field]


async def test_last_used_time_only_moves_forward(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    await store.add_usage([_delta(acme, "a", 1, 0, last_used=T0)])
    await store.add_usage([_delta(acme, "a", 1, 0, last_used=T0 - timedelta(minutes=5))])
    await store.add_usage([_delta(acme, "a", 0, 1)])
    key = await identity.get_api_key(acme.ctx, acme.owner.key_id)
    assert key.last_used_time == T0
    await store.add_usage([_delta(acme, "a", 1, 0, last_used=T0 + timedelta(seconds=1))])
    key = await identity.get_api_key(acme.ctx, acme.owner.key_id)
    assert key.last_used_time == T0 + timedelta(seconds=1)


async def test_a_retired_secret_is_still_returned_so_the_edge_can_say_it_expired(
    identity: Identity, acme: Tenant, store: SqlIdentityStore
) -> None:
    await identity.rotate_api_key(acme.ctx, acme.owner.key_id, overlap=timedelta(0), request_id="")
    record = await store.load_auth_record(acme.owner.key_id)
    assert record is not None
    assert len(record.secrets) == 2
    with pytest.raises(e.CredentialsExpired):
        record.authenticate(hash_token(PEPPER, acme.owner_token), datetime.now(UTC))
