"""The edge bench's gRPC load generator: one unary method, fixed bytes, many calls in flight.

``python -m bench.edge_grpcload --target HOST:PORT --method /pkg.Service/Method ...`` runs
``--concurrency`` callers over ``--channels`` channels (each its own TCP connection) for
``--duration-s`` seconds or ``--requests`` calls, then prints one JSON object: calls, OK
calls, errors by status code, wall and CPU seconds of this process inside the window.

h2load cannot present a client certificate, and our services and Envoy's internal listener
require one; this is the client for those rows. It does as little per call as grpc.aio
allows (pre-serialised request, the reply left as bytes, uvloop), because it competes for the
machine's two cores with what it measures: its own CPU is reported so the table can say so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

_CALL_TIMEOUT_S = 10.0
_FIRST_ERRORS_KEPT = 3


@dataclass
class Tally:
    """What the callers saw inside the measured window."""

    calls: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)

    def failed(self, code: str, details: str) -> None:
        self.errors[code] += 1
        if len(self.first_errors) < _FIRST_ERRORS_KEPT:
            self.first_errors.append(f"{code}: {details}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_grpcload")
    add = parser.add_argument
    add("--target", required=True, help="host:port")
    add("--method", required=True, help="/package.Service/Method")
    add("--request-hex", default="", help="the serialised request message, hex")
    add("--metadata", action="append", default=[], help="key=value, repeatable")
    add("--concurrency", type=int, default=16, help="calls in flight")
    add("--channels", type=int, default=1, help="channels (TCP connections) they share")
    add("--duration-s", type=float, default=0.0, help="run this long (or --requests)")
    add("--requests", type=int, default=0, help="run this many calls (or --duration-s)")
    add("--ca", type=Path, help="CA bundle: TLS; without it, plaintext")
    add("--cert", type=Path, help="client certificate (mTLS)")
    add("--key", type=Path, help="its private key")
    args = parser.parse_args(argv)
    if (args.duration_s > 0) == (args.requests > 0):
        parser.error("give exactly one of --duration-s and --requests")
    if args.concurrency < 1 or args.channels < 1:
        parser.error("--concurrency and --channels must be >= 1")
    return args


def open_channels(args: argparse.Namespace) -> list[grpc.aio.Channel]:
    # A local subchannel pool per channel: otherwise grpc shares one connection among
    # channels with equal arguments, and "--channels 16" would still be one connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    if args.ca is None:
        return [grpc.aio.insecure_channel(args.target, options) for _ in range(args.channels)]
    creds = grpc.ssl_channel_credentials(
        root_certificates=args.ca.read_bytes(),
        private_key=args.key.read_bytes() if args.key else None,
        certificate_chain=args.cert.read_bytes() if args.cert else None,
    )
    return [grpc.aio.secure_channel(args.target, creds, options) for _ in range(args.channels)]


async def _caller(
    call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes],
    request: bytes,
    metadata: tuple[tuple[str, str], ...],
    more: Callable[[], bool],
    tally: Tally,
) -> None:
    while more():
        try:
            await call(request, metadata=metadata, timeout=_CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            tally.calls += 1
            tally.failed(exc.code().name, exc.details() or "")
            continue
        tally.calls += 1
        tally.ok += 1


def _budget(args: argparse.Namespace) -> Callable[[], bool]:
    """A ``more()`` that says whether another call may start."""
    if args.requests:
        left = [int(args.requests)]

        def more_calls() -> bool:
            left[0] -= 1
            return left[0] >= 0

        return more_calls
    deadline = time.perf_counter() + float(args.duration_s)
    return lambda: time.perf_counter() < deadline


async def run(args: argparse.Namespace) -> dict[str, Any]:
    channels = open_channels(args)
    try:
        await asyncio.gather(*(c.channel_ready() for c in channels))
        # No serializer: the request goes out as the bytes given, the reply stays bytes.
        calls: list[grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]]
        calls = [c.unary_unary(args.method) for c in channels]
        request = bytes.fromhex(args.request_hex)
        metadata = tuple((k, v) for k, _, v in (m.partition("=") for m in args.metadata))
        tally = Tally()
        more = _budget(args)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(
            *(
                _caller(calls[i % len(calls)], request, metadata, more, tally)
                for i in range(args.concurrency)
            )
        )
        wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    out = asdict(tally)
    out.update(wall_s=round(wall_s, 4), cpu_s=round(cpu_s, 4), errors=dict(tally.errors))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop  # as the services run: less client CPU per call (edge.md)
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
