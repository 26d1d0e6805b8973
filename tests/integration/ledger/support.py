"""Builders and readers for the ledger's e2e tests, so each test reads as its scenario.

- ``serve_ledger``: a real grpc.aio LedgerService on a free loopback port.
- ``open_account``, ``debit``, ``credit``, ``tx_request``, ``record``, ``move``,
  ``hold``, ``post``, ``void``, ``reverse``: open accounts and record and resolve
  transactions in one line each; ``cash_and_payable`` opens the usual pair.
- ``refused``: await a call that must fail and return its status code plus the
  ErrorInfo (reason, metadata) and BadRequest field paths it carried;
  ``refusal_from_error`` reads the same from a caught AioRpcError and
  ``refusal_of`` from a per-item ``google.rpc.Status``.
- ``balance_of``, ``amounts``, ``all_pages``: read balances and whole listings.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import grpc
import grpc.aio
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from ledger_svc.app import create_app
from ledger_svc.settings import LedgerSettings
from paymesh.common.v1.money_pb2 import Money
from paymesh.ledger.v1 import ledger_pb2 as pb
from paymesh.ledger.v1 import ledger_pb2_grpc

if TYPE_CHECKING:
    # The stubs type the aio stub separately; at run time it is the one generated class.
    Stub: TypeAlias = ledger_pb2_grpc.LedgerServiceAsyncStub
else:
    Stub = ledger_pb2_grpc.LedgerServiceStub
ERROR_DOMAIN = "ledger.paymesh.local"
USD = "USD"
EUR = "EUR"

ASSET = pb.ACCOUNT_TYPE_ASSET
LIABILITY = pb.ACCOUNT_TYPE_LIABILITY
EQUITY = pb.ACCOUNT_TYPE_EQUITY
REVENUE = pb.ACCOUNT_TYPE_REVENUE
EXPENSE = pb.ACCOUNT_TYPE_EXPENSE

_CODES = {c.value[0]: c for c in grpc.StatusCode}

M = TypeVar("M", bound=Message)


# -- the service ----------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """A started ledger: a stub on one channel, the port for more, and its database."""

    stub: Stub
    port: int
    database_url: str

    @asynccontextmanager
    async def channel(self) -> AsyncIterator[Stub]:
        """A stub on a channel of its own (for calls that must not share a connection)."""
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            yield ledger_pb2_grpc.LedgerServiceStub(channel)


@asynccontextmanager
async def serve_ledger(
    database_url: str, *, sweep_interval_s: float = 0.2
) -> AsyncIterator[Served]:
    """Start the ledger in-process (plaintext loopback, port 0) and stop it afterwards."""
    settings = LedgerSettings(
        listen_addr="127.0.0.1:0",
        plaintext=True,
        database_url=database_url,
        sweep_interval_s=sweep_interval_s,
    )
    host = await create_app(settings)
    port = await host.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Served(ledger_pb2_grpc.LedgerServiceStub(channel), port, database_url)
    finally:
        await host.stop(0)


# -- builders ---------------------------------------------------------------


def unique_code(label: str = "acct") -> str:
    """An account code no other test uses."""
    return f"t/{label}/{uuid.uuid4().hex[:12]}"


def new_request_id() -> str:
    """A fresh idempotency key."""
    return f"req-{uuid.uuid4().hex}"


def account_message(
    type_: pb.AccountType.ValueType = ASSET,
    currency: str = USD,
    *,
    code: str = "",
    name: str = "",
    owner: str = "",
    metadata: dict[str, str] | None = None,
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
) -> pb.Account:
    """An Account to send to CreateAccount; the code is unique unless given."""
    return pb.Account(
        code=code or unique_code(),
        name=name,
        currency_code=currency,
        type=type_,
        owner=owner,
        metadata=metadata or {},
        debits_must_not_exceed_credits=debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=credits_must_not_exceed_debits,
    )


async def open_account(
    stub: Stub,
    type_: pb.AccountType.ValueType = ASSET,
    currency: str = USD,
    *,
    request_id: str = "",
    **fields: Any,
) -> pb.Account:
    """Open an account and return it as the service answered."""
    request = pb.CreateAccountRequest(
        account=account_message(type_, currency, **fields), request_id=request_id
    )
    return (await stub.CreateAccount(request)).account


def money(minor_units: int, currency: str = USD) -> Money:
    """A Money message."""
    return Money(currency_code=currency, minor_units=minor_units)


def debit(account: pb.Account | str, amount: int, currency: str | None = None) -> pb.Entry:
    """A debit entry; the currency defaults to the account's."""
    return _entry(account, pb.DIRECTION_DEBIT, amount, currency)


