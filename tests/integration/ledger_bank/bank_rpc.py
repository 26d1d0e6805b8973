"""Client side of the bank test: a swappable endpoint, retries until a definite answer.

A request is retried with the SAME message (so the same request_id) on
UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED, which the ledger documents as safe
to retry, until the ledger gives a definite answer: a response or any other
status. An acknowledged write is therefore applied exactly once, or the
ledger's idempotency is broken, which is what the checks look for.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from paymesh.common.v1.money_pb2 import Money
from paymesh.ledger.v1 import ledger_pb2 as pb
from paymesh.ledger.v1 import ledger_pb2_grpc

RETRYABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
)
ATTEMPT_TIMEOUT_S = 5.0
GIVE_UP_AFTER_S = 120.0
CURRENCY = "USD"

# A leg as the client knows it: (account id, pb.Direction, minor units).
Leg = tuple[str, "pb.Direction.ValueType", int]


class Refused(Exception):
    """The ledger gave a definite non-OK answer."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(f"{code.name} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


class NoDefiniteAnswer(AssertionError):
    """Retries went on for GIVE_UP_AFTER_S without a definite answer."""


@dataclass
class CallStats:
    """Transport-level counters shared by every client."""

    calls: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    retried_requests: int = 0
    kill_times: list[float] = field(default_factory=list)
    in_doubt_writes: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Answer:
    """A definite OK answer, how many attempts it took, and when the first was sent."""

    response: Any
    attempts: int
    first_sent_at: float


class LedgerEndpoint:
    """The ledger address clients use now; a restart points it at the new process."""

    def __init__(self) -> None:
        self._channels: list[grpc.aio.Channel] = []
        self._stub: ledger_pb2_grpc.LedgerServiceStub | None = None
        self.address = ""

    def point_at(self, address: str) -> None:
        """Open a channel to address; later calls use it (old channels stay until close)."""
        channel = grpc.aio.insecure_channel(address)
        self._channels.append(channel)
        self._stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        self.address = address

    @property
    def stub(self) -> ledger_pb2_grpc.LedgerServiceStub:
        """The stub of the current process."""
        if self._stub is None:
            raise RuntimeError("the endpoint points nowhere yet")
        return self._stub

    async def close(self) -> None:
        """Close every channel ever opened."""
        for channel in self._channels:
            await channel.close()
        self._channels.clear()


def reason_of(error: grpc.aio.AioRpcError) -> str:
    """The google.rpc.ErrorInfo reason carried in the status details, or ''."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return info.reason
    return ""


def a_backoff_for(attempt: int) -> float:
    """Jittered exponential backoff, 10 ms up to 0.4 s."""
    return float(min(0.4, 0.01 * 2**attempt) * (0.5 + random.random()))


async def call_until_definite(
    endpoint: LedgerEndpoint, method: str, request: Message, stats: CallStats
) -> Any:
    """Call method with request until the ledger answers definitely; Refused on non-OK."""
    return (await answer_until_definite(endpoint, method, request, stats)).response


async def answer_until_definite(
    endpoint: LedgerEndpoint, method: str, request: Message, stats: CallStats
) -> Answer:
    """call_until_definite, also telling how many attempts the answer took."""
    give_up_at = time.monotonic() + GIVE_UP_AFTER_S
    first_sent_at = time.time()
    stats.calls += 1
    for attempt in range(1_000_000):
        try:
            reply = await getattr(endpoint.stub, method)(request, timeout=ATTEMPT_TIMEOUT_S)
            return Answer(reply, attempt + 1, first_sent_at)
        except grpc.aio.AioRpcError as error:
            if error.code() not in RETRYABLE_CODES:
                raise Refused(error.code(), reason_of(error), error.details() or "") from None
            count_the_retry(stats, error, attempt)
            if time.monotonic() > give_up_at:
                raise NoDefiniteAnswer(f"{method}: still {error.code().name}") from error
            await asyncio.sleep(a_backoff_for(attempt))
    raise NoDefiniteAnswer(method)


def count_the_retry(stats: CallStats, error: grpc.aio.AioRpcError, attempt: int) -> None:
    """Count one retry by status code, and the request once on its first retry."""
    stats.retries[error.code().name] += 1
    if attempt == 0:
        stats.retried_requests += 1


def classify_an_in_doubt_write(stats: CallStats, answer: Answer, effect_time: float) -> None:
    """For a write that needed retries: did a kill cut off its acknowledgement?

    effect_time is when the ledger says the write took effect (create or resolve
    time). Before a kill that happened after the first send: the first attempt
    committed, the answer was lost, and the retry was answered by replay.
    """
    if answer.attempts == 1:
        return
    kills = [k for k in stats.kill_times if k >= answer.first_sent_at]
    if kills and effect_time < kills[0]:
        stats.in_doubt_writes["committed_before_the_kill_then_replayed"] += 1
    else:
        stats.in_doubt_writes["applied_on_a_later_attempt"] += 1


def a_new_request_id() -> str:
    """A request_id never used before."""
    return f"bank-{uuid.uuid4().hex}"


def usd(minor_units: int) -> Money:
    """Money in the bank's currency."""
    return Money(currency_code=CURRENCY, minor_units=minor_units)


def transaction_of(legs: list[Leg], description: str) -> pb.Transaction:
    """A Transaction message with one entry per leg."""
    entries = [pb.Entry(account_id=a, direction=d, amount=usd(n)) for a, d, n in legs]
    return pb.Transaction(entries=entries, description=description)


def legs_of(entries: Any) -> list[Leg]:
    """The legs of repeated Entry messages."""
    return [(e.account_id, e.direction, int(e.amount.minor_units)) for e in entries]


def mirrored(legs: list[Leg]) -> list[Leg]:
    """The legs of a reversal: every direction flipped."""
    flip = {pb.DIRECTION_DEBIT: pb.DIRECTION_CREDIT, pb.DIRECTION_CREDIT: pb.DIRECTION_DEBIT}
    return [(a, flip[d], n) for a, d, n in legs]


def with_amount(legs: list[Leg], amount: int) -> list[Leg]:
    """A two-leg hold's legs posted partially: every leg carries amount."""
    return [(a, d, amount) for a, d, _ in legs]
