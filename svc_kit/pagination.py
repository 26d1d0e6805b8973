"""Opaque page tokens (AIP-158): the last key of a page, bound to the filters that made it.

A token is base64url JSON ``{"k": key, "f": filter digest}``. A token presented
with different filters, or one that does not decode, is refused with the
service's own invalid-page-token error. Tokens are not secret, only opaque:
the key is a position, never a permission.

Service-neutral: each service builds one ``PageTokens`` with the classes of
its own error tree, so every refusal still comes from that service's tree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from svc_kit.faults import DomainError, FieldViolation

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the token for the next ('' when last)."""

    items: list[T]
    next_page_token: str


@dataclass(frozen=True)
class PageTokens:
    """Page sizes and tokens, refusing with the given errors.

    ``invalid`` is raised for a token this service did not issue (or issued
    for other filters); ``validation`` for a negative page size.
    """

    invalid: type[DomainError]
    validation: type[DomainError]

    def page_size(self, requested: int, *, default: int, maximum: int) -> int:
        """The page size to use: the default for 0, the maximum for anything larger."""
        if requested < 0:
            raise self.validation(
                "page_size must not be negative",
                violations=[FieldViolation("page_size", "must not be negative")],
            )
        return default if requested == 0 else min(requested, maximum)

    def encode(self, key: Any, filters: Mapping[str, Any]) -> str:
        """A token for the page that starts after ``key``."""
        blob = json.dumps({"k": key, "f": _digest(filters)}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(blob).decode().rstrip("=")

    def decode(self, token: str, filters: Mapping[str, Any]) -> Any:
        """The key inside ``token``; None for the empty token (first page)."""
        if not token:
            return None
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            key, digest = data["k"], data["f"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise self._bad("page_token is not a token this service issued") from exc
        if digest != _digest(filters):
            raise self._bad("page_token was issued for different filters")
        return key

    def page(
        self,
        items: list[T],
        limit: int,
        key: Callable[[T], object],
        filters: Mapping[str, Any],
    ) -> Page[T]:
        """Cut ``items`` (fetched with ``limit + 1``) to a page and its next token."""
        if len(items) <= limit:
            return Page(items, "")
        items = items[:limit]
        return Page(items, self.encode(key(items[-1]), filters))

    def _bad(self, message: str) -> DomainError:
        return self.invalid(message, violations=[FieldViolation("page_token", message)])


def _digest(filters: Mapping[str, Any]) -> str:
    blob = json.dumps(filters, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
