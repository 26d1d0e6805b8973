"""The webhook endpoint use cases on SQLite and PostgreSQL: creation (a secret issued once,
sealed at rest, replayed sealed under its request_id), validation and the SSRF guard before
anything is stored, merchant scope, pages, updates, deletion, secret rotation with its
overlap, and the audit record of every change.

The events' use cases are in test_webhook_events_service.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from gateway_svc.adapters.webhook_records import EventStatus
from gateway_svc.adapters.webhook_resolver import SystemResolver
from gateway_svc.adapters.webhook_tables import webhook_endpoints
from gateway_svc.domain.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidPageToken,
    ValidationFailed,
    WebhookDestinationRefused,
    WebhookEndpointNotFound,
)
from gateway_svc.domain.webhook_endpoints import (
    DestinationPolicy,
    EndpointSettings,
)
from gateway_svc.domain.webhooks import active_secrets, headers
from gateway_svc.service_layer.payments import PaymentService
from gateway_svc.service_layer.reconciler import Reconciler
from gateway_svc.service_layer.webhook_commands import (
    DeleteWebhookEndpoint,
    UpdateWebhookEndpoint,
)
from gateway_svc.service_layer.webhook_endpoints import CREATE, ROTATE, WebhookEndpoints
from gateway_svc.service_layer.wiring import build_webhooks
from gateway_svc.settings import GatewaySettings
from paymesh.gateway.v1 import webhooks_pb2 as pb
from tests.integration.gateway_store.webhook_service_support import (
    KEY_ID,
    PUBLIC_URL,
    Hooks,
    TableResolver,
    make_hooks,
    new_event,
    new_merchant,
    publish,
    sent,
)


@pytest.fixture
def hooks(engine: AsyncEngine) -> Hooks:
    return make_hooks(engine)


def update(merchant: str, endpoint_id: str, *mask: str, **fields: object) -> UpdateWebhookEndpoint:
    settings = EndpointSettings(**{"url": "", **fields})  # type: ignore[arg-type]
    return UpdateWebhookEndpoint(merchant, KEY_ID, endpoint_id, settings, mask)


async def test_creation_issues_a_whsec_secret_once_and_stores_it_sealed(hooks: Hooks) -> None:
    merchant = new_merchant()
    answer = await hooks.create(merchant, events=["payment.captured", "payment.captured"])
    reply = sent(answer, pb.CreateWebhookEndpointResponse.FromString)
    assert reply.secret.startswith("whsec_") and len(reply.secret) == 6 + 44
    e = reply.webhook_endpoint
    assert (e.id[:3], e.merchant_id, e.url, e.enabled) == ("we_", merchant, PUBLIC_URL, True)
    assert list(e.enabled_events) == ["payment.captured"]  # duplicates dropped
    assert [s.secret for s in await hooks.secrets(merchant, e.id)] == [reply.secret]
    async with hooks.engine.connect() as conn:
        raw = (await conn.execute(select(webhook_endpoints.c.secrets))).scalars().all()
    assert raw and all(reply.secret.encode() not in bytes(blob) for blob in raw)
    shown = await hooks.endpoints.get(merchant, e.id)
    assert "whsec_" not in repr(shown) and shown.previous_secret_expires_at is None
    assert (await hooks.audited())["gateway.webhook_endpoint.create"] == [
        {"endpoint_id": e.id, "url": PUBLIC_URL, "enabled": "true",
         "enabled_events": "payment.captured"}
    ]  # fmt: skip


async def test_a_retry_with_the_request_id_replays_the_same_secret_from_a_sealed_store(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    first = await hooks.create(merchant, request_id="create-1")
    again = await hooks.create(merchant, request_id="create-1")
    assert again.replayed and again.response == first.response
    secret = sent(first, pb.CreateWebhookEndpointResponse.FromString).secret
    [(operation, code, body)] = await hooks.stored_keys(merchant)
    assert (operation, code) == ("webhook_endpoints.create", 0)
    assert body is not None and secret.encode() not in body
    assert len((await hooks.endpoints.list(merchant, 0, "")).items) == 1
    with pytest.raises(IdempotencyKeyReused):
        await hooks.create(merchant, "https://93.184.215.15/other", request_id="create-1")


async def test_every_bad_field_is_refused_together_and_nothing_is_stored(hooks: Hooks) -> None:
    merchant = new_merchant()
    with pytest.raises(ValidationFailed) as refused:
        await hooks.create(merchant, "http://93.184.215.14/hook", events=["payment.paid"],
                           description="x" * 501, request_id="k-1")  # fmt: skip
    assert refused.value.reason == "VALIDATION_FAILED"
    assert [v.field for v in refused.value.violations] == [
        "webhook_endpoint.url",
        "webhook_endpoint.description",
        "webhook_endpoint.enabled_events[0]",
    ]
    assert "https" in refused.value.violations[0].description
    assert (await hooks.endpoints.list(merchant, 0, "")).items == []
    # The refused request stored no key: the corrected one runs under the same request_id.
    assert (await hooks.create(merchant, request_id="k-1")).result is not None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::ffff:10.0.0.1]/hook", "private"),
        ("https://localhost:8443/hook", "resolves to 127.0.0.1: loopback"),
        ("https://hooks.invalid/hook", "resolves to no address"),
    ],
)
async def test_a_private_or_unresolvable_destination_is_refused_before_saving(
    hooks: Hooks, url: str, why: str
) -> None:
    merchant = new_merchant()
    with pytest.raises(WebhookDestinationRefused) as refused:
        await hooks.create(merchant, url)
    [violation] = refused.value.violations
    assert violation.field == "webhook_endpoint.url" and why in violation.description
    assert (await hooks.endpoints.list(merchant, 0, "")).items == []


async def test_a_host_name_is_judged_by_every_address_it_resolves_to(hooks: Hooks) -> None:
    resolver = TableResolver({"hooks.example.com": ["93.184.215.14"],
                              "rebind.example.com": ["93.184.215.14", "10.1.2.3"]})  # fmt: skip
    endpoints = hooks.with_policy(DestinationPolicy(), resolver)
    merchant = new_merchant()
    made = await hooks.create(merchant, "https://hooks.example.com/h", endpoints=endpoints)
    assert made.result is not None and resolver.asked == ["hooks.example.com:443"]
    with pytest.raises(WebhookDestinationRefused, match=r"10\.1\.2\.3"):
        await hooks.create(merchant, "https://rebind.example.com/h", endpoints=endpoints)


async def test_the_development_settings_let_loopback_and_http_through(hooks: Hooks) -> None:
    merchant = new_merchant()
    local = hooks.with_policy(DestinationPolicy(allow_insecure_http=True, allow_private=True))
    made = await hooks.created(merchant, "http://localhost:8080/demo", endpoints=local)
    assert made.endpoint.url == "http://localhost:8080/demo"
    # Never a receiver, whatever the settings: an unspecified or multicast address.
    for url in ("https://0.0.0.0/hook", "https://224.0.0.1/hook"):
        with pytest.raises(WebhookDestinationRefused):
            await hooks.create(merchant, url, endpoints=local)


async def test_another_merchants_endpoint_is_not_found_on_every_call(hooks: Hooks) -> None:
    owner, other = new_merchant(), new_merchant()
    theirs = (await hooks.created(owner)).endpoint.id
    calls = [
        hooks.endpoints.get(other, theirs),
        hooks.endpoints.update(update(other, theirs, "enabled", enabled=False)),
        hooks.endpoints.delete(DeleteWebhookEndpoint(other, KEY_ID, theirs)),
        hooks.rotate(other, theirs),
    ]
    for call in calls:
        with pytest.raises(WebhookEndpointNotFound):
            await call
    assert (await hooks.endpoints.list(other, 0, "")).items == []
    assert (await hooks.endpoints.get(owner, theirs)).enabled  # untouched


async def test_endpoints_are_listed_newest_first_in_pages_bound_to_the_merchant(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    made = []
    for i in range(5):
        made.append((await hooks.created(merchant, f"{PUBLIC_URL}/{i}")).endpoint.id)
        hooks.clock.advance(1)
    first = await hooks.endpoints.list(merchant, 2, "")
    second = await hooks.endpoints.list(merchant, 2, first.next_page_token)
    last = await hooks.endpoints.list(merchant, 2, second.next_page_token)
    listed = [e.id for page in (first, second, last) for e in page.items]
    assert listed == made[::-1] and last.next_page_token == ""
    with pytest.raises(InvalidPageToken):
        await hooks.endpoints.list(new_merchant(), 2, first.next_page_token)


async def test_an_update_changes_only_the_masked_fields_and_disabling_cancels_deliveries(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    e = (await hooks.created(merchant, events=["payment.captured"])).endpoint
    owed = new_event(merchant, hooks.clock())
    await publish(hooks.engine, owed, [e.id])
    assert (await hooks.events.get_event(merchant, owed.id)).status is EventStatus.PENDING
    off = await hooks.endpoints.update(update(merchant, e.id, "enabled", enabled=False,
                                              description="ignored"))  # fmt: skip
    assert (off.enabled, off.disabled_reason, off.description) == (False, "", "orders")
    # A disabled endpoint owes nothing: its pending delivery was canceled.
    assert (await hooks.events.get_event(merchant, owed.id)).status is EventStatus.DELIVERED
    changed = await hooks.endpoints.update(
        update(merchant, e.id, "enabled", "enabled_events", enabled=True, enabled_events=())
    )
    assert (changed.enabled, changed.enabled_events, changed.url) == (True, (), PUBLIC_URL)
    assert changed.updated_at > e.updated_at and changed.created_at == e.created_at
    details = (await hooks.audited())["gateway.webhook_endpoint.update"]
    assert sorted((d["enabled"], d["enabled_events"]) for d in details) == [
        ("false", "payment.captured"),
        ("true", "*"),
    ]


async def test_a_new_url_is_validated_as_on_creation_and_bad_mask_paths_are_refused(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    e = (await hooks.created(merchant)).endpoint
    with pytest.raises(WebhookDestinationRefused):
        await hooks.endpoints.update(update(merchant, e.id, "url", url="https://10.0.0.7/h"))
    with pytest.raises(ValidationFailed) as refused:
        await hooks.endpoints.update(update(merchant, e.id, "url", "id", "secret",
                                            url="https://93.184.215.20/h"))  # fmt: skip
    assert [v.field for v in refused.value.violations] == [
        "update_mask.paths[1]",
        "update_mask.paths[2]",
    ]
    with pytest.raises(ValidationFailed, match="update_mask is required"):
        await hooks.endpoints.update(update(merchant, e.id, url="https://93.184.215.20/h"))
    moved = await hooks.endpoints.update(update(merchant, e.id, "url", url="https://1.1.1.1/h"))
    assert moved.url == "https://1.1.1.1/h"
    assert (await hooks.endpoints.get(merchant, e.id)).url == "https://1.1.1.1/h"


async def test_a_deleted_endpoint_is_gone_for_the_merchant_and_deleting_again_is_not_found(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    e = (await hooks.created(merchant)).endpoint
    await hooks.endpoints.delete(DeleteWebhookEndpoint(merchant, KEY_ID, e.id))
    with pytest.raises(WebhookEndpointNotFound):
        await hooks.endpoints.get(merchant, e.id)
    with pytest.raises(WebhookEndpointNotFound):
        await hooks.endpoints.delete(DeleteWebhookEndpoint(merchant, KEY_ID, e.id))
    assert (await hooks.endpoints.list(merchant, 0, "")).items == []
    assert [d["endpoint_id"] for d in (await hooks.audited())["gateway.webhook_endpoint.delete"]
            ] == [e.id]  # fmt: skip


async def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(hooks: Hooks) -> None:
    merchant = new_merchant()
    created = await hooks.created(merchant)
    old, endpoint_id = created.secret, created.endpoint.id
    hooks.clock.advance(120)  # rotated two minutes after creation (receivers allow 5)
    answer = await hooks.rotate(merchant, endpoint_id, key="rotate-1")
    reply = sent(answer, pb.RotateWebhookSecretResponse.FromString)
    assert reply.secret.startswith("whsec_") and reply.secret != old
    now = hooks.clock()
    expires = reply.webhook_endpoint.previous_secret_expire_time.ToDatetime(tzinfo=now.tzinfo)
    assert timedelta(hours=23, minutes=59) < expires - now <= timedelta(hours=24)
    issued = reply.webhook_endpoint.secret_create_time.ToDatetime(tzinfo=now.tzinfo)
    created_at = reply.webhook_endpoint.create_time.ToDatetime(tzinfo=now.tzinfo)
    # The new secret's issue time (the rotation), not the endpoint's creation before it.
    assert issued - created_at >= timedelta(minutes=2) and issued <= now
    signing = active_secrets(await hooks.secrets(merchant, endpoint_id), now)
    assert signing == (reply.secret, old)
    body = b'{"id":"evt_1","type":"payment.captured"}'
    sent_headers = headers("evt_1", int(now.timestamp()), body, signing)
    for receiver_secret in (old, reply.secret):  # either receiver accepts the delivery
        assert Webhook(receiver_secret).verify(body, sent_headers)["id"] == "evt_1"
    assert active_secrets(await hooks.secrets(merchant, endpoint_id),
                          now + timedelta(hours=25)) == (reply.secret,)  # fmt: skip
    replay = await hooks.rotate(merchant, endpoint_id, key="rotate-1")
    assert replay.replayed and replay.response == answer.response
    assert "gateway.webhook_endpoint.rotate" in await hooks.audited()


async def test_a_rotation_without_overlap_stops_the_old_secret_and_over_7_days_is_refused(
    hooks: Hooks,
) -> None:
    merchant = new_merchant()
    created = await hooks.created(merchant)
    answer = await hooks.rotate(merchant, created.endpoint.id, timedelta(0))
    assert answer.result is not None
    assert answer.result.endpoint.previous_secret_expires_at is None
    now = hooks.clock()
    assert active_secrets(await hooks.secrets(merchant, created.endpoint.id), now) == (
        answer.result.secret,
    )
    for overlap in (timedelta(days=7, seconds=1), timedelta(seconds=-1)):
        with pytest.raises(ValidationFailed) as refused:
            await hooks.rotate(merchant, created.endpoint.id, overlap)
        assert [v.field for v in refused.value.violations] == ["overlap"]


class Died(BaseException):
    """The process stops mid-request (not an error the request could handle)."""


async def test_the_completer_forgets_a_create_that_died_before_its_transaction_committed(
    hooks: Hooks,
) -> None:
    reconciler = Reconciler(PaymentService(hooks.runtime))
    settings = GatewaySettings(plaintext=True, webhook_allow_private_destinations=True)
    api = build_webhooks(settings, hooks.runtime, reconciler, hooks.box, SystemResolver())
    assert {CREATE, ROTATE} <= reconciler.registered_operations
    assert api.endpoints.policy == DestinationPolicy(allow_private=True)

    def die(n: int) -> bytes:
        raise Died

    dying = WebhookEndpoints(hooks.runtime, hooks.box, SystemResolver(), DestinationPolicy(),
                             token_bytes=die)  # fmt: skip
    merchant = new_merchant()
    with pytest.raises(Died):
        await hooks.create(merchant, request_id="died-1", endpoints=dying)
    with pytest.raises(IdempotencyKeyInUse):  # its lock still holds the key
        await hooks.create(merchant, request_id="died-1")
    hooks.clock.advance(hooks.runtime.lock_timeout.total_seconds() + 1)
    await reconciler.run_once()
    assert await hooks.stored_keys(merchant) == []
    again = await hooks.create(merchant, request_id="died-1")
    assert again.result is not None and not again.replayed
