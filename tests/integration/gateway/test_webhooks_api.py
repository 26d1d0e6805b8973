"""WebhookService over REST through the real Envoy with API keys: endpoints created (the
``whsec_`` secret in that reply only, and in its idempotent replay), read, listed, updated,
rotated and deleted; and the refusals a client sees: 400 with the field, 403 for a viewer's
key, 404 for another merchant's ids on every route.

Events, attempts and redelivery are in test_webhooks_events_api.py.
"""

from __future__ import annotations

import httpx
import pytest

from identity_svc.domain.permissions import Role
from tests.integration.gateway.payments_support import (
    Merchant,
    error_info,
    new_key,
    new_merchant,
    violated_fields,
)
from tests.integration.gateway.support import GatewayStack
from tests.integration.gateway.webhooks_support import (
    ENDPOINTS,
    EVENTS,
    PUBLIC_URL,
    Hooks,
    key_with_role,
    publish_dead_letter,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")


def refused(reply: httpx.Response, status: int, reason: str) -> list[str]:
    """Assert the reply is the refusal; the fields its BadRequest names."""
    assert (reply.status_code, error_info(reply)["reason"]) == (status, reason), reply.text
    return violated_fields(reply)


async def test_creation_returns_the_secret_once_and_reads_never_show_it(
    merchant: Merchant,
) -> None:
    hooks = Hooks(merchant)
    made = await hooks.created(description="orders", enabled_events=["payment.captured"])
    secret, endpoint = made["secret"], made["webhook_endpoint"]
    assert secret.startswith("whsec_") and endpoint["id"].startswith("we_")
    assert (endpoint["url"], endpoint["enabled"], endpoint["merchant_id"]) == (
        PUBLIC_URL,
        True,
        merchant.merchant_id,
    )
    read = await hooks.get(f"{ENDPOINTS}/{endpoint['id']}")
    listed = await hooks.get(ENDPOINTS)
    assert read.status_code == listed.status_code == 200
    assert read.json()["webhook_endpoint"] == endpoint
    assert [e["id"] for e in listed.json()["webhook_endpoints"]] == [endpoint["id"]]
    for reply in (read, listed):
        assert "whsec_" not in reply.text and 'secret"' not in reply.text


async def test_a_create_replayed_with_its_idempotency_key_returns_the_same_secret(
    merchant: Merchant,
) -> None:
    hooks, key = Hooks(merchant), new_key()
    first = await hooks.create(key=key)
    again = await hooks.create(key=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len((await hooks.get(ENDPOINTS)).json()["webhook_endpoints"]) == 1
    other = await hooks.create("https://93.184.215.15/other", key=key)
    refused(other, 409, "IDEMPOTENCY_KEY_REUSED")


async def test_bad_fields_are_400_with_each_field_named(merchant: Merchant) -> None:
    hooks = Hooks(merchant)
    reply = await hooks.create("http://93.184.215.14/hook", enabled_events=["payment.paid"])
    assert refused(reply, 400, "VALIDATION_FAILED") == [
        "webhook_endpoint.url",
        "webhook_endpoint.enabled_events[0]",
    ]
    # Multicast is never a receiver, whatever the gateway's development settings.
    reply = await hooks.create("https://224.0.0.1/hook")
    assert refused(reply, 400, "WEBHOOK_DESTINATION_REFUSED") == ["webhook_endpoint.url"]
    assert (await hooks.get(ENDPOINTS)).json().get("webhook_endpoints", []) == []


async def test_a_loopback_destination_is_refused_unless_the_gateway_allows_private_ones(
    stack: GatewayStack, merchant: Merchant
) -> None:
    reply = await Hooks(merchant).create("https://127.0.0.1:9/hook")
    if stack.parts.settings.webhook_allow_private_destinations:
        assert reply.status_code == 200, reply.text
    else:
        assert refused(reply, 400, "WEBHOOK_DESTINATION_REFUSED") == ["webhook_endpoint.url"]
        assert "loopback" in reply.json()["message"]


async def test_an_endpoint_is_disabled_its_filter_changed_and_a_bad_url_refused(
    merchant: Merchant,
) -> None:
    hooks = Hooks(merchant)
    endpoint_id = (await hooks.created())["webhook_endpoint"]["id"]
    off = await hooks.patch(endpoint_id, "enabled", enabled=False, url="https://ignored.test/")
    assert off.status_code == 200, off.text
    assert (off.json()["webhook_endpoint"]["enabled"], off.json()["webhook_endpoint"]["url"]) == (
        False,
        PUBLIC_URL,
    )
    events = ["refund.succeeded", "refund.failed"]
    changed = await hooks.patch(endpoint_id, "enabledEvents", enabled_events=events)
    assert changed.status_code == 200, changed.text
    assert changed.json()["webhook_endpoint"]["enabled_events"] == events
    bad = await hooks.patch(endpoint_id, "url", url="ftp://93.184.215.14/")
    assert refused(bad, 400, "VALIDATION_FAILED") == ["webhook_endpoint.url"]
    output_only = await hooks.patch(endpoint_id, "createTime")
    assert refused(output_only, 400, "VALIDATION_FAILED") == ["update_mask.paths[0]"]
    # Several paths, comma-separated, in either spelling.
    both = await hooks.patch(endpoint_id, "description,enabled_events", description="refunds",
                             enabled_events=events[1:])  # fmt: skip
    assert both.status_code == 200, both.text
    read = (await hooks.get(f"{ENDPOINTS}/{endpoint_id}")).json()["webhook_endpoint"]
    assert (read["enabled"], read["enabled_events"], read["url"], read["description"]) == (
        False,
        events[1:],
        PUBLIC_URL,
        "refunds",
    )


async def test_a_rotation_returns_a_new_secret_and_get_shows_the_overlap(
    merchant: Merchant,
) -> None:
    hooks = Hooks(merchant)
    made = await hooks.created()
    endpoint_id = made["webhook_endpoint"]["id"]
    key = new_key()
    rotated = await hooks.post(f"{ENDPOINTS}/{endpoint_id}:rotateSecret", {"overlap": "3600s"}, key)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != made["secret"]
    read = (await hooks.get(f"{ENDPOINTS}/{endpoint_id}")).json()["webhook_endpoint"]
    assert read["previous_secret_expire_time"] > read["update_time"]
    assert "whsec_" not in str(read)
    replay = await hooks.post(f"{ENDPOINTS}/{endpoint_id}:rotateSecret", {"overlap": "3600s"}, key)
    assert replay.json() == rotated.json()
    too_long = await hooks.post(f"{ENDPOINTS}/{endpoint_id}:rotateSecret", {"overlap": "691200s"})
    refused(too_long, 400, "VALIDATION_FAILED")


async def test_a_deleted_endpoint_is_404_from_then_on(merchant: Merchant) -> None:
    hooks = Hooks(merchant)
    endpoint_id = (await hooks.created())["webhook_endpoint"]["id"]
    deleted = await hooks.delete(endpoint_id)
    assert (deleted.status_code, deleted.json()) == (200, {})
    refused(await hooks.get(f"{ENDPOINTS}/{endpoint_id}"), 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
    refused(await hooks.delete(endpoint_id), 404, "WEBHOOK_ENDPOINT_NOT_FOUND")


async def test_another_merchants_ids_are_404_on_every_route(
    stack: GatewayStack, rest: httpx.AsyncClient, merchant: Merchant
) -> None:
    owner, other = Hooks(merchant), Hooks(await new_merchant(stack.services, rest))
    endpoint_id = (await owner.created())["webhook_endpoint"]["id"]
    event_id = await publish_dead_letter(stack, merchant.merchant_id, endpoint_id)
    path = f"{ENDPOINTS}/{endpoint_id}"
    for reply in (
        await other.get(path),
        await other.patch(endpoint_id, "enabled", enabled=False),
        await other.delete(endpoint_id),
        await other.post(f"{path}:rotateSecret", {}),
    ):
        refused(reply, 404, "WEBHOOK_ENDPOINT_NOT_FOUND")
    for reply in (
        await other.get(f"{EVENTS}/{event_id}"),
        await other.get(f"{EVENTS}/{event_id}/attempts"),
        await other.post(f"{EVENTS}/{event_id}:redeliver", {}),
    ):
        refused(reply, 404, "EVENT_NOT_FOUND")
    assert (await other.get(ENDPOINTS)).json().get("webhook_endpoints", []) == []
    assert (await owner.get(path)).json()["webhook_endpoint"]["enabled"] is True


async def test_a_viewers_key_may_not_manage_webhooks(
    stack: GatewayStack, merchant: Merchant
) -> None:
    viewer = Hooks(await key_with_role(stack.services, merchant, Role.VIEWER))
    for reply in (await viewer.create(), await viewer.get(ENDPOINTS), await viewer.get(EVENTS)):
        assert (reply.status_code, reply.json()["details"][0]["reason"]) == (
            403,
            "PERMISSION_MISSING",
        )
    developer = Hooks(await key_with_role(stack.services, merchant, Role.DEVELOPER))
    assert (await developer.get(ENDPOINTS)).status_code == 200
