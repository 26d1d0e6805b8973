"""Keys over the wire: create, use, rotate with overlap, revoke within 1 s, expire."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from paymesh.identity.v1 import identity_pb2 as pb
from tests.integration.identity.support import Denied, Edge

WHOAMI = ("WhoAmI", pb.WhoAmIRequest(), "GET", "/v1/me")


async def new_merchant(edge: Edge, name: str = "Acme") -> str:
    """A merchant created by the admin key; returns its id."""
    created = await edge.call(
        "CreateMerchant",
        pb.CreateMerchantRequest(merchant=pb.Merchant(display_name=name, default_currency="EUR")),
        "POST",
        "/v1/merchants",
        edge.admin_token,
    )
    return str(created.merchant.merchant_id)


async def new_key(
    edge: Edge, merchant_id: str, role: int = pb.ROLE_OWNER, **fields: object
) -> tuple[str, str]:
    """A key of ``merchant_id`` issued by the admin; returns (key id, secret)."""
    reply = await edge.call(
        "CreateApiKey",
        pb.CreateApiKeyRequest(
            merchant_id=merchant_id,
            api_key=pb.ApiKey(display_name="backend", role=role, **fields),  # type: ignore[arg-type]
        ),
        "POST",
        f"/v1/merchants/{merchant_id}/api-keys",
        edge.admin_token,
    )
    return str(reply.api_key.key_id), str(reply.secret)


async def whoami(edge: Edge, token: str) -> pb.WhoAmIResponse:
    """WhoAmI through the edge with ``token``."""
    rpc, request, method, path = WHOAMI
    reply: pb.WhoAmIResponse = await edge.call(rpc, request, method, path, token)
    return reply


async def refused_within(edge: Edge, token: str, bound_s: float) -> tuple[float, Denied]:
    """Seconds until ``token`` is refused at the edge; fails past ``bound_s``."""
    started = time.monotonic()
    while time.monotonic() - started < bound_s + 1.0:
        try:
            await whoami(edge, token)
        except Denied as denied:
            return time.monotonic() - started, denied
        await asyncio.sleep(0.02)
    pytest.fail(f"the key still worked {bound_s + 1.0:.1f} s later")


async def test_a_new_key_works_at_once_and_says_who_it_is(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    key_id, secret = await new_key(edge, merchant_id, pb.ROLE_FINANCE)

    me = (await whoami(edge, secret)).principal

    assert secret.startswith(f"pm_test_{key_id}_")
    assert (me.merchant_id, me.key_id, me.role) == (merchant_id, key_id, pb.ROLE_FINANCE)
    assert "payouts:write" in me.permissions
    assert "merchants:manage" not in me.permissions


async def test_a_revoked_key_is_refused_everywhere_within_one_second(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    key_id, secret = await new_key(edge, merchant_id)
    await whoami(edge, secret)  # now cached at the edge

    await edge.call(
        "RevokeApiKey",
        pb.RevokeApiKeyRequest(key_id=key_id),
        "POST",
        f"/v1/api-keys/{key_id}:revoke",
        edge.admin_token,
    )
    elapsed_s, denied = await refused_within(edge, secret, bound_s=1.0)

    assert elapsed_s < 1.0
    assert (denied.http_status, denied.reason) == (401, "API_KEY_REVOKED")


async def test_after_rotation_both_secrets_work_until_the_overlap_ends(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    key_id, old = await new_key(edge, merchant_id)

    rotated = await edge.call(
        "RotateApiKey",
        pb.RotateApiKeyRequest(key_id=key_id, overlap=Duration(seconds=1)),
        "POST",
        f"/v1/api-keys/{key_id}:rotate",
        edge.admin_token,
    )
    new = rotated.secret

    assert new != old and rotated.api_key.key_id == key_id
    assert rotated.api_key.HasField("previous_secret_expire_time")
    assert (await whoami(edge, old)).principal.key_id == key_id
    assert (await whoami(edge, new)).principal.key_id == key_id
    _, denied = await refused_within(edge, old, bound_s=2.0)
    assert (denied.http_status, denied.reason) == (401, "API_KEY_EXPIRED")
    assert (await whoami(edge, new)).principal.key_id == key_id


async def test_rotation_without_an_overlap_given_keeps_the_old_secret_for_a_day(
    edge: Edge,
) -> None:
    merchant_id = await new_merchant(edge)
    key_id, old = await new_key(edge, merchant_id)

    rotated = await edge.call(
        "RotateApiKey",
        pb.RotateApiKeyRequest(key_id=key_id),
        "POST",
        f"/v1/api-keys/{key_id}:rotate",
        edge.admin_token,
    )

    deadline = rotated.api_key.previous_secret_expire_time.ToDatetime(tzinfo=UTC)
    expected = datetime.now(UTC) + timedelta(hours=24)
    assert abs((deadline - expected).total_seconds()) < 60
    assert (await whoami(edge, old)).principal.key_id == key_id


async def test_a_key_past_its_expire_time_is_refused(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    expire = Timestamp()
    expire.FromDatetime(datetime.now(UTC) + timedelta(seconds=1))
    _, secret = await new_key(edge, merchant_id, expire_time=expire)

    assert (await whoami(edge, secret)).principal.merchant_id == merchant_id
    _, denied = await refused_within(edge, secret, bound_s=1.5)
    assert (denied.http_status, denied.reason) == (401, "API_KEY_EXPIRED")


async def test_suspending_a_merchant_stops_its_keys_and_reactivating_restores_them(
    edge: Edge,
) -> None:
    merchant_id = await new_merchant(edge)
    _, secret = await new_key(edge, merchant_id)
    await whoami(edge, secret)

    async def set_status(status: int) -> None:
        await edge.call(
            "UpdateMerchant",
            pb.UpdateMerchantRequest(
                merchant=pb.Merchant(merchant_id=merchant_id, status=status),  # type: ignore[arg-type]
                update_mask=FieldMask(paths=["status"]),
            ),
            "PATCH",
            f"/v1/merchants/{merchant_id}",
            edge.admin_token,
        )

    await set_status(pb.MERCHANT_STATUS_SUSPENDED)
    elapsed_s, denied = await refused_within(edge, secret, bound_s=1.0)
    await set_status(pb.MERCHANT_STATUS_ACTIVE)
    await asyncio.sleep(0.5)

    assert elapsed_s < 1.0 and denied.reason == "MERCHANT_SUSPENDED"
    assert (await whoami(edge, secret)).principal.merchant_id == merchant_id
