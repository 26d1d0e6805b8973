"""Write commands the posting engine applies, and their idempotency fingerprints.

A fingerprint is the request's content as a flat ``field -> canonical string``
map. Two requests with the same request_id are "the same" when their
fingerprints are equal; otherwise the first differing field is named in the
REQUEST_ID_REUSED error (ledger.md invariant 6).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .chain import canonical_time, sorted_json
from .errors import RequestIdReused
from .model import NewAccount, NewTransaction

Fingerprint = dict[str, str]


@dataclass(frozen=True)
class CreateTx:
    """Record a new transaction, posted or pending."""

    tx: NewTransaction
    request_id: str = ""

    def fingerprint(self) -> Fingerprint:
        t = self.tx
        entries = [[e.account_id, e.direction.value, e.amount, e.currency] for e in t.entries]
        return {
            "method": "CreateTransaction",
            "transaction.entries": json.dumps(entries),
            "transaction.description": t.description,
            "transaction.external_ref": t.external_ref,
            "transaction.metadata": sorted_json(t.metadata),
            "transaction.effective_time": canonical_time(t.effective_time) or "",
            "pending": str(t.pending),
            # Whole milliseconds, so 30 and 30.0 seconds are the same request.
            "pending_timeout": ""
            if t.pending_timeout_s is None
            else str(round(t.pending_timeout_s * 1000)),
        }


@dataclass(frozen=True)
class PostTx:
    """Post a pending transaction, fully or (two entries only) partially."""

    transaction_id: str
    amount: int | None = None
    request_id: str = ""

    def fingerprint(self) -> Fingerprint:
        return {
            "method": "PostTransaction",
            "transaction_id": self.transaction_id,
            "amount_minor_units": "" if self.amount is None else str(self.amount),
        }


@dataclass(frozen=True)
class VoidTx:
    """Void a pending transaction."""

    transaction_id: str
    request_id: str = ""

    def fingerprint(self) -> Fingerprint:
        return {"method": "VoidTransaction", "transaction_id": self.transaction_id}


@dataclass(frozen=True)
class ReverseTx:
    """Reverse a posted transaction."""

    transaction_id: str
    description: str = ""
    request_id: str = ""

    def fingerprint(self) -> Fingerprint:
        return {
            "method": "ReverseTransaction",
            "transaction_id": self.transaction_id,
            "description": self.description,
        }


@dataclass(frozen=True)
class ExpireTx:
    """Expire a pending transaction whose timeout passed (the sweeper's command)."""

    transaction_id: str
    request_id: str = ""

    def fingerprint(self) -> Fingerprint:
        return {"method": "ExpireTransaction", "transaction_id": self.transaction_id}


Command = CreateTx | PostTx | VoidTx | ReverseTx | ExpireTx


@dataclass(frozen=True)
class IdempotencyRecord:
    """A remembered successful request: its fingerprint and the id of its result."""

    request_id: str
    fingerprint: Fingerprint
    result_id: str


def first_difference(stored: Fingerprint, given: Fingerprint) -> str | None:
    """The first field (in a stable order) whose value differs, or None when equal."""
    if stored.get("method") != given.get("method"):
        return "method"
    for key in sorted(stored.keys() | given.keys()):
        if stored.get(key) != given.get(key):
            return key
    return None


def target_id(cmd: Command) -> str | None:
    """The existing transaction a command acts on, if any."""
    return None if isinstance(cmd, CreateTx) else cmd.transaction_id


def new_account_ids(cmd: Command) -> list[str]:
    """Accounts a command writes to that are named in the command itself."""
    return [e.account_id for e in cmd.tx.entries] if isinstance(cmd, CreateTx) else []


def create_account_fingerprint(account: NewAccount) -> Fingerprint:
    """The content of a CreateAccount request, for request_id replay checks."""
    return {
        "method": "CreateAccount",
        "account.code": account.code,
        "account.name": account.name,
        "account.currency_code": account.currency,
        "account.type": account.type.value,
        "account.owner": account.owner,
        "account.metadata": sorted_json(account.metadata),
        "account.debits_must_not_exceed_credits": str(account.debits_must_not_exceed_credits),
        "account.credits_must_not_exceed_debits": str(account.credits_must_not_exceed_debits),
    }


def close_account_fingerprint(account_id: str) -> Fingerprint:
    """The content of a CloseAccount request."""
    return {"method": "CloseAccount", "account_id": account_id}


def check_replay(record: IdempotencyRecord | None, given: Fingerprint) -> str | None:
    """The stored result id when ``record`` replays ``given``; raises when it conflicts."""
    if record is None:
        return None
    differing = first_difference(record.fingerprint, given)
    if differing is not None:
        raise RequestIdReused(
            f"request_id {record.request_id!r} was used before with a different {differing}",
            metadata={"request_id": record.request_id, "field": differing},
        )
    return record.result_id
