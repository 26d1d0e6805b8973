"""The real PostingEngine, flush after flush, against a deliberately simple model.

Hypothesis drives random commands (ledger.md "Hypothesis stateful testing").
The model is plain dicts of four integers per account, a status per
transaction and a map of request ids. It restates the rules in the fewest
words and shares no code with the engine. Each flush builds a fresh engine
from what the fake storage persisted, so state only carries over through the
engine's effects, as in production. The model, and the machinery that runs
and draws commands, are in ledger_model.py; this module holds the rules and
the invariants.

After every step: the model and the stored totals agree, each currency sums
to zero, no flagged account breaks its limit, the journal is gap-free and
chained, totals can be rebuilt from the written entries, and every refused
command left the engine exactly as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from ledger_svc.domain import chain
from ledger_svc.domain.commands import Command, CreateTx, PostTx
from ledger_svc.domain.errors import LedgerError
from ledger_svc.domain.model import AccountType
from tests.unit.ledger.ledger_model import (
    CH,
    CP,
    CREDIT_LIMIT,
    DEBIT_LIMIT,
    DH,
    DP,
    MAX_ACCOUNTS,
    NO_FLAG,
    ModelledLedger,
    Plan,
    Refusal,
    attempt,
)
from tests.unit.ledger.support import account, snapshot


class LedgerMachine(ModelledLedger):
    """Random commands, flush after flush; the invariants hold after every step."""

    # -- rules ---------------------------------------------------------------------------

    def open_one(self, data: st.DataObject, currency: str, *, may_flag: bool = True) -> None:
        acct_id = f"acc{len(self.m.currency) + 1}"
        type_ = data.draw(st.sampled_from(AccountType), label="type")
        flag = data.draw(st.sampled_from([NO_FLAG, DEBIT_LIMIT, CREDIT_LIMIT])) if may_flag else ""
        self.store.open(
            account(
                acct_id,
                type_,
                currency,
                debits_must_not_exceed_credits=flag == DEBIT_LIMIT,
                credits_must_not_exceed_debits=flag == CREDIT_LIMIT,
            )
        )
        self.m.totals[acct_id] = [0, 0, 0, 0]
        self.m.currency[acct_id] = currency
        self.m.debit_normal[acct_id] = type_ in (AccountType.ASSET, AccountType.EXPENSE)
        self.m.flag[acct_id] = flag

    @initialize(data=st.data())
    def open_four_accounts(self, data: st.DataObject) -> None:
        two = data.draw(st.booleans(), label="two currencies")
        for currency in ("USD", "EUR" if two else "USD"):
            self.open_one(data, currency, may_flag=False)
            self.open_one(data, currency)

    @precondition(lambda self: len(self.m.currency) < MAX_ACCOUNTS)
    @rule(data=st.data())
    def open_account(self, data: st.DataObject) -> None:
        self.open_one(data, data.draw(st.sampled_from(sorted(set(self.m.currency.values())))))

    @precondition(lambda self: len(self.m.closed) < 2)
    @rule(data=st.data())
    def close_account(self, data: st.DataObject) -> None:
        acct = data.draw(st.sampled_from(sorted(set(self.m.currency) - self.m.closed)))
        self.store.close(acct)
        self.m.closed.add(acct)

    @rule(seconds=st.integers(1, 60))
    def advance_clock(self, seconds: int) -> None:
        self.store.advance(seconds)

    @rule(data=st.data())
    def create_transaction(self, data: st.DataObject) -> None:
        self.flush(self.gen_create(data))

    @rule(data=st.data())
    def post_transaction(self, data: st.DataObject) -> None:
        self.flush(self.gen_post(data) if self.m.txs else self.gen_create(data))

    @rule(data=st.data())
    def void_transaction(self, data: st.DataObject) -> None:
        self.store.advance(data.draw(st.sampled_from([0, 0, 10, 30]), label="seconds later"))
        self.flush(self.gen_void(data) if self.m.txs else self.gen_create(data))

    @rule(data=st.data())
    def expire_transaction(self, data: st.DataObject) -> None:
        # The sweeper runs later: let some holds fall due first.
        self.store.advance(data.draw(st.integers(0, 60), label="seconds later"))
        self.flush(self.gen_expire(data) if self.m.txs else self.gen_create(data))

    @rule(data=st.data())
    def reverse_transaction(self, data: st.DataObject) -> None:
        self.flush(self.gen_reverse(data) if self.m.txs else self.gen_create(data))

    @precondition(lambda self: self.m.requests)
    @rule(data=st.data())
    def replay_a_request(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(sorted(self.m.requests)))
        self.flush(self.m.requests[rid][0])

    @precondition(lambda self: self.m.requests)
    @rule(data=st.data())
    def reuse_a_request_id_with_other_content(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(sorted(self.m.requests)))
        stored = self.m.requests[rid][0]
        changed: Command
        if isinstance(stored, CreateTx):
            changed, expected_field = (
                CreateTx(replace(stored.tx, description="changed"), request_id=rid),
                "transaction.description",
            )
        elif isinstance(stored, PostTx):
            other = 1 if stored.amount is None else stored.amount + 1
            changed, expected_field = (
                PostTx(stored.transaction_id, other, rid),
                "amount_minor_units",
            )
        else:
            changed, expected_field = PostTx(stored.transaction_id, request_id=rid), "method"
        self.flush(changed, reused_field=expected_field)

    @rule(data=st.data(), kinds=st.lists(st.sampled_from("cpvre"), min_size=2, max_size=4))
    def several_commands_in_one_flush(self, data: st.DataObject, kinds: list[str]) -> None:
        gens: dict[str, Callable[[st.DataObject], Command]] = {
            "p": self.gen_post,
            "v": self.gen_void,
            "r": self.gen_reverse,
            "e": self.gen_expire,
        }
        engine = self.store.engine()
        for kind in kinds:
            # Commands are drawn one at a time so later ones can target earlier results.
            gen = gens.get(kind) if self.m.txs else None
            self.execute(engine, (gen or self.gen_create)(data))
        self.persist(engine)

    @rule(data=st.data(), size=st.integers(2, 3))
    def an_atomic_group_of_creates(self, data: st.DataObject, size: int) -> None:
        cmds = [self.gen_create(data) for _ in range(size)]
        engine = self.store.engine()
        before, saved_totals = snapshot(engine), copy.deepcopy(self.m.totals)
        plans: list[Plan] = []
        refused: tuple[int, type[LedgerError]] | None = None
        for index, cmd in enumerate(cmds):
            expected = self.expect(cmd)
            if isinstance(expected, Refusal):
                refused = (index, expected.error)
                break
            plans.append(expected)
            self.m.totals.update(expected.totals)
        results, exc = attempt(lambda: engine.apply_atomically(cmds))
        if exc is not None:
            self.m.totals = saved_totals
            assert refused is not None, f"model accepts the group, engine refused: {exc!r}"
            assert (type(exc), exc.metadata["index"]) == (refused[1], str(refused[0]))
            assert snapshot(engine) == before, "a refused group changed the engine"
            return
        assert results is not None
        assert refused is None, f"model refuses item {refused}, engine accepted the group"
        assert len(engine.effects.journal) == size
        for cmd, plan, tx in zip(cmds, plans, results, strict=True):
            plan.finish(tx)
            if cmd.request_id:
                self.m.requests[cmd.request_id] = (cmd, tx.id)
        self.m.events += size
        self.persist(engine)

    # -- invariants ------------------------------------------------------------------------------

    def stored_totals(self, acct: str) -> list[int]:
        t = self.store.accounts[acct].totals
        return [t.debits_posted, t.credits_posted, t.debits_pending, t.credits_pending]

    @invariant()
    def model_and_engine_totals_agree_for_every_account(self) -> None:
        for acct in self.m.totals:
            assert self.stored_totals(acct) == self.m.totals[acct], acct

    @invariant()
    def every_currency_sums_to_zero_posted_and_pending(self) -> None:
        sums: dict[str, list[int]] = {}
        for acct, cur in self.m.currency.items():
            s = sums.setdefault(cur, [0, 0, 0, 0])
            for i, v in enumerate(self.stored_totals(acct)):
                s[i] += v
        for cur, (dp, cp, dh, ch) in sums.items():
            assert dp == cp, f"{cur} posted debits {dp} != credits {cp}"
            assert dh == ch, f"{cur} pending debits {dh} != credits {ch}"

    @invariant()
    def no_flagged_account_breaks_its_limit(self) -> None:
        for acct, flag in self.m.flag.items():
            dp, cp, dh, ch = self.stored_totals(acct)
            if flag == DEBIT_LIMIT:
                assert dp + dh <= cp, acct
            if flag == CREDIT_LIMIT:
                assert cp + ch <= dp, acct

    @invariant()
    def the_journal_is_gap_free_and_chained(self) -> None:
        journal = self.store.journal
        assert [e.sequence for e in journal] == list(range(1, len(journal) + 1))
        assert len(journal) == self.m.events
        hashes = [chain.GENESIS_HASH] + [e.hash for e in journal]
        for prev_hash, journal_event in zip(hashes, journal, strict=False):
            assert journal_event.prev_hash == prev_hash, journal_event.sequence
        assert self.store.head.sequence == len(journal)
        if journal:
            assert self.store.head.hash == journal[-1].hash

    @invariant()
    def totals_rebuild_from_the_written_entries(self) -> None:
        rebuilt = {acct: [0, 0, 0, 0] for acct in self.m.totals}
        last_balance: dict[str, int | None] = {}
        for row in self.store.entries:
            acct, is_debit = row.spec.account_id, row.spec.direction.value == "DEBIT"
            if row.pending:
                if self.m.txs[row.transaction_id].status == "PENDING":
                    rebuilt[acct][DH if is_debit else CH] += row.spec.amount
            else:
                rebuilt[acct][DP if is_debit else CP] += row.spec.amount
                last_balance[acct] = row.balance_after
        for acct, totals in rebuilt.items():
            assert totals == self.m.totals[acct], acct
            sign = 1 if self.m.debit_normal[acct] else -1
            posted = sign * (totals[DP] - totals[CP])
            assert last_balance.get(acct, 0) == posted, acct

    @invariant()
    def transaction_statuses_agree_with_the_model(self) -> None:
        assert set(self.store.transactions) == set(self.m.txs)
        for tx_id, mtx in self.m.txs.items():
            tx = self.store.transactions[tx_id]
            assert tx.status.value == mtx.status, tx_id
            assert (tx.reversed_by_id is not None) == mtx.reversed, tx_id


LedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    # No example database: unit tests do no I/O.
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestThePostingEngineAgreesWithASimpleModelAcrossManyFlushes = LedgerMachine.TestCase
