"""The gateway's client of paymesh.ledger.v1.LedgerService, in the gateway's own terms.

Calls go through Envoy's internal listener with the gateway's certificate (``internal_rpc``);
only the gateway may write to the ledger there. Accounts are named by code (a merchant's
books, ``gw/<merchant>/<CUR>/<role>``), entries are plain tuples, and failures are
``LedgerUnavailable`` (retry later with the same request_id) or ``LedgerRefused(reason)``, so
the use cases never see protobuf, gRPC or the domain's posting-plan types from here.

Every write carries the caller's ``request_id``: the ledger answers a repeated request_id
with the first result and changes nothing, so a retry after ``LedgerUnavailable`` (even one
whose first attempt did commit) never posts twice.

Account ids are cached by code in memory, per process: codes never change their account.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import grpc
import grpc.aio
from google.protobuf.duration_pb2 import Duration

from paymesh.common.v1 import money_pb2
from paymesh.ledger.v1 import ledger_pb2 as pb
from paymesh.ledger.v1 import ledger_pb2_grpc

from .internal_rpc import (
    ClientTls,
    UpstreamError,
    UpstreamRefused,
    UpstreamUnavailable,
    internal_channel,
    translate,
    translate_status,
)

__all__ = [
    "AccountOpening",
    "AccountToOpen",
    "LedgerBalance",
    "LedgerClient",
    "LedgerEntry",
    "LedgerRefused",
    "LedgerUnavailable",
    "NewTransaction",
]

_TYPES = {
    "ASSET": pb.ACCOUNT_TYPE_ASSET,
    "LIABILITY": pb.ACCOUNT_TYPE_LIABILITY,
    "EQUITY": pb.ACCOUNT_TYPE_EQUITY,
    "REVENUE": pb.ACCOUNT_TYPE_REVENUE,
    "EXPENSE": pb.ACCOUNT_TYPE_EXPENSE,
}
_DIRECTIONS = {"DEBIT": pb.DIRECTION_DEBIT, "CREDIT": pb.DIRECTION_CREDIT}
# The ledger's reasons for "this account exists already" (by code, or by request_id).
_EXISTS = frozenset({"ACCOUNT_CODE_TAKEN", "REQUEST_ID_REUSED"})
_MAX_REQUEST_ID_LEN = 128


class LedgerUnavailable(UpstreamUnavailable):
    """Raised when the ledger could not be asked or did not answer; retry later, unchanged."""


class LedgerRefused(UpstreamRefused):
    """Raised when the ledger refused: ``reason`` is its ErrorInfo reason (LIMIT_EXCEEDED,
    PENDING_EXPIRED, TRANSACTION_NOT_PENDING ...), or ACCOUNT_MISMATCH when an existing
    account's currency or type differs from the one asked for."""


class AccountToOpen(Protocol):
    """An account to open; the domain's ``AccountSpec`` is one, and so is ``AccountOpening``."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def type(self) -> str:
        """ASSET, LIABILITY, EQUITY, REVENUE or EXPENSE."""
        ...

    @property
    def owner(self) -> str: ...
    @property
    def debits_must_not_exceed_credits(self) -> bool: ...
    @property
    def request_id(self) -> str:
        """The CreateAccount request_id; empty derives one from the code."""
        ...


@dataclass(frozen=True, slots=True)
class AccountOpening:
    """A plain ``AccountToOpen``."""

    code: str
    currency: str
    type: str
    owner: str = ""
    name: str = ""
    debits_must_not_exceed_credits: bool = False
    request_id: str = ""


class LedgerEntry(NamedTuple):
    """One leg of a transaction; any ``(code, direction, amount_minor, currency)`` tuple."""

    account_code: str
    direction: str
    """DEBIT or CREDIT (any case)."""
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class LedgerBalance:
    """An account's balances, signed by its normal side, in minor units of ``currency``."""

    account_id: str
    currency: str
    posted_minor: int
    pending_minor: int
    """Posted plus every pending entry."""
    available_minor: int
    """Posted minus pending entries against the normal side: what can be spent now."""


