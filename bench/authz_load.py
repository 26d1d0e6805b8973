"""The authz bench's client loop: concurrent Check calls shaped like Envoy's, timed.

Each client owns one CheckRequest and only rewrites its request id (and, for cold keys,
its Authorization header) between calls, so the load generator spends as little CPU as it
can on the machine it shares with the service. Outcomes are kept in ``bench.load``'s
``Recorder`` (a "posting" there is an allowed Check here).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import grpc.aio
from google.rpc import error_details_pb2, status_pb2

from bench import cpu, workload
from bench.load import Recorder
from paymesh.third_party.envoy import attribute_context_pb2, core_pb2, external_auth_pb2

CHECK_METHOD = "/envoy.service.auth.v3.Authorization/Check"
HOST = "api.paymesh.local"
PATH = "/v1/me"  # WhoAmI: any authenticated key may call it
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_GIVE_UP_AFTER_FAILURES = 100
_Ctx = attribute_context_pb2.AttributeContext
CheckCall = grpc.aio.UnaryUnaryMultiCallable[
    external_auth_pb2.CheckRequest, external_auth_pb2.CheckResponse
]
# Hands a client its next token, or None when the client should stop.
TokenSource = Callable[[], str | None]


def envoy_check(
    token: str, request_id: str, client_port: int = 40000
) -> external_auth_pb2.CheckRequest:
    """A CheckRequest as Envoy's ext_authz filter sends it for ``GET /v1/me``."""
    headers = {
        ":authority": HOST,
        ":method": "GET",
        ":path": PATH,
        ":scheme": "https",
        "accept": "application/json",
        "authorization": f"Bearer {token}",
        "user-agent": "paymesh-bench/1.0",
        "x-forwarded-proto": "https",
        "x-request-id": request_id,
    }
    http = _Ctx.HttpRequest(
        id=request_id, method="GET", path=PATH, host=HOST, scheme="https",
        protocol="HTTP/1.1", headers=headers,
    )  # fmt: skip
    return external_auth_pb2.CheckRequest(
        attributes=_Ctx(
            source=_peer("203.0.113.7", client_port),
            destination=_peer("10.0.0.2", 8443),
            request=_Ctx.Request(http=http),
        )
    )


def _peer(address: str, port: int) -> attribute_context_pb2.AttributeContext.Peer:
    socket = core_pb2.SocketAddress(address=address, port_value=port)
    return _Ctx.Peer(address=core_pb2.Address(socket_address=socket))


def check_calls(channels: list[grpc.aio.Channel]) -> list[CheckCall]:
    """Check on each channel, as a typed unary-unary callable."""
    return [
        channel.unary_unary(
            CHECK_METHOD,
            request_serializer=external_auth_pb2.CheckRequest.SerializeToString,
            response_deserializer=external_auth_pb2.CheckResponse.FromString,
        )
        for channel in channels
    ]


def allowed(rec: Recorder, reply: external_auth_pb2.CheckResponse) -> bool:
    """True for an allow (status 0 with ok_response); anything else is counted as an error."""
    if reply.status.code == 0 and reply.HasField("ok_response"):
        return True
    reason = _reason(reply.status)
    rec.error(f"DENIED/{reply.status.code}{'/' + reason if reason else ''}", reply.status.message)
    return False


def _reason(status: status_pb2.Status) -> str:
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


@dataclass
class Measured:
    """CPU of one measured window: the machine split (cores) and the server's seconds."""

    split: dict[str, float]
    server_cpu_s: float
    wall_s: float


async def _client(index: int, call: CheckCall, next_token: TokenSource, rec: Recorder) -> None:
    ids = workload.RequestIds()
    token = next_token()
    if token is None:
        return
    request = envoy_check(token, ids.next(), 40000 + index)
    http = request.attributes.request.http
    failures = 0
    while token is not None:
        request_id = ids.next()
        http.id = request_id
        http.headers["x-request-id"] = request_id
        http.headers["authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            ok = allowed(rec, await call(request, timeout=10.0))
        except grpc.aio.AioRpcError as exc:
            rec.error(exc.code().name, exc.details() or "")
            ok = False
        rec.record(index, started, time.perf_counter(), 1 if ok else 0)
        failures = 0 if ok else failures + 1
        if failures >= _GIVE_UP_AFTER_FAILURES:
            print(f"    client {index}: {failures} failed calls in a row, stopping", flush=True)
            return
        token = next_token()


async def _progress(name: str, rec: Recorder, pid: int, done: asyncio.Event) -> Measured:
    """A line a second; the CPU used between the window's start and its end (or ``done``)."""
    await asyncio.sleep(max(0.0, rec.window_start - time.perf_counter()))
    before, t0 = cpu.snapshot(pid), time.perf_counter()
    print(f"    [{name}] measuring", flush=True)
    last_calls, last_t = rec.calls, t0
    while not done.is_set() and (now := time.perf_counter()) < rec.window_end:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), min(1.0, rec.window_end - now))
        now = time.perf_counter()
        if now - last_t < 0.1:  # the window ended just after the last line
            break
        rate = (rec.calls - last_calls) / (now - last_t)
        print(
            f"    [{name}] {now - t0:5.1f} s  calls {rec.calls:>9,}  {rate:>8,.0f}/s"
            f"  errors {sum(rec.errors.values()):,}",
            flush=True,
        )
        last_calls, last_t = rec.calls, now
    after, t1 = cpu.snapshot(pid), time.perf_counter()
    server_s = (after.service - before.service) / _TICKS_PER_S if before and after else math.nan
    return Measured(cpu.split(before, after), server_s, t1 - t0)


async def drive(
    name: str,
    calls: list[CheckCall],
    clients: int,
    next_token: TokenSource,
    window: tuple[float, float],
    server_pid: int,
) -> tuple[Recorder, Measured]:
    """Run ``clients`` clients; measure from ``window[0]`` s from now for ``window[1]`` s.

    A window of ``inf`` seconds lasts until every client ran out of tokens (cold keys).
    """
    warmup_s, duration_s = window
    start = time.perf_counter() + warmup_s
    rec = Recorder(window_start=start, window_end=start + duration_s, clients=clients)
    done = asyncio.Event()
    progress = asyncio.create_task(_progress(name, rec, server_pid, done))
    try:
        await asyncio.gather(
            *(_client(i, calls[i % len(calls)], next_token, rec) for i in range(clients))
        )
    finally:
        done.set()
    return rec, await progress


def until(deadline_after_s: float, token: str) -> TokenSource:
    """The same token until ``deadline_after_s`` seconds from now, then None."""
    deadline = time.perf_counter() + deadline_after_s

    def next_token() -> str | None:
        return token if time.perf_counter() < deadline else None

    return next_token


def each_once(tokens: list[str]) -> TokenSource:
    """Every token exactly once, across all clients, then None."""
    remaining = iter(tokens)

    def next_token() -> str | None:
        return next(remaining, None)

    return next_token
