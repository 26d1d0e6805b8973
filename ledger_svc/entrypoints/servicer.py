"""LedgerService over gRPC: each method translates, calls one use case, translates back.

No method catches anything: domain errors become statuses in the one error
interceptor (``svc_kit.grpc_errors``) using ``ledger_svc.entrypoints.errors``.
"""

from __future__ import annotations

from typing import Any

import grpc

from ledger_svc.adapters.queries import AccountFilter
from ledger_svc.domain.commands import CreateTx, PostTx, ReverseTx, VoidTx
from ledger_svc.domain.errors import LedgerError
from ledger_svc.service_layer import reports
from ledger_svc.service_layer.ledger import Ledger
from paymesh.ledger.v1 import ledger_pb2 as pb
from paymesh.ledger.v1 import ledger_pb2_grpc

from . import convert as cv

Ctx = grpc.aio.ServicerContext[Any, Any]


class LedgerServicer(ledger_pb2_grpc.LedgerServiceServicer):
    """The gRPC face of ``Ledger``."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def CreateAccount(
        self, request: pb.CreateAccountRequest, context: Ctx
    ) -> pb.CreateAccountResponse:
        acct = await self.ledger.create_account(cv.new_account(request), request.request_id)
        return pb.CreateAccountResponse(account=cv.account(acct))

    async def GetAccount(
        self, request: pb.GetAccountRequest, context: Ctx
    ) -> pb.GetAccountResponse:
        if bool(request.account_id) == bool(request.code):
            raise cv.invalid("account_id", "exactly one of account_id and code is required")
        acct = await self.ledger.get_account(request.account_id, request.code)
        return pb.GetAccountResponse(account=cv.account(acct))

    async def ListAccounts(
        self, request: pb.ListAccountsRequest, context: Ctx
    ) -> pb.ListAccountsResponse:
        f = AccountFilter(
            owner=request.owner,
            currency=request.currency_code,
            type=cv.ACCOUNT_TYPES.get(request.type),
            code_prefix=request.code_prefix,
        )
        page = await self.ledger.list_accounts(f, request.page_size, request.page_token)
        return pb.ListAccountsResponse(
            accounts=[cv.account(a) for a in page.items], next_page_token=page.next_page_token
        )

    async def CloseAccount(
        self, request: pb.CloseAccountRequest, context: Ctx
    ) -> pb.CloseAccountResponse:
        account_id = cv.require_id(request.account_id, "account_id")
        acct = await self.ledger.close_account(account_id, request.request_id)
        return pb.CloseAccountResponse(account=cv.account(acct))

    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: Ctx
    ) -> pb.GetBalanceResponse:
        account_id = cv.require_id(request.account_id, "account_id")
        view = await self.ledger.balance(account_id, cv.time_or_none(request, "as_of_time"))
        return pb.GetBalanceResponse(balance=cv.balance(view))

    async def ListEntries(
        self, request: pb.ListEntriesRequest, context: Ctx
    ) -> pb.ListEntriesResponse:
        account_id = cv.require_id(request.account_id, "account_id")
        _, page = await self.ledger.statement(
            account_id,
            cv.time_or_none(request, "start_time"),
            cv.time_or_none(request, "end_time"),
            request.page_size,
            request.page_token,
        )
        return pb.ListEntriesResponse(
            lines=[cv.statement_line(x) for x in page.items], next_page_token=page.next_page_token
        )

    async def CreateTransaction(
        self, request: pb.CreateTransactionRequest, context: Ctx
    ) -> pb.CreateTransactionResponse:
        cmd = CreateTx(cv.new_transaction(request), request.request_id)
        tx = await self.ledger.create_transaction(cmd)
        return pb.CreateTransactionResponse(transaction=cv.transaction(tx))

    async def CreateTransactions(
        self, request: pb.CreateTransactionsRequest, context: Ctx
    ) -> pb.CreateTransactionsResponse:
        atomic = request.mode != pb.BATCH_MODE_INDEPENDENT
        cmds = [
            CreateTx(cv.new_transaction(r, f"requests[{i}]."), r.request_id)
            for i, r in enumerate(request.requests)
        ]
        outcomes = await self.ledger.create_transactions(cmds, atomic=atomic)
        out = pb.CreateTransactionsResponse()
        stamps: cv.Stamps = {}
        for outcome in outcomes:
            if isinstance(outcome, LedgerError):
                out.results.add(error=cv.error_status(outcome))
            else:
                cv.fill_transaction(out.results.add().transaction, outcome, stamps)
        return out

    async def GetTransaction(
        self, request: pb.GetTransactionRequest, context: Ctx
    ) -> pb.GetTransactionResponse:
        tx_id = cv.require_id(request.transaction_id, "transaction_id")
        tx = await self.ledger.get_transaction(tx_id)
        return pb.GetTransactionResponse(transaction=cv.transaction(tx))

    async def ListTransactions(
        self, request: pb.ListTransactionsRequest, context: Ctx
    ) -> pb.ListTransactionsResponse:
        page = await self.ledger.list_transactions(
            request.account_id,
            cv.time_or_none(request, "start_time"),
            cv.time_or_none(request, "end_time"),
            request.page_size,
            request.page_token,
        )
        return pb.ListTransactionsResponse(
            transactions=[cv.transaction(x) for x in page.items],
            next_page_token=page.next_page_token,
        )

    async def PostTransaction(
        self, request: pb.PostTransactionRequest, context: Ctx
    ) -> pb.PostTransactionResponse:
        tx_id = cv.require_id(request.transaction_id, "transaction_id")
        amount = request.amount_minor_units if request.HasField("amount_minor_units") else None
        tx = await self.ledger.apply(PostTx(tx_id, amount, request.request_id))
        return pb.PostTransactionResponse(transaction=cv.transaction(tx))

    async def VoidTransaction(
        self, request: pb.VoidTransactionRequest, context: Ctx
    ) -> pb.VoidTransactionResponse:
        tx_id = cv.require_id(request.transaction_id, "transaction_id")
        tx = await self.ledger.apply(VoidTx(tx_id, request.request_id))
        return pb.VoidTransactionResponse(transaction=cv.transaction(tx))

    async def ReverseTransaction(
        self, request: pb.ReverseTransactionRequest, context: Ctx
    ) -> pb.ReverseTransactionResponse:
        tx_id = cv.require_id(request.transaction_id, "transaction_id")
        if len(request.description) > 500:
            raise cv.invalid("description", "must be at most 500 characters")
        tx = await self.ledger.apply(ReverseTx(tx_id, request.description, request.request_id))
        return pb.ReverseTransactionResponse(transaction=cv.transaction(tx))

    async def GetTrialBalance(
        self, request: pb.GetTrialBalanceRequest, context: Ctx
    ) -> pb.GetTrialBalanceResponse:
        return cv.trial_balance(await reports.trial_balance(self.ledger.engine))

    async def VerifyLedger(
        self, request: pb.VerifyLedgerRequest, context: Ctx
    ) -> pb.VerifyLedgerResponse:
        return cv.verify_report(await reports.verify(self.ledger.engine))
