"""Proto <-> domain conversion. Protobuf types stop here; the layers below never see them.

Conversion refuses what the proto allows but the domain cannot mean: an
UNSPECIFIED enum, a missing message. Everything else is the domain's to judge.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import status_pb2

from ledger_svc.domain import rules
from ledger_svc.domain.audit import Discrepancy
from ledger_svc.domain.errors import LedgerError, ValidationFailed
from ledger_svc.domain.model import (
    Account,
    AccountStatus,
    AccountType,
    Direction,
    EntrySpec,
    NewAccount,
    NewTransaction,
    StatementLine,
    Transaction,
    TxStatus,
)
from ledger_svc.service_layer.ledger import BalanceView
from ledger_svc.service_layer.reports import CurrencyTrialBalance, VerifyReport
from paymesh.common.v1.money_pb2 import Money
from paymesh.ledger.v1 import ledger_pb2 as pb
from svc_kit.faults import FieldViolation

from .errors import MAPPER

ACCOUNT_TYPES = {
    pb.ACCOUNT_TYPE_ASSET: AccountType.ASSET,
    pb.ACCOUNT_TYPE_LIABILITY: AccountType.LIABILITY,
    pb.ACCOUNT_TYPE_EQUITY: AccountType.EQUITY,
    pb.ACCOUNT_TYPE_REVENUE: AccountType.REVENUE,
    pb.ACCOUNT_TYPE_EXPENSE: AccountType.EXPENSE,
}
_ACCOUNT_TYPES_OUT = {v: k for k, v in ACCOUNT_TYPES.items()}
_DIRECTIONS = {pb.DIRECTION_DEBIT: Direction.DEBIT, pb.DIRECTION_CREDIT: Direction.CREDIT}
_DIRECTIONS_OUT = {v: k for k, v in _DIRECTIONS.items()}
_TX_STATUS_OUT = {
    TxStatus.PENDING: pb.TRANSACTION_STATUS_PENDING,
    TxStatus.POSTED: pb.TRANSACTION_STATUS_POSTED,
    TxStatus.VOIDED: pb.TRANSACTION_STATUS_VOIDED,
    TxStatus.EXPIRED: pb.TRANSACTION_STATUS_EXPIRED,
}
_ACCOUNT_STATUS_OUT = {
    AccountStatus.OPEN: pb.ACCOUNT_STATUS_OPEN,
    AccountStatus.CLOSED: pb.ACCOUNT_STATUS_CLOSED,
}


def invalid(path: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"{path} {why}", violations=[FieldViolation(path, why)])


def require_id(value: str, path: str) -> str:
    """A required id field, non-empty and of sane length."""
    if not value:
        raise invalid(path, "is required")
    if len(value) > 200:
        raise invalid(path, "must be at most 200 characters")
    return value


def time_or_none(msg: object, field: str) -> datetime | None:
    """A set Timestamp field as an aware UTC datetime; None when unset."""
    if not msg.HasField(field):  # type: ignore[attr-defined]
        return None
    ts: Timestamp = getattr(msg, field)
    return ts.ToDatetime(tzinfo=UTC)


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def money(currency: str, minor_units: int) -> Money:
    """A Money message."""
    return Money(currency_code=currency, minor_units=minor_units)


# -- in ---------------------------------------------------------------------


def new_account(req: pb.CreateAccountRequest) -> NewAccount:
    """The NewAccount inside a CreateAccountRequest."""
    if not req.HasField("account"):
        raise invalid("account", "is required")
    a = req.account
    if a.type not in ACCOUNT_TYPES:
        raise invalid("account.type", "is required: ASSET, LIABILITY, EQUITY, REVENUE or EXPENSE")
    return NewAccount(
        code=a.code,
        name=a.name,
        currency=a.currency_code,
        type=ACCOUNT_TYPES[a.type],
        owner=a.owner,
        metadata=dict(a.metadata),
        debits_must_not_exceed_credits=a.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=a.credits_must_not_exceed_debits,
    )


def new_transaction(req: pb.CreateTransactionRequest, prefix: str = "") -> NewTransaction:
    """The NewTransaction inside a CreateTransactionRequest."""
    if not req.HasField("transaction"):
        raise invalid(f"{prefix}transaction", "is required")
    t = req.transaction
    violations: list[FieldViolation] = []
    entries = []
    for i, e in enumerate(t.entries):
        direction = _DIRECTIONS.get(e.direction)
        if direction is None or not e.HasField("amount"):
            violations += _entry_violations(e, f"{prefix}transaction.entries[{i}]")
        amount = e.amount
        entries.append(
            EntrySpec(
                e.account_id, direction or Direction.DEBIT, amount.minor_units, amount.currency_code
            )
        )
    rules.raise_if(violations, "transaction")
    timeout = None
    if req.HasField("pending_timeout"):
        timeout = req.pending_timeout.ToTimedelta().total_seconds()
    return NewTransaction(
        entries=tuple(entries),
        description=t.description,
        external_ref=t.external_ref,
        metadata=dict(t.metadata),
        effective_time=time_or_none(t, "effective_time"),
        pending=req.pending,
        pending_timeout_s=timeout,
    )


def _entry_violations(e: pb.Entry, path: str) -> list[FieldViolation]:
    out = []
    if e.direction not in _DIRECTIONS:
        out.append(FieldViolation(f"{path}.direction", "is required: DEBIT or CREDIT"))
    if not e.HasField("amount"):
        out.append(FieldViolation(f"{path}.amount", "is required"))
    return out


# -- out --------------------------------------------------------------------


def account(a: Account) -> pb.Account:
    """An Account message."""
    return pb.Account(
        id=a.id,
        code=a.code,
        name=a.name,
        currency_code=a.currency,
        type=_ACCOUNT_TYPES_OUT[a.type],
        normal_balance=pb.NORMAL_BALANCE_DEBIT if a.type.debit_normal else pb.NORMAL_BALANCE_CREDIT,
        owner=a.owner,
        metadata=a.metadata,
        debits_must_not_exceed_credits=a.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=a.credits_must_not_exceed_debits,
        status=_ACCOUNT_STATUS_OUT[a.status],
        create_time=_ts(a.create_time),
    )


Stamps = dict[datetime, Timestamp]
"""Timestamp messages already made for a response, by the instant they hold."""


def transaction(t: Transaction) -> pb.Transaction:
    """A Transaction message."""
    msg = pb.Transaction()
    fill_transaction(msg, t, {})
    return msg


def fill_transaction(msg: pb.Transaction, t: Transaction, stamps: Stamps) -> None:
    """Write ``t`` into the empty ``msg`` in place.

    A CreateTransactions response holds up to 1,000 of these: building each as a message of
    its own (and its entries' and amounts') and then copying it into the response cost three
    times as much as filling the response's own message, and a flush stamps every
    transaction with the same clock reading, so each instant becomes a Timestamp once.
    """
    msg.id = t.id
    _fill_entries(msg.entries, t.entries)
    msg.description = t.description
    msg.external_ref = t.external_ref
    msg.metadata.update(t.metadata)
    _stamp(msg.effective_time, t.effective_time, stamps)
    _stamp(msg.create_time, t.create_time, stamps)
    msg.status = _TX_STATUS_OUT[t.status]
    if t.expire_time is not None:
        _stamp(msg.expire_time, t.expire_time, stamps)
    if t.resolve_time is not None:
        _stamp(msg.resolve_time, t.resolve_time, stamps)
    _fill_entries(msg.posted_entries, t.posted_entries)
    msg.reverses_transaction_id = t.reverses_id or ""
    msg.reversed_by_transaction_id = t.reversed_by_id or ""
    msg.sequence = t.sequence
    msg.hash = t.hash


def _fill_entries(
    out: RepeatedCompositeFieldContainer[pb.Entry], entries: tuple[EntrySpec, ...]
) -> None:
    for e in entries:
        entry = out.add(account_id=e.account_id, direction=_DIRECTIONS_OUT[e.direction])
        entry.amount.currency_code = e.currency
        entry.amount.minor_units = e.amount


def _stamp(field: Timestamp, value: datetime, stamps: Stamps) -> None:
    ts = stamps.get(value)
    if ts is None:
        ts = stamps[value] = Timestamp()
        ts.FromDatetime(value)
    field.CopyFrom(ts)


def balance(view: BalanceView) -> pb.Balance:
    """A Balance message."""
    c, t, b = view.account.currency, view.totals, view.balances
    return pb.Balance(
        account_id=view.account.id,
        posted_debits=money(c, t.debits_posted),
        posted_credits=money(c, t.credits_posted),
        pending_debits=money(c, t.debits_pending),
        pending_credits=money(c, t.credits_pending),
        posted=money(c, b.posted),
        pending=money(c, b.pending),
        available=money(c, b.available),
        as_of_time=_ts(view.as_of),
    )


def statement_line(line: StatementLine) -> pb.StatementLine:
    """A StatementLine message."""
    return pb.StatementLine(
        entry_id=line.entry_id,
        transaction_id=line.transaction_id,
        direction=_DIRECTIONS_OUT[line.direction],
        amount=money(line.currency, line.amount),
        balance_after=money(line.currency, line.balance_after),
        effective_time=_ts(line.effective_time),
        description=line.description,
        sequence=line.sequence,
    )


def trial_balance(items: list[CurrencyTrialBalance]) -> pb.GetTrialBalanceResponse:
    """A GetTrialBalanceResponse."""

    def totals(c: str, d: int, cr: int) -> pb.Totals:
        return pb.Totals(debits=money(c, d), credits=money(c, cr))

    out = pb.GetTrialBalanceResponse()
    for item in items:
        c, tot = item.currency, item.total
        msg = out.currencies.add(
            currency_code=c,
            posted=totals(c, tot.debits_posted, tot.credits_posted),
            pending=totals(c, tot.debits_pending, tot.credits_pending),
            balanced=item.balanced,
        )
        for typ in sorted(item.by_type, key=lambda x: _ACCOUNT_TYPES_OUT[x]):
            t = item.by_type[typ]
            msg.by_type.add(
                type=_ACCOUNT_TYPES_OUT[typ],
                posted=totals(c, t.debits_posted, t.credits_posted),
                pending=totals(c, t.debits_pending, t.credits_pending),
            )
    return out


def verify_report(report: VerifyReport) -> pb.VerifyLedgerResponse:
    """A VerifyLedgerResponse."""
    return pb.VerifyLedgerResponse(
        ok=report.ok,
        accounts_checked=report.accounts_checked,
        transactions_checked=report.transactions_checked,
        entries_checked=report.entries_checked,
        discrepancies=[_discrepancy(d) for d in report.discrepancies],
    )


def _discrepancy(d: Discrepancy) -> pb.Discrepancy:
    kind = pb.DiscrepancyKind.Value(f"DISCREPANCY_KIND_{d.kind.value}")
    return pb.Discrepancy(kind=kind, subject=d.subject, detail=d.detail)


def error_status(exc: LedgerError) -> status_pb2.Status:
    """The google.rpc.Status a single call would have failed with."""
    status = MAPPER.status_for(exc)
    for key, value in status.trailing_metadata or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return status_pb2.Status(code=status.code.value[0], message=status.details)