def credit(account: pb.Account | str, amount: int, currency: str | None = None) -> pb.Entry:
    """A credit entry; the currency defaults to the account's."""
    return _entry(account, pb.DIRECTION_CREDIT, amount, currency)


def _entry(
    account: pb.Account | str,
    direction: pb.Direction.ValueType,
    amount: int,
    currency: str | None,
) -> pb.Entry:
    if isinstance(account, str):
        account_id, default_currency = account, USD
    else:
        account_id, default_currency = account.id, account.currency_code
    return pb.Entry(
        account_id=account_id,
        direction=direction,
        amount=money(amount, currency or default_currency),
    )


def timestamp(value: datetime) -> Timestamp:
    """A Timestamp message for an aware datetime."""
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def tx_request(
    *entries: pb.Entry,
    pending: bool = False,
    timeout_s: float | None = None,
    request_id: str = "",
    description: str = "",
    external_ref: str = "",
    metadata: dict[str, str] | None = None,
    effective_time: datetime | None = None,
) -> pb.CreateTransactionRequest:
    """A CreateTransactionRequest for these entries."""
    request = pb.CreateTransactionRequest(
        transaction=pb.Transaction(
            entries=list(entries),
            description=description,
            external_ref=external_ref,
            metadata=metadata or {},
        ),
        pending=pending,
        request_id=request_id,
    )
    if effective_time is not None:
        request.transaction.effective_time.CopyFrom(timestamp(effective_time))
    if timeout_s is not None:
        duration = Duration()
        duration.FromTimedelta(timedelta(seconds=timeout_s))
        request.pending_timeout.CopyFrom(duration)
    return request


async def record(stub: Stub, *entries: pb.Entry, **options: Any) -> pb.Transaction:
    """Record a transaction of these entries (options as for ``tx_request``)."""
    return (await stub.CreateTransaction(tx_request(*entries, **options))).transaction


async def move(
    stub: Stub, debited: pb.Account, credited: pb.Account, amount: int, **options: Any
) -> pb.Transaction:
    """Record a two-entry transaction: debit one account, credit the other."""
    return await record(stub, debit(debited, amount), credit(credited, amount), **options)


async def hold(
    stub: Stub, debited: pb.Account, credited: pb.Account, amount: int, **options: Any
) -> pb.Transaction:
    """Record a pending two-entry transaction."""
    return await move(stub, debited, credited, amount, pending=True, **options)


async def post(
    stub: Stub, tx: pb.Transaction, amount: int | None = None, *, request_id: str = ""
) -> pb.Transaction:
    """PostTransaction: the whole hold, or ``amount`` of it."""
    request = pb.PostTransactionRequest(transaction_id=tx.id, request_id=request_id)
    if amount is not None:
        request.amount_minor_units = amount
    return (await stub.PostTransaction(request)).transaction


async def void(stub: Stub, tx: pb.Transaction, *, request_id: str = "") -> pb.Transaction:
    """VoidTransaction."""
    request = pb.VoidTransactionRequest(transaction_id=tx.id, request_id=request_id)
    return (await stub.VoidTransaction(request)).transaction


