"""The ledger's use cases. The gRPC servicer calls these with domain values only.

Writes that move money go through the PostingWriter (group commit); account
writes and every read open their own unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger_svc.adapters.queries import AccountFilter
from ledger_svc.domain import rules
from ledger_svc.domain.commands import (
    Command,
    CreateTx,
    IdempotencyRecord,
    check_replay,
    close_account_fingerprint,
    create_account_fingerprint,
)
from ledger_svc.domain.errors import (
    AccountCodeTaken,
    AccountNotFound,
    InvalidPageToken,
    LedgerError,
    TransactionNotFound,
    ValidationFailed,
)
from ledger_svc.domain.model import (
    Account,
    AccountStatus,
    Balances,
    NewAccount,
    StatementLine,
    Totals,
    Transaction,
    balances,
)
from svc_kit.pagination import Page, PageTokens

from .posting import Outcome, PostingWriter
from .unit_of_work import UnitOfWork


@dataclass(frozen=True)
class BalanceView:
    """An account's totals and derived balances, now or as of a time."""

    account: Account
    totals: Totals
    balances: Balances
    as_of: datetime | None


pagination = PageTokens(invalid=InvalidPageToken, validation=ValidationFailed)


class Ledger:
    """Application service: every use case of the ledger."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: PostingWriter,
        new_id: Callable[[str], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.new_id = new_id
        self.clock = clock

    # -- accounts ---------------------------------------------------------

    async def create_account(self, new: NewAccount, request_id: str = "") -> Account:
        """Open an account; a replayed request_id returns the account it opened."""
        rules.check_new_account(new, prefix="account.")
        rules.check_request_id(request_id)
        fingerprint = create_account_fingerprint(new)
        for _ in range(2):
            async with UnitOfWork(self.engine) as uow:
                replayed = await self._replayed_account(uow, request_id, fingerprint)
                if replayed is not None:
                    return replayed
                acct = Account(
                    id=self.new_id("acct"),
                    code=new.code,
                    name=new.name,
                    currency=new.currency,
                    type=new.type,
                    owner=new.owner,
                    metadata=dict(new.metadata),
                    debits_must_not_exceed_credits=new.debits_must_not_exceed_credits,
                    credits_must_not_exceed_debits=new.credits_must_not_exceed_debits,
                    status=AccountStatus.OPEN,
                    create_time=self.clock(),
                )
                inserted = await uow.ledger.insert_account(acct)
                if inserted:
                    if request_id:
                        record = IdempotencyRecord(request_id, fingerprint, acct.id)
                        try:
                            await uow.ledger.remember(record, acct.create_time)
                        except IntegrityError:
                            continue  # a concurrent twin won; the next pass replays it
                    await uow.commit()
                    return acct
            if not request_id:
                break
            # The code may be taken by a concurrent twin with our request_id: look again.
        raise AccountCodeTaken(
            f"an account with code {new.code!r} already exists", metadata={"code": new.code}
        )

    async def _replayed_account(
        self, uow: UnitOfWork, request_id: str, fingerprint: dict[str, str]
    ) -> Account | None:
        if not request_id:
            return None
        records = await uow.ledger.remembered([request_id])
        result_id = check_replay(records.get(request_id), fingerprint)
        if result_id is None:
            return None
        return await uow.ledger.get_account(result_id)

    async def close_account(self, account_id: str, request_id: str = "") -> Account:
        """Close an account; closing a closed account changes nothing."""
        rules.check_request_id(request_id)
        fingerprint = close_account_fingerprint(account_id)
        async with UnitOfWork(self.engine) as uow:
            # Lock first: a concurrent twin with our request_id then finishes
            # before we look for its record, and we replay it.
            acct = await uow.ledger.get_account(account_id, lock=True)
            replayed = await self._replayed_account(uow, request_id, fingerprint)
            if replayed is not None:
                return replayed
            if acct is None:
                raise _account_not_found(account_id)
            if acct.status is AccountStatus.OPEN:
                await uow.ledger.close_account(account_id)
            if request_id:
                record = IdempotencyRecord(request_id, fingerprint, account_id)
                await uow.ledger.remember(record, self.clock())
            await uow.commit()
            return replace(acct, status=AccountStatus.CLOSED)

    async def get_account(self, account_id: str = "", code: str = "") -> Account:
        """One account by id, or by code when no id is given."""
        async with UnitOfWork(self.engine, read_only=True) as uow:
            if account_id:
                acct = await uow.ledger.get_account(account_id)
            else:
                acct = await uow.ledger.get_account_by_code(code)
        if acct is None:
            raise _account_not_found(account_id or code)
        return acct

    async def list_accounts(self, f: AccountFilter, size: int, token: str) -> Page[Account]:
        """A page of accounts in creation order."""
        limit = pagination.page_size(size, default=50, maximum=1000)
        filters = {
            "owner": f.owner,
            "currency": f.currency,
            "type": f.type,
            "prefix": f.code_prefix,
        }
        after = pagination.decode(token, filters) or ""
        async with UnitOfWork(self.engine, read_only=True) as uow:
            items = await uow.queries.list_accounts(f, str(after), limit + 1)
        return pagination.page(items, limit, lambda a: a.id, filters)

    # -- balances and statements ------------------------------------------

    async def balance(self, account_id: str, as_of: datetime | None) -> BalanceView:
        """Current totals and balances, or the posted balance as of a time."""
        async with UnitOfWork(self.engine, read_only=True) as uow:
            acct = await uow.ledger.get_account(account_id)
            if acct is None:
                raise _account_not_found(account_id)
            if as_of is None:
                return BalanceView(acct, acct.totals, acct.balances, None)
            totals = await uow.queries.posted_totals_as_of(account_id, as_of)
        debit_normal = acct.type.debit_normal
        return BalanceView(acct, totals, balances(totals, debit_normal=debit_normal), as_of)

    async def statement(
        self,
        account_id: str,
        start: datetime | None,
        end: datetime | None,
        size: int,
        token: str,
    ) -> tuple[Account, Page[StatementLine]]:
        """A page of an account's posted entries with running balances."""
        limit = pagination.page_size(size, default=100, maximum=1000)
        filters = {"account": account_id, "start": start, "end": end}
        after = pagination.decode(token, filters) or [0, -1]
        async with UnitOfWork(self.engine, read_only=True) as uow:
            acct = await uow.ledger.get_account(account_id)
            if acct is None:
                raise _account_not_found(account_id)
            lines = await uow.queries.statement(
                account_id, start, end, (int(after[0]), int(after[1])), limit + 1
            )
        return acct, pagination.page(lines, limit, lambda x: [x.sequence, x.index], filters)

    # -- transactions -----------------------------------------------------

    async def create_transaction(self, cmd: CreateTx) -> Transaction:
        """Record one transaction (posted or pending)."""
        rules.check_request_id(cmd.request_id)
        rules.check_new_transaction(cmd.tx, prefix="transaction.")
        return _one(await self.writer.submit([cmd], atomic=False))

    async def create_transactions(self, cmds: Sequence[CreateTx], *, atomic: bool) -> list[Outcome]:
        """Record up to 1,000 transactions, all-or-nothing or each on its own."""
        rules.check_batch_size(len(cmds))
        outcomes: list[Outcome | None] = []
        valid: list[CreateTx] = []
        for index, cmd in enumerate(cmds):
            try:
                rules.check_request_id(cmd.request_id, f"requests[{index}].request_id")
                rules.check_new_transaction(
                    cmd.tx,
                    prefix=f"requests[{index}].transaction.",
                    request_prefix=f"requests[{index}].",
                )
            except LedgerError as exc:
                if atomic:
                    exc.metadata["index"] = str(index)
                    raise
                outcomes.append(exc)
                continue
            outcomes.append(None)
            valid.append(cmd)
        decided = iter(await self.writer.submit(valid, atomic=atomic) if valid else [])
        if atomic:
            results = list(decided)
            if results and isinstance(results[0], LedgerError):
                raise results[0]
            return results
        return [o if o is not None else next(decided) for o in outcomes]

    async def apply(self, cmd: Command) -> Transaction:
        """Post, void or reverse through the writer."""
        rules.check_request_id(cmd.request_id)
        return _one(await self.writer.submit([cmd], atomic=False))

    async def get_transaction(self, transaction_id: str) -> Transaction:
        """One transaction with its entries."""
        async with UnitOfWork(self.engine, read_only=True) as uow:
            found = await uow.ledger.transactions([transaction_id])
        if transaction_id not in found:
            raise TransactionNotFound(
                f"no transaction {transaction_id!r}", metadata={"transaction_id": transaction_id}
            )
        return found[transaction_id]

    async def list_transactions(
        self,
        account_id: str,
        start: datetime | None,
        end: datetime | None,
        size: int,
        token: str,
    ) -> Page[Transaction]:
        """A page of transactions in ledger order."""
        limit = pagination.page_size(size, default=50, maximum=500)
        filters = {"account": account_id, "start": start, "end": end}
        after = pagination.decode(token, filters) or 0
        async with UnitOfWork(self.engine, read_only=True) as uow:
            items = await uow.queries.list_transactions(
                account_id, start, end, int(after), limit + 1
            )
        return pagination.page(items, limit, lambda x: x.sequence, filters)


def _one(outcomes: list[Outcome]) -> Transaction:
    (outcome,) = outcomes
    if isinstance(outcome, LedgerError):
        raise outcome
    return outcome


def _account_not_found(ref: str) -> AccountNotFound:
    return AccountNotFound(f"no account {ref!r}", metadata={"account": ref})
