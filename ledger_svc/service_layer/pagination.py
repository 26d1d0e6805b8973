"""Opaque page tokens (AIP-158): the last key of a page, bound to the filters that made it.

A token is base64url JSON ``{"k": key, "f": filter digest}``. A token presented
with different filters, or one that does not decode, is INVALID_PAGE_TOKEN.
Tokens are not secret, only opaque: the key is a position, never a permission.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ledger_svc.domain.errors import InvalidPageToken, ValidationFailed
from svc_kit.faults import FieldViolation

DEFAULT_PAGE_SIZE = 50


def page_size(requested: int, *, default: int, maximum: int) -> int:
    """The page size to use: the default for 0, the maximum for anything larger."""
    if requested < 0:
        raise ValidationFailed(
            "page_size must not be negative",
            violations=[FieldViolation("page_size", "must not be negative")],
        )
    return default if requested == 0 else min(requested, maximum)


def _digest(filters: Mapping[str, Any]) -> str:
    blob = json.dumps(filters, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def encode(key: Any, filters: Mapping[str, Any]) -> str:
    """A token for the page that starts after ``key``."""
    blob = json.dumps({"k": key, "f": _digest(filters)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


def decode(token: str, filters: Mapping[str, Any]) -> Any:
    """The key inside ``token``; None for the empty token (first page)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, digest = data["k"], data["f"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _bad("page_token is not a token this service issued") from exc
    if digest != _digest(filters):
        raise _bad("page_token was issued for different filters")
    return key


def _bad(message: str) -> InvalidPageToken:
    return InvalidPageToken(message, violations=[FieldViolation("page_token", message)])
