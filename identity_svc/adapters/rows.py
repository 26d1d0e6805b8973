"""Conversions between table rows and domain values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from identity_svc.domain.audit import Actor, ActorKind, AuditEntry, AuditRecord, Outcome
from identity_svc.domain.model import ApiKey, KeySecret, Merchant, MerchantStatus
from identity_svc.domain.permissions import RateLimit, Role

Row = Mapping[Any, Any]
# json.dumps(details, sort_keys=True, ensure_ascii=False), without building an encoder for
# every row appended.
_DETAILS_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything identity stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """``utc`` that lets None through."""
    return None if value is None else utc(value)


def merchant_from_row(row: Row) -> Merchant:
    """A Merchant from a ``merchants`` row."""
    return Merchant(
        merchant_id=row["merchant_id"],
        display_name=row["display_name"],
        status=MerchantStatus(row["status"]),
        default_currency=row["default_currency"],
        metadata=json.loads(row["metadata_json"]),
        create_time=utc(row["create_time"]),
        update_time=utc(row["update_time"]),
    )


def merchant_values(merchant: Merchant) -> dict[str, Any]:
    """The ``merchants`` columns a Merchant determines (not the request-id columns)."""
    return {
        "merchant_id": merchant.merchant_id,
        "display_name": merchant.display_name,
        "status": merchant.status.value,
        "default_currency": merchant.default_currency,
        "metadata_json": json.dumps(dict(merchant.metadata), sort_keys=True),
        "create_time": utc(merchant.create_time),
        "update_time": utc(merchant.update_time),
    }


def key_from_row(row: Row) -> ApiKey:
    """An ApiKey from an ``api_keys`` row, plus the optional computed
    ``previous_secret_expire_time`` column."""
    rps, burst = row["rate_limit_rps"], row["rate_limit_burst"]
    return ApiKey(
        key_id=row["key_id"],
        merchant_id=row["merchant_id"],
        display_name=row["display_name"],
        description=row["description"],
        role=Role(row["role"]),
        environment=row["environment"],
        create_time=utc(row["create_time"]),
        expire_time=utc_or_none(row["expire_time"]),
        revoke_time=utc_or_none(row["revoke_time"]),
        last_used_time=utc_or_none(row["last_used_time"]),
        rate_limit=None if rps is None else RateLimit(requests_per_second=rps, burst=burst),
        previous_secret_expire_time=utc_or_none(row.get("previous_secret_expire_time")),
    )


def key_values(key: ApiKey) -> dict[str, Any]:
    """The ``api_keys`` columns an ApiKey determines (not the request-id columns)."""
    limit = key.rate_limit
    return {
        "key_id": key.key_id,
        "merchant_id": key.merchant_id,
        "display_name": key.display_name,
        "description": key.description,
        "role": key.role.value,
        "environment": key.environment,
        "create_time": utc(key.create_time),
        "expire_time": utc_or_none(key.expire_time),
        "revoke_time": utc_or_none(key.revoke_time),
        "last_used_time": utc_or_none(key.last_used_time),
        "rate_limit_rps": None if limit is None else int(limit.requests_per_second),
        "rate_limit_burst": None if limit is None else int(limit.burst),
    }


def secret_from_row(row: Row) -> KeySecret:
    """A KeySecret from an ``api_key_secrets`` row."""
    return KeySecret(
        secret_hash=bytes(row["secret_hash"]),
        create_time=utc(row["create_time"]),
        not_after=utc_or_none(row["not_after"]),
    )


def audit_record_from_row(row: Row) -> AuditRecord:
    """An AuditRecord from an ``audit_events`` row."""
    entry = AuditEntry(
        event_id=row["event_id"],
        event_time=utc(row["event_time"]),
        actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_merchant_id"]),
        action=row["action"],
        target=row["target"],
        merchant_id=row["merchant_id"],
        outcome=Outcome(row["outcome"]),
        reason=row["reason"],
        request_id=row["request_id"],
        source_address=row["source_address"],
        details=json.loads(row["details_json"]),
    )
    return AuditRecord(row["sequence"], entry, row["prev_hash"], row["hash"])


def audit_values(record: AuditRecord) -> dict[str, Any]:
    """An ``audit_events`` row."""
    entry = record.entry
    return {
        "sequence": record.sequence,
        "event_id": entry.event_id,
        "event_time": utc(entry.event_time),
        "actor_kind": entry.actor.kind.value,
        "actor_id": entry.actor.id,
        "actor_merchant_id": entry.actor.merchant_id,
        "action": entry.action,
        "target": entry.target,
        "merchant_id": entry.merchant_id,
        "outcome": entry.outcome.value,
        "reason": entry.reason,
        "request_id": entry.request_id,
        "source_address": entry.source_address,
        "details_json": _DETAILS_JSON.encode(dict(entry.details)),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }
