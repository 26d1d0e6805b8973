"""Sortable identifiers: a prefix and a ULID (48-bit milliseconds + 80 random bits).

Time-ordered ids make "creation order" an index scan on the primary key and
keep B-tree inserts at the right edge.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32


def new_id(prefix: str) -> str:
    """``<prefix>_`` followed by 26 Crockford base32 characters."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return f"{prefix}_{''.join(reversed(chars))}"
