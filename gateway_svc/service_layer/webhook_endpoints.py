"""The webhook endpoint use cases: create, read, list, update, delete, rotate the secret.

Every call acts on one merchant's endpoints: another merchant's id, a deleted endpoint and a
missing one all answer WEBHOOK_ENDPOINT_NOT_FOUND. The rules are the domain's
(``domain.webhook_endpoints``: the URL's form and destination, the description, the event
filter, the update mask, the rotation's overlap; ``domain.webhooks``: secrets and their
rotation); the storage is ``uow.webhook_endpoints``, whose secrets stay sealed
(``secret_box``) except while a secret is issued or an endpoint shown.

- Validation, the host's resolution included (``HostResolver``, when the gateway refuses
  private destinations), comes before anything is stored.
- Create and rotate are keyed (``keyed_once``): the endpoint, its audit record and the
  response are written in one transaction; the response, which carries the new secret, is
  stored sealed, and a retry with the same request_id gets the same secret back.
- Update and rotate write over the version they read (CONCURRENT_MODIFICATION otherwise).
  Disabling or deleting an endpoint cancels the deliveries it was owed (``webhook_store``).
- Every change writes an audit record (``gateway.webhook_endpoint.<verb>``) to the outbox
  in its transaction, naming the endpoint, never a secret.
"""

from __future__ import annotations

import secrets as random_source
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.adapters.webhook_records import EndpointRecord, open_secrets, seal_secrets
from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.webhook_endpoints import (
    UPDATABLE,
    DestinationPolicy,
    EndpointSettings,
    check_mask,
    check_resolved,
    check_settings,
    endpoint_not_found,
    needs_resolving,
    previous_secret_expiry,
    rotation_overlap,
    updated,
)
from gateway_svc.domain.webhooks import SECRET_BYTES, EndpointSecret, new_secret, rotate
from svc_kit.pagination import Page

from .commands import Answer
from .fx_effects import audit
from .fx_pages import page_after, page_key, page_size, pagination
from .keyed_once import KeyedRequest, run_once
from .keys import KeyHold
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork
from .webhook_commands import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    EndpointView,
    HostResolver,
    IssuedSecret,
    RenderIssued,
    RotateWebhookSecret,
    UpdateWebhookEndpoint,
)

CREATE = "webhook_endpoints.create"
ROTATE = "webhook_endpoints.rotate_secret"
"""The idempotency key operations (the completer's resumers are registered under them)."""
ACTIONS = {
    verb: f"gateway.webhook_endpoint.{verb}" for verb in ("create", "update", "delete", "rotate")
}
URL_FIELD = "webhook_endpoint.url"
_AUDIT_VALUE_CHARS = 512  # identity's limit on a detail's value
_MILLISECOND = timedelta(milliseconds=1)