async def reverse(
    stub: Stub, tx: pb.Transaction, *, description: str = "", request_id: str = ""
) -> pb.Transaction:
    """ReverseTransaction."""
    request = pb.ReverseTransactionRequest(
        transaction_id=tx.id, description=description, request_id=request_id
    )
    return (await stub.ReverseTransaction(request)).transaction


async def cash_and_payable(stub: Stub, funded: int = 0) -> tuple[pb.Account, pb.Account]:
    """A USD cash asset and a merchant payable (a liability that must not go negative),
    the payable funded from cash with ``funded``.
    """
    cash = await open_account(stub, ASSET)
    payable = await open_account(stub, LIABILITY, debits_must_not_exceed_credits=True)
    if funded:
        await move(stub, cash, payable, funded)
    return cash, payable


# -- readers ----------------------------------------------------------------


async def balance_of(stub: Stub, account: pb.Account, as_of: datetime | None = None) -> pb.Balance:
    """GetBalance, now or as of an effective time."""
    request = pb.GetBalanceRequest(account_id=account.id)
    if as_of is not None:
        request.as_of_time.CopyFrom(timestamp(as_of))
    return (await stub.GetBalance(request)).balance


async def amounts(stub: Stub, account: pb.Account) -> tuple[int, int, int]:
    """The account's (posted, pending, available) balances, in minor units."""
    b = await balance_of(stub, account)
    return b.posted.minor_units, b.pending.minor_units, b.available.minor_units


async def get_tx(stub: Stub, tx: pb.Transaction | str) -> pb.Transaction:
    """GetTransaction."""
    tx_id = tx if isinstance(tx, str) else tx.id
    request = pb.GetTransactionRequest(transaction_id=tx_id)
    return (await stub.GetTransaction(request)).transaction


async def all_pages(
    call: Callable[[M], Awaitable[Any]], request: M, items: str
) -> tuple[list[Any], int]:
    """Follow next_page_token until it is empty; return every item and the page count."""
    request = type(request).FromString(request.SerializeToString())
    found: list[Any] = []
    pages = 0
    while True:
        response = await call(request)
        pages += 1
        found.extend(getattr(response, items))
        if not response.next_page_token:
            return found, pages
        request.page_token = response.next_page_token  # type: ignore[attr-defined]


def entry_view(entries: Any) -> list[tuple[str, int, int, str]]:
    """Entries as comparable (account_id, direction, minor_units, currency) tuples."""
    return [
        (e.account_id, e.direction, e.amount.minor_units, e.amount.currency_code) for e in entries
    ]


# -- refusals ---------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """What a failed call told the caller."""

    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    metadata: dict[str, str] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)


def refusal_of(status: status_pb2.Status) -> Refusal:
    """Read the ErrorInfo and BadRequest out of a google.rpc.Status."""
    infos: list[error_details_pb2.ErrorInfo] = []
    fields: list[str] = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        # Unpack returns False (and leaves the message empty) when the type differs.
        if detail.Unpack(info):
            infos.append(info)
        elif detail.Unpack(bad):
            fields.extend(v.field for v in bad.field_violations)
    assert len(infos) == 1, f"expected exactly one ErrorInfo, got {infos}"
    info = infos[0]
    return Refusal(
        code=_CODES[status.code],
        message=status.message,
        reason=info.reason,
        domain=info.domain,
        metadata=dict(info.metadata),
        fields=fields,
    )


def refusal_from_error(err: grpc.aio.AioRpcError) -> Refusal:
    """What a failed call's rich status said (its ErrorInfo and BadRequest)."""
    # AioRpcError has every grpc.Call method from_call reads; the stubs only know grpc.Call.
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, f"{err.code()} without rich status details: {err.details()}"
    refusal = refusal_of(status)
    assert refusal.code == err.code()
    assert refusal.domain == ERROR_DOMAIN
    return refusal


async def refused(call: Awaitable[Any]) -> Refusal:
    """Await a call that must fail; return what its rich status said."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        err = exc
    else:
        raise AssertionError("the call succeeded, but it should have been refused")
    return refusal_from_error(err)
