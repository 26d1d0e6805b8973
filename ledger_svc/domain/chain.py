"""The tamper-evident journal: each event's hash covers the previous hash.

Every change to money (a transaction recorded, a hold posted, voided or
expired) is one journal event with a gap-free sequence number. Its hash is
``SHA-256(previous hash bytes || canonical JSON of the event)``, so editing any
stored row changes that event's recomputed hash and breaks every later link
(Formance's hash-chained log; reliability.md "Audit log").

The canonical content is rebuilt from the stored rows, never stored itself:
VerifyLedger recomputes it from what the tables hold now.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from .model import EntrySpec

GENESIS_HASH = "0" * 64


def canonical_time(value: datetime | None) -> str | None:
    """Microsecond UTC ISO-8601, the precision every supported database keeps."""
    if value is None:
        return None
    return _canonical(value)


# A flush stamps every event with the same few instants (its clock reading, the callers'
# effective times), and strftime costs more than the rest of an event's content: remember them.
@functools.lru_cache(maxsize=1024)
def _canonical(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entries(entries: Sequence[EntrySpec]) -> list[list[object]]:
    return [[e.account_id, e.direction.value, e.amount, e.currency] for e in entries]


def create_content(
    *,
    transaction_id: str,
    status: str,
    entries: Sequence[EntrySpec],
    description: str,
    external_ref: str,
    metadata: Mapping[str, str],
    effective_time: datetime,
    expire_time: datetime | None,
    reverses_id: str | None,
) -> bytes:
    """Canonical bytes of a CREATE event."""
    return _dump(
        {
            "k": "CREATE",
            "tx": transaction_id,
            "status": status,
            "entries": _entries(entries),
            "desc": description,
            "ref": external_ref,
            "meta": dict(metadata),
            "eff": canonical_time(effective_time),
            "exp": canonical_time(expire_time),
            "rev": reverses_id,
        }
    )


def resolve_content(
    *, kind: str, transaction_id: str, at: datetime, posted: Sequence[EntrySpec]
) -> bytes:
    """Canonical bytes of a POST, VOID or EXPIRE event."""
    return _dump(
        {"k": kind, "tx": transaction_id, "at": canonical_time(at), "entries": _entries(posted)}
    )


# Built once: ``json.dumps`` builds a new encoder on every call that passes an option, which
# cost as much as the encoding itself for the small objects a posting hashes and stores.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
_SORTED_JSON = json.JSONEncoder(sort_keys=True)


def sorted_json(value: object) -> str:
    """``json.dumps(value, sort_keys=True)``: how metadata and fingerprints are stored."""
    return _SORTED_JSON.encode(value)


def _dump(obj: object) -> bytes:
    return _CANONICAL_JSON.encode(obj).encode()


def link(prev_hash: str, content: bytes) -> str:
    """The next hash in the chain."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()
