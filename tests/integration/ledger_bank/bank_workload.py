"""The bank's load: opening and funding accounts, the random clients, the monitor.

Money only moves between the customer accounts and the fees account after
the initial funding, so the LIABILITY side's net posted balance must stay
exactly the funded total, and the ASSET funding account must not move.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.duration_pb2 import Duration

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger_bank.bank_model import Bank, History, KnownTx, Replayable
from tests.integration.ledger_bank.bank_rpc import (
    CallStats,
    LedgerEndpoint,
    Leg,
    Refused,
    a_new_request_id,
    answer_until_definite,
    call_until_definite,
    classify_an_in_doubt_write,
    legs_of,
    mirrored,
    transaction_of,
    with_amount,
)

EXPECTED_REFUSALS = frozenset(
    {
        "LIMIT_EXCEEDED",
        "TRANSACTION_NOT_PENDING",
        "PENDING_EXPIRED",
        "TRANSACTION_ALREADY_REVERSED",
        "TRANSACTION_NOT_REVERSIBLE",
    }
)
CUSTOMERS = 8
FUNDED_PER_CUSTOMER = 10_000
HOT_SHARE = 0.7
MAX_AMOUNT = 2_000
OPERATION_WEIGHTS = {
    "transfer": 35,
    "hold": 18,
    "resolve": 30,
    "reverse": 12,
    "replay": 6,
}
DEBIT, CREDIT = pb.DIRECTION_DEBIT, pb.DIRECTION_CREDIT


# -- setup -------------------------------------------------------------------


async def open_an_account(
    endpoint: LedgerEndpoint, stats: CallStats, code: str, kind: int, protected: bool
) -> str:
    """CreateAccount (retried with its request_id until definite); returns the id."""
    account = pb.Account(
        code=code,
        name=code,
        currency_code="USD",
        type=kind,  # type: ignore[arg-type]
        debits_must_not_exceed_credits=protected,
    )
    request = pb.CreateAccountRequest(account=account, request_id=a_new_request_id())
    reply = await call_until_definite(endpoint, "CreateAccount", request, stats)
    return str(reply.account.id)


async def open_and_fund_the_bank(
    endpoint: LedgerEndpoint, stats: CallStats
) -> tuple[Bank, History]:
    """Open the ten accounts and fund every customer from the ASSET account."""
    funding = await open_an_account(endpoint, stats, "bank/funding", pb.ACCOUNT_TYPE_ASSET, False)
    fees = await open_an_account(endpoint, stats, "bank/fees", pb.ACCOUNT_TYPE_LIABILITY, False)
    customers = [
        await open_an_account(
            endpoint, stats, f"bank/customer/{i}", pb.ACCOUNT_TYPE_LIABILITY, True
        )
        for i in range(CUSTOMERS)
    ]
    bank = Bank(funding, fees, tuple(customers), FUNDED_PER_CUSTOMER)
    history = History(bank)
    for customer in customers:
        await fund_a_customer(endpoint, stats, history, customer)
    return bank, history


async def fund_a_customer(
    endpoint: LedgerEndpoint, stats: CallStats, history: History, customer: str
) -> None:
    """Debit funding (ASSET), credit the customer: the only money ever created."""
    bank = history.bank
    legs: list[Leg] = [
        (bank.funding, DEBIT, bank.funded_per_customer),
        (customer, CREDIT, bank.funded_per_customer),
    ]
    request = pb.CreateTransactionRequest(
        transaction=transaction_of(legs, "funding"), request_id=a_new_request_id()
    )
    reply = await call_until_definite(endpoint, "CreateTransaction", request, stats)
    history.record_creation(reply.transaction, legs, has_timeout=False)


# -- the clients -------------------------------------------------------------


@dataclass
class BankClient:
    """One of the concurrent clients: random operations until told to stop."""

    endpoint: LedgerEndpoint
    history: History
    stats: CallStats
    rng: random.Random

    @property
    def bank(self) -> Bank:
        return self.history.bank

    async def run_until(self, stop_at: float) -> None:
        """Issue operations one after another; the last one still gets its definite answer."""
        while time.monotonic() < stop_at:
            await self.one_random_operation()

    async def one_random_operation(self) -> None:
        kinds = list(OPERATION_WEIGHTS)
        kind = self.rng.choices(kinds, weights=list(OPERATION_WEIGHTS.values()))[0]
        await getattr(self, kind)()

    # -- operations --------------------------------------------------------

    async def transfer(self) -> None:
        """A posted transfer between two customers, sometimes with a fee leg."""
        legs = self.transfer_legs(with_fee=self.rng.random() < 0.2)
        request = pb.CreateTransactionRequest(
            transaction=transaction_of(legs, "transfer"), request_id=a_new_request_id()
        )
        tx = await self.write("transfer", "CreateTransaction", request)
        if tx is not None:
            self.history.record_creation(tx, legs, has_timeout=False)
            self.check_legs("transfer", tx.id, legs_of(tx.posted_entries), legs)
            self.history.reversible.append(tx.id)
            self.remember(request, "CreateTransaction", tx.id, legs)

    async def hold(self) -> None:
        """A pending transfer; some time out in 1-2 s, some are left to expire."""
        legs = self.transfer_legs(with_fee=self.rng.random() < 0.1)
        timeout = self.rng.choice([None, 1, 2])
        request = pb.CreateTransactionRequest(
            transaction=transaction_of(legs, "hold"), pending=True, request_id=a_new_request_id()
        )
        if timeout is not None:
            request.pending_timeout.CopyFrom(Duration(seconds=timeout))
        tx = await self.write("hold", "CreateTransaction", request)
        if tx is None:
            return
        self.history.record_creation(tx, legs, has_timeout=timeout is not None)
        self.remember(request, "CreateTransaction", tx.id, legs)
        left_to_expire = timeout is not None and self.rng.random() < 0.3
        if not left_to_expire:
            self.history.open_holds.append(tx.id)

    async def resolve(self) -> None:
        """Post in full, post partially or void an open hold (sometimes racing a rival)."""
        rival = self.rng.random() < 0.1
        hold_id = self.history.take_an_open_hold(self.rng, leave_it_for_a_rival=rival)
        if hold_id is None:
            return await self.transfer()
        known = self.history.txs[hold_id]
        choice = self.rng.random()
        if choice < 0.25:
            return await self.void(known)
        partial = choice < 0.55 and len(known.legs) == 2
        amount = self.rng.randint(1, known.legs[0][2]) if partial else None
        return await self.post(known, amount)

    async def post(self, known: KnownTx, amount: int | None) -> None:
        request = pb.PostTransactionRequest(
            transaction_id=known.tx_id, request_id=a_new_request_id()
        )
        if amount is not None:
            request.amount_minor_units = amount
        op = "post_partial" if amount is not None else "post_full"
        tx = await self.write(op, "PostTransaction", request)
        if tx is None:
            return
        posted = known.legs if amount is None else with_amount(known.legs, amount)
        self.check_legs(op, tx.id, legs_of(tx.posted_entries), posted)
        self.history.record_resolution(tx, posted)
        self.history.reversible.append(tx.id)
        self.remember(request, "PostTransaction", tx.id, known.legs)

    async def void(self, known: KnownTx) -> None:
        request = pb.VoidTransactionRequest(
            transaction_id=known.tx_id, request_id=a_new_request_id()
        )
        tx = await self.write("void", "VoidTransaction", request)
        if tx is not None:
            self.history.record_resolution(tx, [])
            self.remember(request, "VoidTransaction", tx.id, known.legs)

    async def reverse(self) -> None:
        """Reverse an earlier posted transfer (or, rarely, a reversal: must be refused)."""
        original_id = self.history.pick_a_transaction_to_reverse(self.rng)
        if original_id is None:
            return await self.transfer()
        request = pb.ReverseTransactionRequest(
            transaction_id=original_id, request_id=a_new_request_id()
        )
        tx = await self.write("reverse", "ReverseTransaction", request)
        if tx is None:
            return
        legs = mirrored(self.history.txs[original_id].posted_legs or [])
        self.check_legs("reverse", tx.id, legs_of(tx.entries), legs)
        self.history.record_creation(tx, legs, has_timeout=False)
        self.history.record_reversal(original_id, tx.id)
        self.history.reversals.append(tx.id)
        self.remember(request, "ReverseTransaction", tx.id, legs)

    async def replay(self) -> None:
        """Send an acknowledged request again, same request_id: same transaction back."""
        if not self.history.replayable:
            return await self.transfer()
        earlier = self.rng.choice(self.history.replayable)
        self.history.ops["replay"] += 1
        try:
            reply = await call_until_definite(
                self.endpoint, earlier.method, earlier.request, self.stats
            )
        except Refused as refused:
            return self.history.violate(
                f"replay of {earlier.method} {earlier.request.request_id} (was {earlier.tx_id})"
                f" refused: {refused}"
            )
        self.check_replay(earlier, reply.transaction)

    # -- helpers -----------------------------------------------------------

    def check_replay(self, earlier: Replayable, tx: pb.Transaction) -> None:
        if tx.id != earlier.tx_id:
            self.history.violate(
                f"replay of {earlier.method} {earlier.request.request_id} returned {tx.id},"
                f" first answer was {earlier.tx_id}"
            )
            return
        if earlier.method == "CreateTransaction":
            self.check_legs("replay", tx.id, legs_of(tx.entries), earlier.legs)
        self.history.record_status_seen(tx.id, tx.status)

    async def write(self, op: str, method: str, request: Any) -> pb.Transaction | None:
        """One write until definite: the transaction, or None for an expected refusal."""
        self.history.ops[op] += 1
        try:
            answer = await answer_until_definite(self.endpoint, method, request, self.stats)
        except Refused as refused:
            if refused.reason not in EXPECTED_REFUSALS:
                self.history.violate(f"{op} {request.request_id}: unexpected {refused}")
            self.history.refusals[refused.reason or refused.code.name] += 1
            return None
        self.history.ops[f"{op}_ok"] += 1
        tx: pb.Transaction = answer.response.transaction
        classify_an_in_doubt_write(self.stats, answer, when_it_took_effect(method, tx))
        return tx

    def transfer_legs(self, *, with_fee: bool) -> list[Leg]:
        source, target = self.two_distinct_customers()
        amount = self.rng.randint(1, MAX_AMOUNT)
        fee = self.rng.randint(1, 5) if with_fee else 0
        legs: list[Leg] = [(source, DEBIT, amount + fee), (target, CREDIT, amount)]
        if fee:
            legs.append((self.bank.fees, CREDIT, fee))
        return legs

    def two_distinct_customers(self) -> tuple[str, str]:
        first = self.a_customer_biased_to_the_hot_ones()
        second = first
        while second == first:
            second = self.a_customer_biased_to_the_hot_ones()
        return first, second

    def a_customer_biased_to_the_hot_ones(self) -> str:
        pool = self.bank.hot if self.rng.random() < HOT_SHARE else self.bank.cold
        return self.rng.choice(pool)

    def check_legs(self, op: str, tx_id: str, got: list[Leg], want: list[Leg]) -> None:
        if sorted(got) != sorted(want):
            self.history.violate(f"{op} {tx_id}: ledger entries {got}, client sent {want}")

    def remember(self, request: Any, method: str, tx_id: str, legs: list[Leg]) -> None:
        self.history.remember_for_replay(Replayable(method, request, tx_id, legs), self.rng)


def when_it_took_effect(method: str, tx: pb.Transaction) -> float:
    """The ledger's own time of the write: resolve time for post/void, else create time."""
    stamp = tx.resolve_time if method in ("PostTransaction", "VoidTransaction") else tx.create_time
    return stamp.seconds + stamp.nanos / 1e9