@dataclass(frozen=True, slots=True)
class NewTransaction:
    """One transaction of a ``create_transactions`` batch (``create_transaction``'s
    arguments)."""

    entries: Sequence[tuple[str, str, int, str]]
    request_id: str
    pending: bool = False
    pending_timeout_s: float | None = None
    external_ref: str = ""
    metadata: Mapping[str, str] | None = None
    description: str = ""


def opening_request_id(code: str) -> str:
    """A deterministic CreateAccount request_id for ``code`` (within the ledger's 128)."""
    request_id = f"open:{code}"
    if len(request_id) <= _MAX_REQUEST_ID_LEN:
        return request_id
    return "open:" + hashlib.sha256(code.encode()).hexdigest()


class LedgerClient:
    """Async LedgerService client. Build with ``connect``; ``close`` when done."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float = 5.0) -> None:
        self._channel = channel
        self._stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        self._timeout_s = timeout_s
        self._ids: dict[str, str] = {}

    @classmethod
    def connect(cls, target: str, tls: ClientTls | None, *, timeout_s: float = 5.0) -> LedgerClient:
        """A client of the ledger at ``target`` (Envoy's internal listener, host:port)."""
        return cls(internal_channel(target, tls), timeout_s=timeout_s)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._channel.close()

    async def _call(self, method: str, request: Any) -> Any:
        # The generated stubs type the sync API; on an aio channel each call is awaitable.
        try:
            return await getattr(self._stub, method)(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, f"ledger {method}", LedgerUnavailable, LedgerRefused) from None

    async def ensure_accounts(self, chart: Iterable[AccountToOpen]) -> dict[str, str]:
        """Open every account of ``chart`` that does not exist yet; account id by code.

        Idempotent: an account that exists (under this request_id or any other) is success,
        provided its currency and type are the ones asked for (else ACCOUNT_MISMATCH).
        """
        return {spec.code: await self._ensure_account(spec) for spec in chart}

    async def _ensure_account(self, spec: AccountToOpen) -> str:
        cached = self._ids.get(spec.code)
        if cached is not None:
            return cached
        account = pb.Account(
            code=spec.code,
            name=spec.name,
            currency_code=spec.currency,
            type=_account_type(spec.type),
            owner=spec.owner,
            debits_must_not_exceed_credits=spec.debits_must_not_exceed_credits,
        )
        request = pb.CreateAccountRequest(
            account=account, request_id=spec.request_id or opening_request_id(spec.code)
        )
        try:
            reply = await self._call("CreateAccount", request)
            found = reply.account
        except LedgerRefused as exc:
            if exc.reason not in _EXISTS:
                raise
            found = await self._account_by_code(spec.code)
            if (found.currency_code, found.type) != (account.currency_code, account.type):
                raise LedgerRefused(
                    f"ledger account {spec.code} exists with another currency or type",
                    code=grpc.StatusCode.ALREADY_EXISTS,
                    reason="ACCOUNT_MISMATCH",
                    metadata={"code": spec.code, "account_id": found.id},
                ) from exc
        self._ids[spec.code] = found.id
        return str(found.id)

    async def _account_by_code(self, code: str) -> pb.Account:
        reply = await self._call("GetAccount", pb.GetAccountRequest(code=code))
        account: pb.Account = reply.account
        return account

    async def account_id(self, code: str) -> str:
        """The id of the account with ``code``; LedgerRefused(ACCOUNT_NOT_FOUND) if none."""
        cached = self._ids.get(code)
        if cached is None:
            cached = self._ids[code] = (await self._account_by_code(code)).id
        return cached

    async def create_transaction(
        self,
        entries: Sequence[tuple[str, str, int, str]],
        *,
        request_id: str,
        pending: bool = False,
        pending_timeout_s: float | None = None,
        external_ref: str = "",
        metadata: Mapping[str, str] | None = None,
        description: str = "",
    ) -> str:
        """Record one balanced transaction (held when ``pending``); its ledger id.

        ``entries`` are ``(account_code, direction, amount_minor, currency)``. A hold lasts
        ``pending_timeout_s`` (None: until posted or voided).
        """
        new = NewTransaction(entries, request_id, pending, pending_timeout_s, external_ref,
                             metadata, description)  # fmt: skip
        reply = await self._call("CreateTransaction", await self._request(new))
        return str(reply.transaction.id)

    async def create_transactions(
        self, items: Sequence[NewTransaction]
    ) -> list[str | UpstreamError]:
        """Record many transactions in one call, each on its own (the ledger's INDEPENDENT
        mode): per item, in order, its ledger id or why it failed (``LedgerUnavailable``:
        retry that item; ``LedgerRefused``). A failure of the call itself raises, as
        ``create_transaction`` does, and then no item is known to be recorded."""
        if not items:
            return []
        request = pb.CreateTransactionsRequest(
            requests=[await self._request(item) for item in items],
            mode=pb.BATCH_MODE_INDEPENDENT,
        )
        reply = await self._call("CreateTransactions", request)
        out: list[str | UpstreamError] = []
        for result in reply.results:
            if result.HasField("transaction"):
                out.append(str(result.transaction.id))
            else:
                out.append(translate_status(
                    result.error, "ledger CreateTransactions item",
                    LedgerUnavailable, LedgerRefused,
                ))  # fmt: skip
        if len(out) != len(items):
            raise LedgerUnavailable(
                f"ledger CreateTransactions answered {len(out)} results for {len(items)} items",
                code=grpc.StatusCode.INTERNAL,
            )
        return out

    async def _request(self, new: NewTransaction) -> pb.CreateTransactionRequest:
        transaction = pb.Transaction(
            entries=[await self._entry(entry) for entry in new.entries],
            description=new.description,
            external_ref=new.external_ref,
            metadata=dict(new.metadata or {}),
        )
        request = pb.CreateTransactionRequest(
            transaction=transaction, pending=new.pending, request_id=new.request_id
        )
        if new.pending_timeout_s is not None:
            request.pending_timeout.CopyFrom(_duration(new.pending_timeout_s))
        return request

    async def _entry(self, entry: tuple[str, str, int, str]) -> pb.Entry:
        code, direction, amount_minor, currency = entry
        side = _DIRECTIONS.get(direction.upper())
        if side is None:
            raise ValueError(f"direction must be DEBIT or CREDIT, not {direction!r}")
        return pb.Entry(
            account_id=await self.account_id(code),
            direction=side,
            amount=money_pb2.Money(currency_code=currency, minor_units=amount_minor),
        )

    async def post(
        self, transaction_id: str, *, request_id: str, amount_minor: int | None = None
    ) -> None:
        """Post a pending transaction: in full, or ``amount_minor`` (two-entry holds only),
        releasing the rest of the hold."""
        request = pb.PostTransactionRequest(transaction_id=transaction_id, request_id=request_id)
        if amount_minor is not None:
            request.amount_minor_units = amount_minor
        await self._call("PostTransaction", request)

    async def void(self, transaction_id: str, *, request_id: str) -> None:
        """Void a pending transaction, releasing its hold."""
        request = pb.VoidTransactionRequest(transaction_id=transaction_id, request_id=request_id)
        await self._call("VoidTransaction", request)

    async def reverse(self, transaction_id: str, *, request_id: str) -> str:
        """Reverse a posted transaction with a new posted one mirroring it; the reversal's
        id. A repeat under ``request_id`` answers the first reversal (the ledger reverses a
        transaction at most once: another request id gets TRANSACTION_ALREADY_REVERSED)."""
        request = pb.ReverseTransactionRequest(transaction_id=transaction_id, request_id=request_id)
        reply = await self._call("ReverseTransaction", request)
        return str(reply.transaction.id)

    async def get_balance(self, account_id: str) -> LedgerBalance:
        """The account's current balances."""
        reply = await self._call("GetBalance", pb.GetBalanceRequest(account_id=account_id))
        b = reply.balance
        return LedgerBalance(
            account_id=b.account_id,
            currency=b.posted.currency_code,
            posted_minor=b.posted.minor_units,
            pending_minor=b.pending.minor_units,
            available_minor=b.available.minor_units,
        )


def _account_type(name: str) -> pb.AccountType.ValueType:
    found = _TYPES.get(str(name).upper())
    if found is None:
        raise ValueError(f"account type must be one of {', '.join(_TYPES)}, not {name!r}")
    return found


def _duration(seconds: float) -> Duration:
    out = Duration()
    out.FromNanoseconds(round(seconds * 1_000_000_000))
    return out
