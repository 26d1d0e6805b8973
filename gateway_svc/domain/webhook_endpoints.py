"""A merchant's webhook endpoint as WebhookService changes it: what a valid one is, what an
update may touch, how long a rotation may overlap, and the refusals the service adds.

Pure domain, like ``webhooks``: the URL's host is resolved by the service layer (through a
port) and its addresses judged here, with ``check_addresses``.

Two reasons for a bad URL, as webhooks.proto words them: its *form* (not https, too long, a
user name, no host ...) is VALIDATION_FAILED, like any other bad field; a *destination* the
SSRF guard refuses (loopback, private, link-local ...) is WEBHOOK_DESTINATION_REFUSED, but
only when it is the request's one problem: with other bad fields every violation comes back
together in one VALIDATION_FAILED, so one round trip shows them all.

The refusals below sit on the branches of ``domain.errors``, so the entrypoint's one table
maps them without a row of their own::

    NotFound
     +-- WebhookEndpointNotFound   WEBHOOK_ENDPOINT_NOT_FOUND: also another merchant's, and
     |                             a deleted one (ids cannot be probed)
     +-- EventNotFound             EVENT_NOT_FOUND: also another merchant's
    PreconditionFailed
     +-- WebhookEndpointDisabled   WEBHOOK_ENDPOINT_DISABLED: redelivering to a disabled
                                   endpoint; enable it first
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from svc_kit.faults import FieldViolation

from .bank_details import invalid
from .errors import (
    EventNotFound,
    WebhookDestinationRefused,
    WebhookEndpointNotFound,
)
from .webhooks import (
    ROTATION_OVERLAP,
    Destination,
    EndpointSecret,
    EventType,
    check_addresses,
    check_url,
    event_type_violations,
)

MAX_DESCRIPTION_CHARS = 500
MAX_ROTATION_OVERLAP = timedelta(days=7)
UPDATABLE = ("url", "description", "enabled_events", "enabled")
"""The update_mask paths UpdateWebhookEndpoint accepts (webhooks.proto)."""


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Where endpoints may point: the gateway's two development settings."""

    allow_insecure_http: bool = False
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """What a merchant sets on an endpoint; ``enabled_events`` empty: every type."""

    url: str
    description: str = ""
    enabled_events: tuple[str, ...] = ()
    enabled: bool = True


def endpoint_not_found(endpoint_id: str) -> WebhookEndpointNotFound:
    """The answer for a missing, deleted or another merchant's endpoint."""
    return WebhookEndpointNotFound(
        f"webhook endpoint {endpoint_id} not found", metadata={"endpoint_id": endpoint_id}
    )


def event_not_found(event_id: str) -> EventNotFound:
    """The answer for a missing or another merchant's event."""
    return EventNotFound(f"event {event_id} not found", metadata={"event_id": event_id})


def check_settings(
    settings: EndpointSettings,
    policy: DestinationPolicy,
    *,
    path: str = "webhook_endpoint",
    fields: Collection[str] = UPDATABLE,
) -> tuple[EndpointSettings, Destination | None]:
    """``settings`` normalized (event types deduplicated, in order) and the URL taken apart,
    when every one of ``fields`` is valid; otherwise the refusal (see the module docstring).

    The destination is None when ``url`` is not among ``fields``. A host name is not
    resolved here: the caller resolves it and calls ``check_resolved``.
    """
    violations: list[FieldViolation] = []
    destination: Destination | None = None
    refused: WebhookDestinationRefused | None = None
    if "url" in fields:
        destination, refused = _url(settings.url, policy, f"{path}.url", violations)
    if "description" in fields and len(settings.description) > MAX_DESCRIPTION_CHARS:
        violations.append(
            FieldViolation(
                f"{path}.description", f"must be at most {MAX_DESCRIPTION_CHARS} characters"
            )
        )
    if "enabled_events" in fields:
        violations.extend(event_type_violations(settings.enabled_events, f"{path}.enabled_events"))
    if violations:
        if refused is not None:
            violations.extend(refused.violations)
        raise invalid("invalid webhook endpoint", violations)
    if refused is not None:
        raise refused
    events = tuple(dict.fromkeys(settings.enabled_events))
    return replace(settings, enabled_events=events), destination


