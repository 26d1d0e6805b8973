"""The model behind test_model_based.py, and the machine's plumbing around it.

``Model`` is plain dicts of four integers per account, a status per
transaction and a map of request ids. ``ModelledLedger`` restates the rules in
the fewest words (``expect``: what the model says a command does), runs
commands against the real PostingEngine and checks each against the model
(``execute``, ``flush``), and draws commands (the ``gen_*`` methods). It has
no rules of its own: ``LedgerMachine`` in test_model_based.py adds the
Hypothesis rules and invariants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine

from ledger_svc.domain.commands import Command, CreateTx, ExpireTx, PostTx, ReverseTx, VoidTx
from ledger_svc.domain.engine import PostingEngine
from ledger_svc.domain.errors import (
    AccountClosed,
    LedgerError,
    LimitExceeded,
    PendingExpired,
    PostAmountInvalid,
    RequestIdReused,
    TransactionAlreadyReversed,
    TransactionNotFound,
    TransactionNotPending,
    TransactionNotReversible,
)
from ledger_svc.domain.model import EntrySpec, NewTransaction, Transaction
from tests.unit.ledger.support import Store, credit, debit, snapshot

T = TypeVar("T")
# A model leg: (account id, is_debit, amount).
Leg = tuple[str, bool, int]
# Model totals: [debits_posted, credits_posted, debits_pending, credits_pending].
DP, CP, DH, CH = 0, 1, 2, 3
NO_FLAG, DEBIT_LIMIT, CREDIT_LIMIT = "", "debits<=credits", "credits<=debits"
MAX_ACCOUNTS = 6


@dataclass
class ModelTx:
    status: str
    legs: list[Leg]
    posted: list[Leg] = field(default_factory=list)
    expire_at: datetime | None = None
    is_reversal: bool = False
    reversed: bool = False


@dataclass
class Plan:
    """What the model says an accepted command does."""

    totals: dict[str, list[int]]
    events: int
    finish: Callable[[Transaction], None]


@dataclass
class Refusal:
    error: type[LedgerError]


@dataclass
class Model:
    totals: dict[str, list[int]] = field(default_factory=dict)
    currency: dict[str, str] = field(default_factory=dict)
    debit_normal: dict[str, bool] = field(default_factory=dict)
    flag: dict[str, str] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    txs: dict[str, ModelTx] = field(default_factory=dict)
    requests: dict[str, tuple[Command, str]] = field(default_factory=dict)
    events: int = 0


def legs_of(entries: Sequence[EntrySpec]) -> list[Leg]:
    return [(e.account_id, e.direction.value == "DEBIT", e.amount) for e in entries]


def without_request_id(cmd: Command) -> Command:
    return replace(cmd, request_id="")


def attempt(call: Callable[[], T]) -> tuple[T | None, LedgerError | None]:
    """The call's result, or the LedgerError it raised."""
    try:
        return call(), None
    except LedgerError as exc:
        return None, exc


