"""Tenant scoping and listing positions, shared by the use cases.

A caller that may not see a resource gets exactly the error a missing one
gets (reliability.md, "Cross-tenant answers"): same class, same message,
same metadata, so ids cannot be probed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from identity_svc.adapters.tenants import Cursor
from identity_svc.domain.errors import (
    ApiKeyNotFound,
    InvalidPageToken,
    MerchantNotFound,
    ValidationFailed,
)
from identity_svc.domain.model import ApiKey, Merchant
from svc_kit.faults import FieldViolation
from svc_kit.pagination import PageTokens

from .context import CallContext
from .unit_of_work import UnitOfWork

PAGES = PageTokens(invalid=InvalidPageToken, validation=ValidationFailed)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def merchant_not_found(merchant_id: str) -> MerchantNotFound:
    """The one answer for a missing or invisible merchant."""
    return MerchantNotFound(
        f"merchant {merchant_id[:64]!r} not found", metadata={"merchant_id": merchant_id[:64]}
    )


def key_not_found(key_id: str) -> ApiKeyNotFound:
    """The one answer for a missing or invisible API key."""
    return ApiKeyNotFound(f"API key {key_id[:64]!r} not found", metadata={"key_id": key_id[:64]})


async def visible_merchant(uow: UnitOfWork, ctx: CallContext, merchant_id: str) -> Merchant:
    """The merchant, if the caller may see it; else MerchantNotFound."""
    # Checked before the read, so an invisible merchant costs what a missing one does.
    found = await uow.tenants.get_merchant(merchant_id) if ctx.can_see(merchant_id) else None
    if found is None:
        raise merchant_not_found(merchant_id)
    return found


async def visible_key(uow: UnitOfWork, ctx: CallContext, key_id: str, now: datetime) -> ApiKey:
    """The key, if the caller may see its merchant; else ApiKeyNotFound."""
    found = await uow.tenants.get_key(key_id, now)
    if found is None or not ctx.can_see(found.merchant_id):
        raise key_not_found(key_id)
    return found


def encode_cursor(create_time: datetime, id_: str) -> list[str]:
    """A keyset position as JSON-friendly values."""
    return [create_time.isoformat(), id_]


def decode_cursor(value: Any) -> Cursor | None:
    """The position inside a decoded page token (None for the first page)."""
    if value is None:
        return None
    try:
        time_text, id_ = value
        create_time = datetime.fromisoformat(time_text)
        if create_time.tzinfo is None or not isinstance(id_, str):
            raise ValueError("not a position")
    except (TypeError, ValueError) as exc:
        raise invalid_page_token() from exc
    return create_time, id_


def invalid_page_token() -> InvalidPageToken:
    """A token that decoded but holds no position this service would have written."""
    message = "page_token is not a token this service issued"
    return InvalidPageToken(message, violations=[FieldViolation("page_token", message)])