def _url(
    url: str, policy: DestinationPolicy, field: str, violations: list[FieldViolation]
) -> tuple[Destination | None, WebhookDestinationRefused | None]:
    if not url:
        violations.append(FieldViolation(field, "is required"))
        return None, None
    try:
        found = check_url(
            url, policy.allow_insecure_http, allow_private=policy.allow_private, field=field
        )
    except WebhookDestinationRefused as exc:
        # check_url names the host only when an address was refused (an IP literal); a
        # refusal of the URL's form names none.
        if exc.metadata.get("host"):
            return None, exc
        violations.extend(exc.violations)
        return None, None
    return found, None


def check_resolved(
    destination: Destination, addresses: Iterable[str], policy: DestinationPolicy, field: str
) -> None:
    """Refuse (WEBHOOK_DESTINATION_REFUSED) a host that resolves to no address, or to one
    the SSRF guard refuses: the connect could pick any of them."""
    check_addresses(addresses, policy.allow_private, host=destination.host, field=field)


def needs_resolving(destination: Destination | None, policy: DestinationPolicy) -> bool:
    """Whether the host must be resolved and its addresses checked before saving: a host
    name (an IP literal is already checked) on a gateway that refuses private addresses
    (with the development setting every address but the never-valid ones is accepted, and
    the sender checks each address again when it connects)."""
    return destination is not None and destination.ip is None and not policy.allow_private


def check_mask(paths: Sequence[str], path: str = "update_mask") -> frozenset[str]:
    """The fields an update changes; VALIDATION_FAILED for an empty mask, or one naming an
    unknown or output-only path (one violation each)."""
    if not paths:
        raise invalid("invalid update", [FieldViolation(path, "is required: name the fields")])
    allowed = ", ".join(UPDATABLE)
    violations = [
        FieldViolation(f"{path}.paths[{i}]", f"{name!r} cannot be updated; use {allowed}")
        for i, name in enumerate(paths)
        if name not in UPDATABLE
    ]
    if violations:
        raise invalid("invalid update_mask", violations)
    return frozenset(paths)


def updated(
    current: EndpointSettings, given: EndpointSettings, mask: Collection[str]
) -> EndpointSettings:
    """``current`` with the fields named in ``mask`` taken from ``given``."""
    return EndpointSettings(
        url=given.url if "url" in mask else current.url,
        description=given.description if "description" in mask else current.description,
        enabled_events=(
            given.enabled_events if "enabled_events" in mask else current.enabled_events
        ),
        enabled=given.enabled if "enabled" in mask else current.enabled,
    )


def rotation_overlap(overlap: timedelta | None, path: str = "overlap") -> timedelta:
    """The overlap of a rotation: ROTATION_OVERLAP (24 h) when not given, else 0 to 7 days."""
    if overlap is None:
        return ROTATION_OVERLAP
    if overlap < timedelta(0) or overlap > MAX_ROTATION_OVERLAP:
        why = "must be from 0 to 7 days (604800s)"
        raise invalid("invalid rotation", [FieldViolation(path, why)])
    return overlap


def previous_secret_expiry(secrets: Sequence[EndpointSecret], now: datetime) -> datetime | None:
    """When the last older secret that still signs beside the current one stops; None
    when only the current one signs."""
    older = [s.expires_at for s in secrets if s.expires_at is not None and s.active(now)]
    return max(older, default=None)


def check_event_type(name: str, path: str = "type") -> str:
    """A ListEvents type filter: empty (any type) or one of the event types."""
    if name and name not in {t.value for t in EventType}:
        [violation] = event_type_violations([name], path)
        raise invalid("invalid filter", [FieldViolation(path, violation.description)])
    return name


def check_time_range(since: datetime | None, until: datetime | None) -> None:
    """Refuse an end before the start (equal bounds match nothing, but are not wrong)."""
    if since is not None and until is not None and until < since:
        why = "must not be before start_time"
        raise invalid("invalid filter", [FieldViolation("end_time", why)])
