"""Checks a request can pass before any state is read: shape, limits, balance.

Each check collects every field problem before raising, so a caller fixes a
request in one round trip. Field paths are relative; the entrypoint passes the
proto prefix (``transaction.``) so BadRequest names the caller's own field.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from svc_kit.currencies import is_currency
from svc_kit.faults import FieldViolation

from .errors import TransactionUnbalanced, ValidationFailed
from .model import Direction, NewAccount, NewTransaction

MIN_ENTRIES = 2
MAX_ENTRIES = 100
# One entry may move at most 10^15 minor units (10 trillion USD). With that cap
# an account needs 9,000 maximal entries before a 64-bit total could overflow,
# and the engine still checks every total against INT64_MAX.
MAX_AMOUNT = 10**15
INT64_MAX = 2**63 - 1
MAX_BATCH = 1000
MIN_PENDING_TIMEOUT_S = 1.0
MAX_PENDING_TIMEOUT_S = 366 * 24 * 3600.0
MAX_METADATA_KEYS = 32
MAX_METADATA_KEY_LEN = 64
MAX_METADATA_VALUE_LEN = 512

_CODE_RE = re.compile(r"^[A-Za-z0-9/_\-.:]{1,200}$")
_REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


def text_violation(path: str, value: str, max_len: int) -> list[FieldViolation]:
    """A violation when ``value`` is longer than ``max_len`` characters."""
    if len(value) > max_len:
        return [FieldViolation(path, f"must be at most {max_len} characters, got {len(value)}")]
    return []


def metadata_violations(path: str, metadata: Mapping[str, str]) -> list[FieldViolation]:
    """Violations of the metadata limits (key count, key and value length)."""
    out: list[FieldViolation] = []
    if len(metadata) > MAX_METADATA_KEYS:
        out.append(FieldViolation(path, f"must have at most {MAX_METADATA_KEYS} keys"))
    for key, value in metadata.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY_LEN:
            out.append(FieldViolation(f"{path}[{key!r}]", "key must be 1 to 64 characters"))
        if len(value) > MAX_METADATA_VALUE_LEN:
            out.append(FieldViolation(f"{path}[{key!r}]", "value must be at most 512 characters"))
    return out


def currency_violation(path: str, code: str) -> list[FieldViolation]:
    """A violation when ``code`` is not a current ISO 4217 code."""
    if not is_currency(code):
        return [FieldViolation(path, f"{code!r} is not an ISO 4217 currency code")]
    return []


def check_request_id(request_id: str, path: str = "request_id") -> None:
    """Refuse a request_id that is not 1 to 128 printable ASCII characters (empty = none)."""
    if request_id and not _REQUEST_ID_RE.match(request_id):
        raise ValidationFailed(
            "request_id must be 1 to 128 printable ASCII characters without spaces",
            violations=[FieldViolation(path, "must be 1 to 128 printable ASCII characters")],
        )


def raise_if(violations: list[FieldViolation], what: str) -> None:
    """Raise one ValidationFailed carrying every violation, if there is any."""
    if violations:
        first = violations[0]
        raise ValidationFailed(
            f"invalid {what}: {first.field} {first.description}"
            + (f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""),
            violations=violations,
        )


def check_batch_size(n: int) -> None:
    """Refuse an empty batch or one over MAX_BATCH items."""
    if not 1 <= n <= MAX_BATCH:
        raise ValidationFailed(
            f"a batch holds 1 to {MAX_BATCH} transactions, got {n}",
            violations=[FieldViolation("requests", f"must hold 1 to {MAX_BATCH} items")],
        )


def check_new_account(account: NewAccount, prefix: str = "") -> None:
    """Validate an account before it is opened."""
    v: list[FieldViolation] = []
    if not _CODE_RE.match(account.code):
        v.append(FieldViolation(f"{prefix}code", "must be 1 to 200 of A-Z a-z 0-9 / _ - . :"))
    v += text_violation(f"{prefix}name", account.name, 200)
    v += currency_violation(f"{prefix}currency_code", account.currency)
    v += text_violation(f"{prefix}owner", account.owner, 200)
    v += metadata_violations(f"{prefix}metadata", account.metadata)
    if account.debits_must_not_exceed_credits and account.credits_must_not_exceed_debits:
        v.append(
            FieldViolation(
                f"{prefix}credits_must_not_exceed_debits",
                "cannot be set together with debits_must_not_exceed_credits",
            )
        )
    raise_if(v, "account")


def check_new_transaction(tx: NewTransaction, prefix: str = "", request_prefix: str = "") -> None:
    """Validate shape, amounts and per-currency balance: everything short of account state.

    ``prefix`` leads the transaction's own fields; ``request_prefix`` leads the
    request's (``pending_timeout`` belongs to the request, not the transaction).
    """
    v: list[FieldViolation] = []
    n = len(tx.entries)
    if not MIN_ENTRIES <= n <= MAX_ENTRIES:
        v.append(FieldViolation(f"{prefix}entries", f"must have 2 to 100 entries, got {n}"))
    for i, e in enumerate(tx.entries):
        path = f"{prefix}entries[{i}]"
        if not e.account_id:
            v.append(FieldViolation(f"{path}.account_id", "is required"))
        if not 0 < e.amount <= MAX_AMOUNT:
            v.append(
                FieldViolation(
                    f"{path}.amount.minor_units",
                    f"must be a positive number of minor units up to {MAX_AMOUNT}, got {e.amount}",
                )
            )
        v += currency_violation(f"{path}.amount.currency_code", e.currency)
    v += text_violation(f"{prefix}description", tx.description, 500)
    v += text_violation(f"{prefix}external_ref", tx.external_ref, 200)
    v += metadata_violations(f"{prefix}metadata", tx.metadata)
    v += _timeout_violations(tx, request_prefix)
    raise_if(v, "transaction")
    check_balanced(tx, prefix)


def _timeout_violations(tx: NewTransaction, prefix: str) -> list[FieldViolation]:
    if tx.pending_timeout_s is None:
        return []
    if not tx.pending:
        return [FieldViolation(f"{prefix}pending_timeout", "is allowed only with pending=true")]
    if not MIN_PENDING_TIMEOUT_S <= tx.pending_timeout_s <= MAX_PENDING_TIMEOUT_S:
        return [FieldViolation(f"{prefix}pending_timeout", "must be 1 second to 366 days")]
    return []


def check_balanced(tx: NewTransaction, prefix: str = "") -> None:
    """Refuse a transaction whose debits and credits differ in any currency."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in tx.entries:
        sums[e.currency][0 if e.direction is Direction.DEBIT else 1] += e.amount
    for currency, (debits, credits) in sorted(sums.items()):
        if debits != credits:
            raise TransactionUnbalanced(
                f"{currency} debits ({debits}) do not equal credits ({credits})",
                metadata={"currency": currency, "debits": str(debits), "credits": str(credits)},
                violations=[
                    FieldViolation(f"{prefix}entries", f"{currency} debits must equal credits")
                ],
            )