# -- the monitor -------------------------------------------------------------


@dataclass
class Monitor:
    """Polls every protected balance and the trial balance every ~50 ms."""

    endpoint: LedgerEndpoint
    bank: Bank
    interval_s: float = 0.05
    polls: int = 0
    balance_reads: int = 0
    unavailable: int = 0
    negatives: list[str] = field(default_factory=list)
    conservation_breaks: list[str] = field(default_factory=list)

    async def run_until_stopped(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:  # noqa: BLE001 - a dead or restarting ledger: poll again
                self.unavailable += 1
            await asyncio.sleep(self.interval_s)

    async def poll_once(self) -> None:
        stub: Any = self.endpoint.stub
        reads = [
            stub.GetBalance(pb.GetBalanceRequest(account_id=a), timeout=2.0)
            for a in self.bank.customers
        ]
        replies = await asyncio.gather(*reads, stub.GetTrialBalance(pb.GetTrialBalanceRequest()))
        self.polls += 1
        for reply in replies[:-1]:
            self.balance_reads += 1
            self.note_a_negative_balance(reply.balance)
        self.note_a_conservation_break(replies[-1])

    def note_a_negative_balance(self, balance: pb.Balance) -> None:
        posted, available = balance.posted.minor_units, balance.available.minor_units
        if posted < 0 or available < 0:
            self.negatives.append(
                f"t={time.monotonic():.3f} {balance.account_id}"
                f" posted={posted} available={available}"
            )

    def note_a_conservation_break(self, trial: pb.GetTrialBalanceResponse) -> None:
        for problem in conservation_problems(trial, self.bank):
            self.conservation_breaks.append(f"t={time.monotonic():.3f} {problem}")


def conservation_problems(trial: pb.GetTrialBalanceResponse, bank: Bank) -> list[str]:
    """What is wrong with a trial balance snapshot, given the money is only ever moved."""
    usd = next((c for c in trial.currencies if c.currency_code == "USD"), None)
    if usd is None:
        return ["no USD trial balance"]
    problems = [] if usd.balanced else [f"USD trial balance not balanced: {usd}"]
    net = {t.type: t.posted.credits.minor_units - t.posted.debits.minor_units for t in usd.by_type}
    liabilities, assets = net.get(pb.ACCOUNT_TYPE_LIABILITY, 0), -net.get(pb.ACCOUNT_TYPE_ASSET, 0)
    if liabilities != bank.funded_total or assets != bank.funded_total:
        problems.append(
            f"money not conserved: LIABILITY net {liabilities}, ASSET net {assets},"
            f" funded {bank.funded_total}"
        )
    return problems
