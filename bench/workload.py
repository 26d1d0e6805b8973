"""What the bench posts: the account set, the posting requests and the client channels."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc.aio

from paymesh.common.v1 import money_pb2
from paymesh.ledger.v1 import ledger_pb2, ledger_pb2_grpc

CURRENCY = "USD"
_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_TYPES = (ledger_pb2.ACCOUNT_TYPE_ASSET, ledger_pb2.ACCOUNT_TYPE_LIABILITY)


@dataclass
class Accounts:
    """The bench's accounts; ``hot`` is the one every posting credits in the hot scenario."""

    ids: list[str]
    hot: str


@dataclass
class RequestIds:
    """Unique request ids: one random prefix per run, then a counter."""

    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def next(self) -> str:
        """A request id never handed out before in this run."""
        return f"bench-{self.prefix}-{next(self._counter)}"


def open_channels(target: str, count: int) -> list[grpc.aio.Channel]:
    """``count`` plaintext channels to ``target``, each with its own TCP connection.

    grpc shares one subchannel (one connection) between channels with equal arguments unless
    each asks for a local subchannel pool, which would make "a channel per client" a lie.
    """
    options = [
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ]
    return [grpc.aio.insecure_channel(target, options=options) for _ in range(count)]


async def create_accounts(
    stub: ledger_pb2_grpc.LedgerServiceAsyncStub, count: int, ids: RequestIds, parallel: int = 16
) -> Accounts:
    """Open ``count`` USD accounts, alternately ASSET and LIABILITY, without limit flags."""
    slots = asyncio.Semaphore(parallel)

    async def one(index: int) -> str:
        account = ledger_pb2.Account(
            code=f"bench/{ids.prefix}/{index:05d}",
            name=f"bench account {index}",
            currency_code=CURRENCY,
            type=_TYPES[index % 2],
        )
        request = ledger_pb2.CreateAccountRequest(account=account, request_id=ids.next())
        async with slots:
            reply = await stub.CreateAccount(request, timeout=30.0)
        return reply.account.id

    account_ids = list(await asyncio.gather(*(one(i) for i in range(count))))
    # Index 1 is a LIABILITY account: credits grow it, so the hot account's balance rises.
    return Accounts(ids=account_ids, hot=account_ids[1])


def posting(
    rng: random.Random, accounts: Accounts, ids: RequestIds, *, hot: bool
) -> ledger_pb2.CreateTransactionRequest:
    """One posted two-entry transaction: a random debit account, a random (or hot) credit."""
    if hot:
        credit = accounts.hot
        debit = credit
        while debit == credit:
            debit = rng.choice(accounts.ids)
    else:
        debit, credit = rng.sample(accounts.ids, 2)
    amount = money_pb2.Money(currency_code=CURRENCY, minor_units=rng.randint(1, 10_000))
    transaction = ledger_pb2.Transaction(
        entries=[
            ledger_pb2.Entry(account_id=debit, direction=ledger_pb2.DIRECTION_DEBIT, amount=amount),
            ledger_pb2.Entry(
                account_id=credit, direction=ledger_pb2.DIRECTION_CREDIT, amount=amount
            ),
        ],
        description="bench posting",
    )
    return ledger_pb2.CreateTransactionRequest(transaction=transaction, request_id=ids.next())


def batch(
    rng: random.Random, accounts: Accounts, ids: RequestIds, size: int
) -> ledger_pb2.CreateTransactionsRequest:
    """``size`` independent cold postings in one CreateTransactions call."""
    items: Sequence[ledger_pb2.CreateTransactionRequest] = [
        posting(rng, accounts, ids, hot=False) for _ in range(size)
    ]
    return ledger_pb2.CreateTransactionsRequest(
        requests=items, mode=ledger_pb2.BATCH_MODE_INDEPENDENT
    )
