"""The warm Check's own CPU, in this process and without gRPC.

Builds what ``identity_svc serve`` builds (``build_authz`` over ``SqlIdentityStore`` on the
bench database), warms the key cache with one decision, then times warm decisions with
``time.process_time`` at three depths (five interleaved rounds each; the median is kept):

* ``Authorizer.decide`` on a prepared ``AuthzRequest``;
* the servicer's ``Check``: CheckRequest -> AuthzRequest -> decide -> CheckResponse;
* the same plus protobuf parsing of the request bytes and serialising of the reply, which
  gRPC does around the servicer.

The cache answers from memory only while its change-feed follower is fresh (0.75 s), and a
warm decision never yields to the loop, so the follower is not started: the bench polls the
feed itself between chunks of decisions, outside the timed sections.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from bench.authz_load import envoy_check
from bench.authz_report import InprocResult
from identity_svc.adapters.store import SqlIdentityStore
from identity_svc.entrypoints.authz import Authz, authz_request, build_authz
from paymesh.third_party.envoy import external_auth_pb2
from svc_kit import db

if TYPE_CHECKING:
    import grpc.aio

_CHUNK = 2_000
_ROUNDS = 5
_Req = external_auth_pb2.CheckRequest
_Resp = external_auth_pb2.CheckResponse


async def measure(database_url: str, pepper: bytes, token: str, decisions: int) -> InprocResult:
    """µs of process CPU per warm decision, at the three depths."""
    engine = db.make_engine(database_url)
    try:
        authz = build_authz(SqlIdentityStore(engine), pepper)
        await authz.cache.sync_once()
        request = envoy_check(token, "bench-inproc")
        first = await authz.servicer.Check(request, _NO_CONTEXT)  # loads the key: now warm
        if not (first.status.code == 0 and first.HasField("ok_response")):
            raise RuntimeError(f"in-process Check did not allow the warm key: {first.status}")
        depths = {
            "decide": _decide(authz, request),
            "servicer": _servicer(authz, request),
            "wire": _wire(authz, request.SerializeToString()),
        }
        samples: dict[str, list[float]] = {name: [] for name in depths}
        per_round = max(1, decisions // _ROUNDS)
        for _ in range(_ROUNDS):  # interleaved, so a noisy moment hits one sample of each
            for name, call in depths.items():
                samples[name].append(await _timed(authz, per_round, call))
        medians = {name: statistics.median(values) for name, values in samples.items()}
        return InprocResult(
            decisions=per_round * _ROUNDS,
            decide_us=medians["decide"],
            servicer_us=medians["servicer"],
            wire_us=medians["wire"],
        )
    finally:
        await engine.dispose()


# The servicer reads its context only to abort when the store is down, which a warm
# decision never does.
_NO_CONTEXT = cast("grpc.aio.ServicerContext[_Req, _Resp]", None)


def _decide(authz: Authz, request: _Req) -> Callable[[], Awaitable[object]]:
    prepared = authz_request(request)
    return lambda: authz.authorizer.decide(prepared)


def _servicer(authz: Authz, request: _Req) -> Callable[[], Awaitable[object]]:
    return lambda: authz.servicer.Check(request, _NO_CONTEXT)


def _wire(authz: Authz, raw: bytes) -> Callable[[], Awaitable[object]]:
    async def one() -> bytes:
        reply = await authz.servicer.Check(_Req.FromString(raw), _NO_CONTEXT)
        return reply.SerializeToString()

    return one


async def _timed(authz: Authz, count: int, call: Callable[[], Awaitable[object]]) -> float:
    """µs of process CPU per ``call``, over ``count`` calls in chunks between feed polls."""
    spent = 0.0
    done = 0
    while done < count:
        await authz.cache.sync_once()  # keeps the cache fresh; not timed
        n = min(_CHUNK, count - done)
        started = time.process_time()
        for _ in range(n):
            await call()
        spent += time.process_time() - started
        done += n
        if not authz.cache.is_fresh():
            raise RuntimeError(f"a chunk of {n} decisions outlasted the cache's staleness bound")
    return spent * 1e6 / count
