"""Two identity replicas on one PostgreSQL count one key's parallel use without loss."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from paymesh.identity.v1 import identity_pb2 as pb
from tests.integration.identity.support import bearer, serve_identity
from tests.integration.identity.test_identity_key_lifecycle import new_key, new_merchant

pytestmark = pytest.mark.postgres

CALLS_PER_REPLICA = 300


async def test_parallel_use_through_two_replicas_loses_no_usage_count(
    pg_database_url: str, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(serve_identity(pg_database_url, tmp_path))
        # Same pepper file, same database: a second replica of the same service.
        second = await stack.enter_async_context(serve_identity(pg_database_url, tmp_path))
        merchant_id = await new_merchant(first)
        key_id, secret = await new_key(
            first, merchant_id, rate_limit=pb.RateLimit(requests_per_second=100000, burst=100000)
        )
        sem = asyncio.Semaphore(32)

        async def use(edge_index: int) -> int:
            edge = (first, second)[edge_index % 2]
            async with sem:
                reply = await edge.check("GET", "/v1/me", bearer(secret))
            return reply.status.code

        codes = await asyncio.gather(*(use(i) for i in range(2 * CALLS_PER_REPLICA)))
        await asyncio.sleep(0.6)  # both replicas flush every 0.2 s in these tests

        usage = await first.call(
            "GetUsage",
            pb.GetUsageRequest(merchant_id=merchant_id, key_id=key_id),
            "GET",
            f"/v1/merchants/{merchant_id}/usage",
            first.admin_token,
        )

    assert codes == [0] * (2 * CALLS_PER_REPLICA)
    assert usage.total_allowed == 2 * CALLS_PER_REPLICA
    assert usage.total_throttled == 0
