"""The audit-append bench's clients: gateway-shaped events, RecordAuditEvents calls, a tally.

Each client keeps one call in flight: it builds a request of ``batch`` events never sent
before (a template copied, then its id and target set, so the client spends little of the
CPU it shares with the server), calls, and tallies. ``running`` starts the clients (and a
line of progress each second) and stops them on the way out.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import grpc.aio
from google.protobuf.timestamp_pb2 import Timestamp

from paymesh.identity.v1 import audit_pb2, audit_pb2_grpc
from paymesh.identity.v1 import identity_pb2 as pb

_GIVE_UP_AFTER_FAILURES = 20


@dataclass
class Tally:
    """What the clients saw; only calls that ended inside the measured window count."""

    measuring: bool = False
    calls: int = 0
    events: int = 0
    appended: int = 0
    """Every event acknowledged, warm-up included: what the chain must hold at the end."""
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class Events:
    """New events shaped like the gateway's payment records, each event id used once."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:10]
        self._counter = itertools.count()
        when = Timestamp()
        when.FromDatetime(datetime.now(UTC))
        self._template = audit_pb2.NewAuditEvent(
            event_time=when,
            actor=pb.Actor(kind="api_key", id="KbenchKey0123456", merchant_id="mer_bench"),
            action="gateway.payment.create",
            merchant_id="mer_bench",
            outcome=pb.AUDIT_OUTCOME_SUCCESS,
            request_id="req-bench-0123456789abcdef",
            details={"amount_minor": "1050", "currency": "USD", "provider": "stripe",
                     "status": "CAPTURED"},
        )  # fmt: skip

    def request(self, batch: int) -> audit_pb2.RecordAuditEventsRequest:
        """A request of ``batch`` events never sent before."""
        request = audit_pb2.RecordAuditEventsRequest()
        for _ in range(batch):
            n = next(self._counter)
            event = request.events.add()
            event.CopyFrom(self._template)
            event.event_id = f"gwe_{self._prefix}_{n}"
            event.target = f"payments/pay_{self._prefix}{n:012d}"
        return request


async def _client(
    stub: audit_pb2_grpc.AuditServiceAsyncStub,
    events: Events,
    batch: int,
    tally: Tally,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        request = events.request(batch)
        started = time.perf_counter()
        try:
            await stub.RecordAuditEvents(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            tally.errors[exc.code().name] += 1
            if sum(tally.errors.values()) > _GIVE_UP_AFTER_FAILURES:
                raise RuntimeError(f"too many failed calls; last: {exc.details()}") from exc
            continue
        tally.appended += batch
        if tally.measuring:
            tally.calls += 1
            tally.events += batch
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)


async def _progress(tally: Tally, stop: asyncio.Event, batch: int, warmup_s: float) -> None:
    last, started = tally.appended, time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        if stop.is_set():
            return
        now, elapsed_s = tally.appended, time.monotonic() - started
        phase = "warm-up" if elapsed_s <= warmup_s + 0.5 else "measuring"
        print(f"    batch {batch:>3} {phase:>9} {elapsed_s:5.1f} s: "
              f"{now - last:>7,} events/s, {now:,} appended", flush=True)  # fmt: skip
        last = now


@asynccontextmanager
async def running(
    channel: grpc.aio.Channel, batch: int, clients: int, *, progress_warmup_s: float | None
) -> AsyncIterator[Tally]:
    """``clients`` clients calling with ``batch`` new events each, until the block ends; a
    line of progress each second unless ``progress_warmup_s`` is None (else the lines of
    its first seconds say "warm-up")."""
    stub = audit_pb2_grpc.AuditServiceStub(channel)
    events, tally, stop = Events(), Tally(), asyncio.Event()
    tasks = [asyncio.create_task(_client(stub, events, batch, tally, stop))
             for _ in range(clients)]  # fmt: skip
    if progress_warmup_s is not None:
        tasks.append(asyncio.create_task(_progress(tally, stop, batch, progress_warmup_s)))
    try:
        yield tally
    finally:
        stop.set()
        await asyncio.gather(*tasks)