def endpoint_view(
    record: EndpointRecord, opened: Sequence[EndpointSecret], now: datetime
) -> EndpointView:
    """What the merchant sees of an endpoint whose secrets ``opened`` are."""
    return EndpointView(
        id=record.id,
        merchant_id=record.merchant_id,
        url=record.url,
        description=record.description,
        enabled_events=record.enabled_events,
        enabled=record.enabled,
        disabled_reason=record.disabled_reason,
        previous_secret_expires_at=previous_secret_expiry(opened, now),
        # The current secret is first; one sealed before issue times were kept has none, and
        # the endpoint's creation is then the best answer.
        secret_created_at=(opened[0].issued_at if opened else None) or record.created_at,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def audit_details(record: EndpointRecord) -> dict[str, str]:
    """What an audit record says about an endpoint: its settings, never a secret, and the
    URL without its query (merchants put tokens there)."""
    parts = urlsplit(record.url)
    return {
        "endpoint_id": record.id,
        "url": parts._replace(query="").geturl()[:_AUDIT_VALUE_CHARS],
        "enabled": str(record.enabled).lower(),
        "enabled_events": ",".join(record.enabled_events) or "*",
    }


class WebhookEndpoints:
    """The endpoint use cases; one per process."""

    def __init__(
        self,
        rt: GatewayRuntime,
        box: SecretBox,
        resolver: HostResolver,
        policy: DestinationPolicy,
        *,
        token_bytes: Callable[[int], bytes] = random_source.token_bytes,
    ) -> None:
        self._rt = rt
        self._box = box
        self._resolver = resolver
        self.policy = policy
        self._token_bytes = token_bytes

    async def create(
        self, cmd: CreateWebhookEndpoint, render: RenderIssued
    ) -> Answer[IssuedSecret]:
        """Validate and store an enabled endpoint with a new secret (keyed). Raises
        ValidationFailed, WebhookDestinationRefused, IdempotencyKeyReused,
        IdempotencyKeyInUse."""
        settings = await self._checked(replace(cmd.settings, enabled=True), UPDATABLE)
        fields = {
            "url": settings.url,
            "description": settings.description,
            "enabled_events": list(settings.enabled_events),
        }
        keyed = KeyedRequest(
            cmd.merchant_id, cmd.request_id, CREATE, idem.fingerprint(CREATE, fields)
        )

        async def execute(uow: GatewayUnitOfWork, hold: KeyHold) -> IssuedSecret:
            rt, now = self._rt, self._rt.clock()
            secret = new_secret(self._token_bytes(SECRET_BYTES))
            opened = (EndpointSecret(secret, None, now),)
            endpoint_id = rt.new_id("we")
            record = EndpointRecord(
                id=endpoint_id,
                merchant_id=cmd.merchant_id,
                url=settings.url,
                description=settings.description,
                enabled_events=settings.enabled_events,
                enabled=True,
                disabled_reason="",
                secrets=seal_secrets(self._box, endpoint_id, opened),
                created_at=now,
                updated_at=now,
            )
            await uow.webhook_endpoints.add(record)
            await self._audit(uow, "create", record, cmd.actor_key_id, hold.record.key, now)
            return IssuedSecret(endpoint_view(record, opened, now), secret)

        return await run_once(self._rt, keyed, execute, render, self._box)

    async def get(self, merchant_id: str, endpoint_id: str) -> EndpointView:
        """The merchant's live endpoint; raises WebhookEndpointNotFound."""
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.webhook_endpoints.get(merchant_id, endpoint_id)
        if found is None:
            raise endpoint_not_found(endpoint_id)
        return self._view(found)

    async def list(self, merchant_id: str, size: int, token: str) -> Page[EndpointView]:
        """A page of the merchant's live endpoints, newest first; raises ValidationFailed,
        InvalidPageToken."""
        limit = page_size(size)
        filters: dict[str, object] = {"merchant": merchant_id, "list": "webhook_endpoints"}
        after = page_after(token, filters)
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.webhook_endpoints.list(merchant_id, after, limit + 1)
        page = pagination.page(found, limit, lambda e: page_key(e.created_at, e.id), filters)
        return Page([self._view(e) for e in page.items], page.next_page_token)

    async def update(self, cmd: UpdateWebhookEndpoint) -> EndpointView:
        """Change the fields the mask names (a new URL validated as on creation); the
        endpoint after. Raises ValidationFailed, WebhookDestinationRefused,
        WebhookEndpointNotFound, ConcurrentModification."""
        mask = check_mask(cmd.mask)
        given = await self._checked(cmd.settings, mask)
        rt, now = self._rt, self._rt.clock()
        async with GatewayUnitOfWork(rt.engine) as uow:
            found = await uow.webhook_endpoints.get(cmd.merchant_id, cmd.endpoint_id)
            if found is None:
                raise endpoint_not_found(cmd.endpoint_id)
            record, opened = self._changed(found, given, mask, now)
            stored = await uow.webhook_endpoints.update(record, found.version)
            await self._audit(uow, "update", stored, cmd.actor_key_id, str(stored.version), now)
            await uow.commit()
        rt.kick()
        return endpoint_view(stored, opened, now)

    def _changed(
        self, found: EndpointRecord, given: EndpointSettings, mask: Collection[str], now: datetime
    ) -> tuple[EndpointRecord, tuple[EndpointSecret, ...]]:
        """``found`` with the masked fields of ``given``, its secrets re-sealed (a row
        sealed under an older key moves to the current one on its next write)."""
        current = EndpointSettings(
            found.url, found.description, found.enabled_events, found.enabled
        )
        new = updated(current, given, mask)
        # Enabling clears the reason; the merchant's own disabling has none; a gateway's
        # reason (a receiver's 410) stays while the endpoint stays disabled.
        reason = found.disabled_reason if not (new.enabled or found.enabled) else ""
        opened = open_secrets(self._box, found.id, found.secrets)
        record = replace(
            found,
            url=new.url,
            description=new.description,
            enabled_events=new.enabled_events,
            enabled=new.enabled,
            disabled_reason=reason,
            secrets=seal_secrets(self._box, found.id, opened),
            updated_at=now,
        )
        return record, opened

    async def delete(self, cmd: DeleteWebhookEndpoint) -> None:
        """Soft-delete the endpoint and cancel what it was owed; raises
        WebhookEndpointNotFound (a deleted one too)."""
        rt, now = self._rt, self._rt.clock()
        async with GatewayUnitOfWork(rt.engine) as uow:
            found = await uow.webhook_endpoints.get(cmd.merchant_id, cmd.endpoint_id)
            deleted = found is not None and await uow.webhook_endpoints.delete(
                cmd.merchant_id, cmd.endpoint_id, now
            )
            if found is None or not deleted:
                raise endpoint_not_found(cmd.endpoint_id)
            await self._audit(uow, "delete", found, cmd.actor_key_id, "", now)
            await uow.commit()
        rt.kick()

    async def rotate(self, cmd: RotateWebhookSecret, render: RenderIssued) -> Answer[IssuedSecret]:
        """Issue a new secret; older ones sign beside it until the overlap ends (keyed).
        Raises ValidationFailed, WebhookEndpointNotFound, IdempotencyKeyReused,
        IdempotencyKeyInUse, ConcurrentModification."""
        overlap = rotation_overlap(cmd.overlap)
        fields = {"endpoint_id": cmd.endpoint_id, "overlap_ms": overlap // _MILLISECOND}
        keyed = KeyedRequest(
            cmd.merchant_id, cmd.request_id, ROTATE, idem.fingerprint(ROTATE, fields)
        )

        async def execute(uow: GatewayUnitOfWork, hold: KeyHold) -> IssuedSecret:
            now = self._rt.clock()
            found = await uow.webhook_endpoints.get(cmd.merchant_id, cmd.endpoint_id)
            if found is None:
                raise endpoint_not_found(cmd.endpoint_id)
            secret = new_secret(self._token_bytes(SECRET_BYTES))
            opened = rotate(open_secrets(self._box, found.id, found.secrets), secret, now, overlap)
            sealed = seal_secrets(self._box, found.id, opened)
            stored = await uow.webhook_endpoints.update(
                replace(found, secrets=sealed, updated_at=now), found.version
            )
            await self._audit(
                uow,
                "rotate",
                stored,
                cmd.actor_key_id,
                hold.record.key,
                now,
                overlap_s=str(int(overlap.total_seconds())),
            )
            return IssuedSecret(endpoint_view(stored, opened, now), secret)

        return await run_once(self._rt, keyed, execute, render, self._box)

    async def _checked(
        self, settings: EndpointSettings, fields: Collection[str]
    ) -> EndpointSettings:
        """The domain's verdict on ``fields``, then every address of the host (when the
        gateway refuses private destinations and the host is a name)."""
        checked, destination = check_settings(settings, self.policy, fields=fields)
        if destination is not None and needs_resolving(destination, self.policy):
            addresses = await self._resolver.resolve(destination.host, destination.port)
            check_resolved(destination, addresses, self.policy, URL_FIELD)
        return checked

    def _view(self, record: EndpointRecord) -> EndpointView:
        opened = open_secrets(self._box, record.id, record.secrets)
        return endpoint_view(record, opened, self._rt.clock())

    async def _audit(
        self,
        uow: GatewayUnitOfWork,
        verb: str,
        record: EndpointRecord,
        actor_key_id: str,
        occasion: str,
        now: datetime,
        **extra: str,
    ) -> None:
        """One audit record of ``verb``; ``occasion`` (the key, or the version written)
        makes its event id unique to this change and the same on a redelivery."""
        action = ACTIONS[verb]
        keyed = verb in ("create", "rotate")
        await audit(
            uow,
            action=action,
            merchant_id=record.merchant_id,
            target=f"webhook-endpoints/{record.id}",
            actor_key_id=actor_key_id,
            event_parts=(record.merchant_id, action, record.id, occasion),
            details=audit_details(record) | extra,
            now=now,
            request_id=occasion if keyed else "",
        )
