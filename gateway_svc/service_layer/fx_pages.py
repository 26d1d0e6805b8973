"""Keyset pages of conversions, beneficiaries and payouts (AIP-158), as ListPayments pages.

The token is the last item's (create_time, id), bound to the filters that made it; the
default and maximum page sizes are the proto's (50 and 100).
"""

from __future__ import annotations

from datetime import datetime

from gateway_svc.domain.errors import InvalidPageToken, ValidationFailed
from svc_kit.pagination import PageTokens

pagination = PageTokens(invalid=InvalidPageToken, validation=ValidationFailed)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def page_size(requested: int) -> int:
    """The page size to use (0: the default; larger than the maximum: the maximum)."""
    return pagination.page_size(requested, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


def page_key(when: datetime, item_id: str) -> list[str]:
    """The keyset position of one item, as a token carries it."""
    return [when.isoformat(), item_id]


def page_after(token: str, filters: dict[str, object]) -> tuple[datetime, str] | None:
    """The position a token resumes after; None for the first page. Raises
    InvalidPageToken for a token this service did not issue for these filters."""
    key = pagination.decode(token, filters)
    if key is None:
        return None
    if not (isinstance(key, list) and len(key) == 2):
        raise InvalidPageToken("page_token is not a token this service issued")
    try:
        return datetime.fromisoformat(str(key[0])), str(key[1])
    except ValueError as exc:
        raise InvalidPageToken("page_token is not a token this service issued") from exc
