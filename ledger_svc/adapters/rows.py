"""Conversions between table rows and domain values."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ledger_svc.domain.chain import sorted_json
from ledger_svc.domain.model import (
    Account,
    AccountStatus,
    AccountType,
    Direction,
    EntrySpec,
    Totals,
    Transaction,
    TxStatus,
)


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything paymesh stores is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """``utc`` that lets None through."""
    return None if value is None else utc(value)


def account_from_row(row: Mapping[Any, Any]) -> Account:
    """An Account from an ``accounts`` row."""
    return Account(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        currency=row["currency"],
        type=AccountType(row["type"]),
        owner=row["owner"],
        metadata=json.loads(row["metadata_json"]),
        debits_must_not_exceed_credits=bool(row["debits_must_not_exceed_credits"]),
        credits_must_not_exceed_debits=bool(row["credits_must_not_exceed_debits"]),
        status=AccountStatus(row["status"]),
        create_time=utc(row["create_time"]),
        totals=Totals(
            row["debits_posted"],
            row["credits_posted"],
            row["debits_pending"],
            row["credits_pending"],
        ),
    )


def account_to_row(acct: Account) -> dict[str, Any]:
    """An ``accounts`` row for a new account (totals at zero)."""
    return {
        "id": acct.id,
        "code": acct.code,
        "name": acct.name,
        "currency": acct.currency,
        "type": acct.type.value,
        "owner": acct.owner,
        "metadata_json": sorted_json(acct.metadata),
        "debits_must_not_exceed_credits": acct.debits_must_not_exceed_credits,
        "credits_must_not_exceed_debits": acct.credits_must_not_exceed_debits,
        "status": acct.status.value,
        "create_time": acct.create_time,
        "debits_posted": 0,
        "credits_posted": 0,
        "debits_pending": 0,
        "credits_pending": 0,
    }


def entry_spec(row: Mapping[Any, Any]) -> EntrySpec:
    """An EntrySpec from an ``entries`` row."""
    return EntrySpec(row["account_id"], Direction(row["direction"]), row["amount"], row["currency"])


def transaction_from_rows(
    row: Mapping[Any, Any], entry_rows: Iterable[Mapping[Any, Any]]
) -> Transaction:
    """A Transaction from its row and its entry rows (sorted by sequence, idx)."""
    rows = list(entry_rows)
    return Transaction(
        id=row["id"],
        sequence=row["sequence"],
        hash=row["hash"],
        status=TxStatus(row["status"]),
        entries=tuple(entry_spec(e) for e in rows if e["sequence"] == row["sequence"]),
        posted_entries=tuple(entry_spec(e) for e in rows if not e["pending"]),
        description=row["description"],
        external_ref=row["external_ref"],
        metadata=json.loads(row["metadata_json"]),
        effective_time=utc(row["effective_time"]),
        create_time=utc(row["create_time"]),
        expire_time=utc_or_none(row["expire_time"]),
        resolve_time=utc_or_none(row["resolve_time"]),
        reverses_id=row["reverses_id"],
        reversed_by_id=row["reversed_by_id"],
    )


def transaction_to_row(tx: Transaction) -> dict[str, Any]:
    """A ``transactions`` row."""
    return {
        "id": tx.id,
        "sequence": tx.sequence,
        "hash": tx.hash,
        "status": tx.status.value,
        "description": tx.description,
        "external_ref": tx.external_ref,
        "metadata_json": sorted_json(tx.metadata),
        "effective_time": tx.effective_time,
        "create_time": tx.create_time,
        "expire_time": tx.expire_time,
        "resolve_time": tx.resolve_time,
        "reverses_id": tx.reverses_id,
        "reversed_by_id": tx.reversed_by_id,
    }
