"""WebhookService's events over REST through the real Envoy: the events a real payment's
state changes wrote (S2's emission, in the payment's own transaction), filtered and read;
a dead letter found by its status, its attempts, and its redelivery with the refusals a
client sees; and identity's audit log of every webhook mutation.

A dead letter takes three days of retries to happen by itself, so it is made in the
gateway's own database (``webhooks_support.publish_dead_letter``) exactly as the delivery
worker leaves one; everything else is the gateway's own doing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.gateway.payments_support import (
    Merchant,
    card,
    error_info,
    payment_body,
    violated_fields,
)
from tests.integration.gateway.support import GatewayStack
from tests.integration.gateway.webhooks_support import (
    ENDPOINTS,
    EVENTS,
    Hooks,
    publish_dead_letter,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")
DEAD = "EVENT_DELIVERY_STATUS_DEAD_LETTER"


def ok(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_a_payments_state_changes_are_listed_as_its_events(merchant: Merchant) -> None:
    hooks = Hooks(merchant)
    endpoint_id = (await hooks.created(enabled_events=["payment.captured"]))["webhook_endpoint"]
    payment = await merchant.pay(payment_body(2_500, "USD", card("4242424242424242")))
    assert payment["status"] == "PAYMENT_STATUS_CAPTURED"
    captured = ok(await hooks.get(EVENTS, type="payment.captured"))["events"]
    assert [e["data"]["id"] for e in captured] == [payment["id"]]
    event = captured[0]
    assert (event["type"], event["merchant_id"], event["endpoint_ids"]) == (
        "payment.captured",
        merchant.merchant_id,
        [endpoint_id["id"]],
    )
    assert event["api_version"] and event["delivery_status"] != DEAD
    # The delivery worker may try the event between the two reads: compare what it cannot
    # change (its delivery state moves on its own).
    moving = ("delivery_status", "attempt_count", "next_attempt_time")
    got = ok(await hooks.get(f"{EVENTS}/{event['id']}"))["event"]
    assert {k: v for k, v in got.items() if k not in moving} == {
        k: v for k, v in event.items() if k not in moving
    }
    every = ok(await hooks.get(EVENTS))["events"]
    assert event["id"] in [e["id"] for e in every]
    assert all(e["data"]["id"] == payment["id"] for e in every)


async def test_event_filters_are_checked_and_tokens_bound_to_them(merchant: Merchant) -> None:
    hooks = Hooks(merchant)
    reply = await hooks.get(EVENTS, type="payment.paid")
    assert (reply.status_code, violated_fields(reply)) == (400, ["type"])
    reply = await hooks.get(
        EVENTS, start_time="2026-12-02T00:00:00Z", end_time="2026-12-01T00:00:00Z"
    )
    assert (reply.status_code, violated_fields(reply)) == (400, ["end_time"])
    reply = await hooks.get(EVENTS, page_token="bm90IG91cnM")
    assert (reply.status_code, error_info(reply)["reason"]) == (400, "INVALID_PAGE_TOKEN")


async def test_a_dead_letter_is_found_its_attempts_read_and_it_is_redelivered(
    stack: GatewayStack, merchant: Merchant
) -> None:
    hooks = Hooks(merchant)
    endpoint_id = (await hooks.created())["webhook_endpoint"]["id"]
    event_id = await publish_dead_letter(stack, merchant.merchant_id, endpoint_id)
    dead = ok(await hooks.get(EVENTS, delivery_status=DEAD))["events"]
    assert [(e["id"], e["attempt_count"]) for e in dead] == [(event_id, 1)]
    [tried] = ok(await hooks.get(f"{EVENTS}/{event_id}/attempts"))["delivery_attempts"]
    assert (tried["endpoint_id"], tried["attempt_number"], tried["http_status"]) == (
        endpoint_id,
        1,
        500,
    )
    assert (tried["outcome"], tried["response_excerpt"]) == (
        "DELIVERY_ATTEMPT_OUTCOME_DEAD_LETTERED",
        "receiver broken",
    )
    again = ok(await hooks.post(f"{EVENTS}/{event_id}:redeliver", {}))["event"]
    assert again["delivery_status"] == "EVENT_DELIVERY_STATUS_PENDING"
    assert "next_attempt_time" in again
    assert ok(await hooks.get(EVENTS, delivery_status=DEAD)).get("events", []) == []


async def test_a_redelivery_to_the_wrong_or_a_disabled_endpoint_is_refused(
    stack: GatewayStack, merchant: Merchant
) -> None:
    hooks = Hooks(merchant)
    sent_to = (await hooks.created())["webhook_endpoint"]["id"]
    never = (await hooks.created("https://93.184.215.16/"))["webhook_endpoint"]["id"]
    event_id = await publish_dead_letter(stack, merchant.merchant_id, sent_to)
    path = f"{EVENTS}/{event_id}:redeliver"
    wrong = await hooks.post(path, {"endpoint_id": never})
    assert (wrong.status_code, violated_fields(wrong)) == (400, ["endpoint_id"])
    assert (await hooks.patch(sent_to, "enabled", enabled=False)).status_code == 200
    disabled = await hooks.post(path, {"endpoint_id": sent_to})
    assert (disabled.status_code, error_info(disabled)["reason"]) == (
        400,
        "WEBHOOK_ENDPOINT_DISABLED",
    )
    assert (await hooks.patch(sent_to, "enabled", enabled=True)).status_code == 200
    again = ok(await hooks.post(path, {"endpoint_id": sent_to}))["event"]
    assert again["delivery_status"] == "EVENT_DELIVERY_STATUS_PENDING"


async def test_every_webhook_mutation_is_in_identitys_audit_log_and_no_secret_is(
    stack: GatewayStack, merchant: Merchant, rest: httpx.AsyncClient
) -> None:
    hooks = Hooks(merchant)
    made = await hooks.created()
    endpoint_id = made["webhook_endpoint"]["id"]
    assert (await hooks.patch(endpoint_id, "description", description="x")).status_code == 200
    rotated = ok(await hooks.post(f"{ENDPOINTS}/{endpoint_id}:rotateSecret", {"overlap": "0s"}))
    event_id = await publish_dead_letter(stack, merchant.merchant_id, endpoint_id)
    ok(await hooks.post(f"{EVENTS}/{event_id}:redeliver", {}))
    assert (await hooks.delete(endpoint_id)).status_code == 200

    await stack.parts.payments.relay.drain()
    reply = await rest.get(
        "/v1/audit-events", params={"merchant_id": merchant.merchant_id}, headers=stack.edge.auth()
    )
    assert reply.status_code == 200, reply.text
    events = [e for e in reply.json()["audit_events"] if e["action"].startswith("gateway.")]
    assert sorted(e["action"] for e in events) == [
        "gateway.event.redeliver",
        "gateway.webhook_endpoint.create",
        "gateway.webhook_endpoint.delete",
        "gateway.webhook_endpoint.rotate",
        "gateway.webhook_endpoint.update",
    ]
    assert {(e["actor"]["kind"], e["actor"]["id"]) for e in events} == {
        ("api_key", merchant.key_id)
    }
    assert made["secret"] not in reply.text and rotated["secret"] not in reply.text