class ModelledLedger(RuleBasedStateMachine):
    """The model, the engine under test, and the commands drawn against both."""

    def __init__(self) -> None:
        super().__init__()
        self.store = Store()
        self.m = Model()
        self.request_counter = 0

    # -- the model's rules -------------------------------------------------------

    def moved(self, *changes: tuple[list[Leg], bool, int]) -> dict[str, list[int]]:
        new: dict[str, list[int]] = {}
        for legs, pending, sign in changes:
            for acct, is_debit, amount in legs:
                t = new.setdefault(acct, list(self.m.totals[acct]))
                t[(DH if pending else DP) + (0 if is_debit else 1)] += sign * amount
        return new

    def breaks_limit(self, new: dict[str, list[int]]) -> bool:
        for acct, t in new.items():
            if self.m.flag[acct] == DEBIT_LIMIT and t[DP] + t[DH] > t[CP]:
                return True
            if self.m.flag[acct] == CREDIT_LIMIT and t[CP] + t[CH] > t[DP]:
                return True
        return False

    def expect(self, cmd: Command) -> Plan | Refusal:
        if cmd.request_id in self.m.requests:
            stored, result_id = self.m.requests[cmd.request_id]
            if without_request_id(stored) != without_request_id(cmd):
                return Refusal(RequestIdReused)
            return Plan({}, 0, lambda tx: self.check_same_id(tx, result_id))
        if isinstance(cmd, CreateTx):
            return self.expect_create(cmd)
        if isinstance(cmd, ReverseTx):
            return self.expect_reverse(cmd)
        mtx = self.m.txs.get(cmd.transaction_id)
        if mtx is None:
            return Refusal(TransactionNotFound)
        if isinstance(cmd, ExpireTx):
            return self.expect_expire(cmd.transaction_id, mtx)
        if mtx.status != "PENDING":
            return Refusal(TransactionNotPending)
        if mtx.expire_at is not None and mtx.expire_at <= self.store.now:
            return Refusal(PendingExpired)
        if isinstance(cmd, VoidTx):
            return self.resolve_plan(cmd.transaction_id, mtx, "VOIDED", [])
        posted = mtx.legs
        if cmd.amount is not None:
            if len(mtx.legs) != 2 or not 0 < cmd.amount <= mtx.legs[0][2]:
                return Refusal(PostAmountInvalid)
            posted = [(a, d, cmd.amount) for a, d, _ in mtx.legs]
        return self.resolve_plan(cmd.transaction_id, mtx, "POSTED", posted)

    def expect_create(self, cmd: CreateTx) -> Plan | Refusal:
        legs = legs_of(cmd.tx.entries)
        if any(acct in self.m.closed for acct, _, _ in legs):
            return Refusal(AccountClosed)
        new = self.moved((legs, cmd.tx.pending, 1))
        if self.breaks_limit(new):
            return Refusal(LimitExceeded)
        now, timeout = self.store.now, cmd.tx.pending_timeout_s
        expire_at = now + timedelta(seconds=timeout) if timeout is not None else None

        def finish(tx: Transaction) -> None:
            assert tx.status.value == ("PENDING" if cmd.tx.pending else "POSTED")
            assert tx.expire_time == expire_at
            status = "PENDING" if cmd.tx.pending else "POSTED"
            posted = [] if cmd.tx.pending else legs
            self.m.txs[tx.id] = ModelTx(status, legs, posted, expire_at)

        return Plan(new, 1, finish)

    def expect_expire(self, tx_id: str, mtx: ModelTx) -> Plan | Refusal:
        due = mtx.expire_at is not None and mtx.expire_at <= self.store.now
        if mtx.status != "PENDING" or not due:

            def unchanged(tx: Transaction) -> None:
                self.check_same_id(tx, tx_id)
                assert tx.status.value == mtx.status

            return Plan({}, 0, unchanged)
        return self.resolve_plan(tx_id, mtx, "EXPIRED", [])

    def resolve_plan(self, tx_id: str, mtx: ModelTx, status: str, posted: list[Leg]) -> Plan:
        new = self.moved((mtx.legs, True, -1), (posted, False, 1))
        assert not self.breaks_limit(new), "releasing a hold can never break a limit"

        def finish(tx: Transaction) -> None:
            self.check_same_id(tx, tx_id)
            assert tx.status.value == status
            assert legs_of(tx.posted_entries) == posted
            mtx.status, mtx.posted = status, posted

        return Plan(new, 1, finish)

    def expect_reverse(self, cmd: ReverseTx) -> Plan | Refusal:
        orig = self.m.txs.get(cmd.transaction_id)
        if orig is None:
            return Refusal(TransactionNotFound)
        if orig.status != "POSTED" or orig.is_reversal:
            return Refusal(TransactionNotReversible)
        if orig.reversed:
            return Refusal(TransactionAlreadyReversed)
        mirrored = [(a, not d, amount) for a, d, amount in orig.posted]
        if any(acct in self.m.closed for acct, _, _ in mirrored):
            return Refusal(AccountClosed)
        new = self.moved((mirrored, False, 1))
        if self.breaks_limit(new):
            return Refusal(LimitExceeded)

        def finish(tx: Transaction) -> None:
            assert tx.reverses_id == cmd.transaction_id
            assert legs_of(tx.entries) == mirrored
            orig.reversed = True
            self.m.txs[tx.id] = ModelTx("POSTED", mirrored, mirrored, None, is_reversal=True)

        return Plan(new, 1, finish)

    def check_same_id(self, tx: Transaction, tx_id: str) -> None:
        assert tx.id == tx_id

    # -- running commands against the real engine ----------------------------------

    def execute(self, engine: PostingEngine, cmd: Command, reused_field: str = "") -> None:
        """Apply one command; check it against the model and update the model."""
        expected = self.expect(cmd)
        before = snapshot(engine)
        tx, refused = attempt(lambda: engine.apply(cmd))
        if refused is not None:
            event(f"{type(cmd).__name__} refused: {type(refused).__name__}")
            assert isinstance(expected, Refusal), f"model accepts {cmd}, engine: {refused!r}"
            assert type(refused) is expected.error, f"{cmd}: expected {expected}, got {refused!r}"
            assert snapshot(engine) == before, "a refused command changed the engine"
            if reused_field:
                assert refused.metadata["field"] == reused_field
            return
        assert tx is not None
        assert isinstance(expected, Plan), f"model refuses {cmd} with {expected}, engine accepted"
        event(f"{type(cmd).__name__} accepted" + ("" if expected.events else " as a no-op/replay"))
        self.accept(engine, cmd, expected, tx, before)

    def accept(
        self,
        engine: PostingEngine,
        cmd: Command,
        plan: Plan,
        tx: Transaction,
        before: tuple[object, ...],
    ) -> None:
        after = snapshot(engine)
        journal_before, journal_after = before[4], after[4]
        assert isinstance(journal_before, list) and isinstance(journal_after, list)
        assert len(journal_after) - len(journal_before) == plan.events
        if plan.events == 0:
            # A replay or a no-op expiry: head, accounts, transactions and every
            # effect but the idempotency record stay as they were.
            assert after[:3] == before[:3]
            assert after[4:9] == before[4:9]
        plan.finish(tx)
        self.m.totals.update(plan.totals)
        self.m.events += plan.events
        if cmd.request_id and cmd.request_id not in self.m.requests:
            self.m.requests[cmd.request_id] = (cmd, tx.id)

    def flush(self, *cmds: Command, reused_field: str = "") -> None:
        engine = self.store.engine()
        for cmd in cmds:
            self.execute(engine, cmd, reused_field)
        self.persist(engine)

    def persist(self, engine: PostingEngine) -> None:
        self.store.persist(engine)
        # What storage wrote from the effects equals what the engine holds.
        assert self.store.head == engine.head
        assert all(self.store.accounts[a] == acct for a, acct in engine.accounts.items())
        assert self.store.transactions == engine.transactions
        assert self.store.remembered == engine.remembered

    # -- command generators ------------------------------------------------------------------

    def request_id(self, data: st.DataObject) -> str:
        if not data.draw(st.booleans(), label="with request_id"):
            return ""
        self.request_counter += 1
        return f"req-{self.request_counter}"

    def gen_create(self, data: st.DataObject) -> CreateTx:
        by_currency: dict[str, list[str]] = {}
        for acct in sorted(self.m.currency):
            by_currency.setdefault(self.m.currency[acct], []).append(acct)
        usable = sorted(c for c, accts in by_currency.items() if len(accts) >= 2)
        currencies = data.draw(
            st.lists(st.sampled_from(usable), min_size=1, max_size=2, unique=True)
        )
        entries: list[EntrySpec] = []
        for cur in currencies:
            accts = st.sampled_from(by_currency[cur])
            amount = data.draw(st.integers(1, 500), label="amount")
            debited, credited = data.draw(accts), data.draw(accts)
            if amount > 1 and data.draw(st.integers(0, 3), label="three legs") == 0:
                part = data.draw(st.integers(1, amount - 1))
                entries += [
                    debit(debited, amount, cur),
                    credit(credited, part, cur),
                    credit(data.draw(accts), amount - part, cur),
                ]
            else:
                entries += [debit(debited, amount, cur), credit(credited, amount, cur)]
        pending = data.draw(st.booleans(), label="pending")
        timeout = (
            data.draw(st.none() | st.integers(1, 30).map(float), label="timeout")
            if pending
            else None
        )
        tx = NewTransaction(entries=tuple(entries), pending=pending, pending_timeout_s=timeout)
        return CreateTx(tx, request_id=self.request_id(data))

    def pick_tx(self, data: st.DataObject, *, pending_only: bool) -> str:
        pending = sorted(i for i, t in self.m.txs.items() if t.status == "PENDING")
        due = [i for i in pending if (at := self.m.txs[i].expire_at) and at <= self.store.now]
        if pending_only and due and data.draw(st.booleans(), label="a due hold"):
            return data.draw(st.sampled_from(due), label="due tx")
        if pending_only and pending:
            return data.draw(st.sampled_from(pending), label="pending tx")
        if data.draw(st.integers(0, 19), label="unknown id") == 0:
            return "txn_missing"
        return data.draw(st.sampled_from(sorted(self.m.txs)), label="tx")

    def gen_post(self, data: st.DataObject) -> PostTx:
        tx_id = self.pick_tx(data, pending_only=self.pending_only(data))
        mtx = self.m.txs.get(tx_id)
        amount = None
        if mtx is not None and data.draw(st.booleans(), label="partial"):
            held = mtx.legs[0][2]
            # The bounds themselves are drawn often: 0 and held + 1 are refused, held is not.
            amounts = st.sampled_from([0, held, held + 1]) | st.integers(1, held)
            amount = data.draw(amounts, label="post amount")
        return PostTx(tx_id, amount=amount, request_id=self.request_id(data))

    def gen_void(self, data: st.DataObject) -> VoidTx:
        tx_id = self.pick_tx(data, pending_only=self.pending_only(data))
        return VoidTx(tx_id, request_id=self.request_id(data))

    def gen_reverse(self, data: st.DataObject) -> ReverseTx:
        tx_id = self.pick_tx(data, pending_only=False)
        return ReverseTx(tx_id, request_id=self.request_id(data))

    def gen_expire(self, data: st.DataObject) -> ExpireTx:
        return ExpireTx(self.pick_tx(data, pending_only=True))

    def pending_only(self, data: st.DataObject) -> bool:
        return data.draw(st.integers(0, 3), label="pending only") > 0
