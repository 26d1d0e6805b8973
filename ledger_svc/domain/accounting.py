"""Per-account arithmetic and checks the posting engine applies. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from . import rules
from .errors import (
    AccountClosed,
    AccountNotFound,
    CurrencyMismatch,
    LimitExceeded,
    PostAmountInvalid,
    ValidationFailed,
)
from .model import Account, AccountStatus, Direction, EntrySpec, Totals, Transaction


def check_writable(accounts: Mapping[str, Account], entries: Sequence[EntrySpec]) -> None:
    """Refuse entries to unknown or closed accounts, or in another currency."""
    for i, e in enumerate(entries):
        acct = accounts.get(e.account_id)
        if acct is None:
            raise AccountNotFound(
                f"no account {e.account_id!r} (entries[{i}])",
                metadata={"account_id": e.account_id, "entry_index": str(i)},
            )
        if acct.currency != e.currency:
            raise CurrencyMismatch(
                f"entries[{i}] is in {e.currency} but account {acct.id} holds {acct.currency}",
                metadata={
                    "account_id": acct.id,
                    "account_currency": acct.currency,
                    "entry_currency": e.currency,
                    "entry_index": str(i),
                },
            )
        if acct.status is AccountStatus.CLOSED:
            raise AccountClosed(f"account {acct.id} is closed", metadata={"account_id": acct.id})


def slot(e: EntrySpec, *, pending: bool) -> int:
    """Which of the four totals an entry moves, as an index in ``Totals`` field order."""
    if pending:
        return 2 if e.direction is Direction.DEBIT else 3
    return 0 if e.direction is Direction.DEBIT else 1


def check_limits(acct: Account, t: Totals) -> None:
    worst = max(t.debits_posted, t.credits_posted, t.debits_pending, t.credits_pending)
    if worst > rules.INT64_MAX:
        raise ValidationFailed(
            f"account {acct.id} total would overflow 64 bits", metadata={"account_id": acct.id}
        )
    if acct.debits_must_not_exceed_credits and (
        t.debits_posted + t.debits_pending > t.credits_posted
    ):
        _limit(acct, "debits_must_not_exceed_credits")
    if acct.credits_must_not_exceed_debits and (
        t.credits_posted + t.credits_pending > t.debits_posted
    ):
        _limit(acct, "credits_must_not_exceed_debits")


def _limit(acct: Account, flag: str) -> None:
    raise LimitExceeded(
        f"account {acct.id} would break {flag}",
        metadata={"account_id": acct.id, "flag": flag, "available": str(acct.balances.available)},
    )


def posted_entries(tx: Transaction, amount: int | None) -> tuple[EntrySpec, ...]:
    if amount is None:
        return tx.entries
    held = tx.entries[0].amount
    if len(tx.entries) != 2:
        raise PostAmountInvalid(
            "a partial amount can be posted only for a two-entry transaction",
            metadata={"transaction_id": tx.id, "entries": str(len(tx.entries))},
        )
    if not 0 < amount <= held:
        raise PostAmountInvalid(
            f"amount must be more than 0 and at most the held {held}, got {amount}",
            metadata={"transaction_id": tx.id, "held": str(held)},
        )
    return tuple(replace(e, amount=amount) for e in tx.entries)
