"""Rounds of 50 concurrent identical requests (one request_id): each round acts once.

The rounds cycle through create (posted), create (pending), post and reverse,
so every write path's idempotency is raced: duplicates that land in the same
group commit and duplicates that land in later ones. After each round the
source account's posted balance and pending debits must have moved exactly
once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from paymesh.ledger.v1 import ledger_pb2 as pb
from tests.integration.ledger_bank.bank_model import History
from tests.integration.ledger_bank.bank_rpc import (
    CallStats,
    LedgerEndpoint,
    Leg,
    Refused,
    a_new_request_id,
    call_until_definite,
    mirrored,
    transaction_of,
)

DUPLICATES = 50
ROUND_KINDS = ("create", "hold", "post", "reverse")
DEBIT, CREDIT = pb.DIRECTION_DEBIT, pb.DIRECTION_CREDIT


@dataclass
class DuplicateRounds:
    """State between rounds: the last hold and the last posted transaction."""

    endpoint: LedgerEndpoint
    history: History
    stats: CallStats
    rng: random.Random
    rounds: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    hold: tuple[str, list[Leg]] | None = None
    posted: tuple[str, list[Leg]] | None = None
    new_legs: list[Leg] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.history.bank.customers[0]

    @property
    def target(self) -> str:
        return self.history.bank.customers[1]

    async def one_round(self, kind: str) -> None:
        """Send 50 identical requests of this kind; check one result and one movement."""
        before = await self.source_position()
        request, method, moves = self.a_request_for(kind)
        results = await self.send_identical_copies(method, request)
        ids = {r.id for r in results if isinstance(r, pb.Transaction)}
        refusals = [str(r) for r in results if isinstance(r, Refused)]
        self.rounds[kind] += 1
        if refusals or len(ids) != 1:
            self.problems.append(
                f"{kind} {request.request_id}: ids {sorted(ids)}, refusals {refusals[:3]}"
            )
            return
        self.record(kind, results[0])
        await self.check_moved_once(kind, request.request_id, before, moves)

    def a_request_for(self, kind: str) -> tuple[Any, str, tuple[int, int]]:
        """(request, method, (posted delta, pending debits delta) on the source)."""
        amount = self.rng.randint(1, 100)
        legs: list[Leg] = [(self.source, DEBIT, amount), (self.target, CREDIT, amount)]
        rid = a_new_request_id()
        if kind in ("create", "hold"):
            tx = transaction_of(legs, f"duplicate {kind}")
            request: Any = pb.CreateTransactionRequest(
                transaction=tx, pending=kind == "hold", request_id=rid
            )
            self.new_legs = legs
            return request, "CreateTransaction", (0, amount) if kind == "hold" else (-amount, 0)
        if kind == "post":
            assert self.hold is not None
            held = self.hold[1][0][2]
            request = pb.PostTransactionRequest(transaction_id=self.hold[0], request_id=rid)
            return request, "PostTransaction", (-held, -held)
        assert self.posted is not None
        reversed_amount = self.posted[1][0][2]
        request = pb.ReverseTransactionRequest(transaction_id=self.posted[0], request_id=rid)
        return request, "ReverseTransaction", (reversed_amount, 0)

    async def send_identical_copies(self, method: str, request: Any) -> list[Any]:
        async def send() -> pb.Transaction | Refused:
            try:
                reply = await call_until_definite(self.endpoint, method, request, self.stats)
            except Refused as refused:
                return refused
            tx: pb.Transaction = reply.transaction
            return tx

        return list(await asyncio.gather(*(send() for _ in range(DUPLICATES))))

    def record(self, kind: str, tx: pb.Transaction) -> None:
        """Keep the clients' model (for the final count) and the state for later rounds."""
        if kind in ("create", "hold"):
            self.history.record_creation(tx, self.new_legs, has_timeout=False)
            if kind == "create":
                self.posted = (tx.id, self.new_legs)
            else:
                self.hold = (tx.id, self.new_legs)
        elif kind == "post":
            assert self.hold is not None
            self.history.record_resolution(tx, self.hold[1])
            self.posted, self.hold = self.hold, None
        else:
            assert self.posted is not None
            self.history.record_creation(tx, mirrored(self.posted[1]), has_timeout=False)
            self.history.record_reversal(self.posted[0], tx.id)
            self.posted = None

    async def source_position(self) -> tuple[int, int]:
        """The source account's (posted balance, pending debits)."""
        request = pb.GetBalanceRequest(account_id=self.source)
        reply = await call_until_definite(self.endpoint, "GetBalance", request, self.stats)
        b = reply.balance
        return b.posted.minor_units, b.pending_debits.minor_units

    async def check_moved_once(
        self, kind: str, request_id: str, before: tuple[int, int], moves: tuple[int, int]
    ) -> None:
        after = await self.source_position()
        moved = (after[0] - before[0], after[1] - before[1])
        if moved != moves:
            self.problems.append(
                f"{kind} {request_id}: source (posted, pending debits) moved {moved},"
                f" one application moves {moves}"
            )

    def next_kind(self) -> str:
        """create, hold, post, reverse, ... (post and reverse only when there is a target)."""
        kind = ROUND_KINDS[sum(self.rounds.values()) % len(ROUND_KINDS)]
        if kind == "post" and self.hold is None:
            return "hold"
        if kind == "reverse" and self.posted is None:
            return "create"
        return kind
