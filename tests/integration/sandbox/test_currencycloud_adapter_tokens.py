"""The Currencycloud adapter's session over the TLS sandbox: expiry under load with one shared
re-login, the bound on re-logins, and the failed-login guard that keeps the account enabled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.test_currencycloud_adapter_support import (
    NAME,
    client_for,
    control,
    state,
)

WRONG_KEY = "f" * 64
RATES = "GET /v2/rates/detailed"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


async def quote(client: CurrencycloudClient) -> int:
    return (await client.get_rate("EUR", "USD", FixedSide.SELL, 10_000)).buy_amount_minor


async def failure(call: Callable[[], object]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call()  # type: ignore[misc]
    return caught.value


async def test_twenty_concurrent_calls_with_an_expired_token_share_one_re_login(
    sandbox_server: SandboxHandle,
) -> None:
    client = client_for(sandbox_server)
    try:
        await quote(client)  # login #1
        await control(sandbox_server, "expire_tokens")
        results = await asyncio.gather(*(quote(client) for _ in range(20)))
    finally:
        await client.aclose()
    assert len(set(results)) == 1
    assert (await state(sandbox_server))["auth"]["logins_succeeded"] == 2
    assert client.tokens.logins_sent == 2
    requests = (await sandbox_server.control.stats())["requests"][NAME]["paths"]
    assert requests[RATES] == 1 + 20 + 20  # each of the 20 was refused once, then retried


async def test_a_token_that_idles_past_its_lifetime_is_replaced(
    sandbox_server: SandboxHandle,
) -> None:
    await control(sandbox_server, "token_ttl", seconds="0.2")
    client = client_for(sandbox_server)
    try:
        await quote(client)
        await asyncio.sleep(0.3)
        await quote(client)
    finally:
        await client.aclose()
    assert (await state(sandbox_server))["auth"]["logins_succeeded"] == 2


async def test_a_token_refused_every_time_stops_after_three_re_logins(
    sandbox_server: SandboxHandle,
) -> None:
    await control(sandbox_server, "token_ttl", seconds="0")  # every token is dead on arrival
    client = client_for(sandbox_server)
    try:
        error = await failure(lambda: quote(client))
    finally:
        await client.aclose()
    assert (error.kind, error.raw_code, error.http_status) == (
        ErrorKind.INVALID,
        "auth_failed",
        401,
    )
    assert (await state(sandbox_server))["auth"]["logins_succeeded"] == 1 + 3


async def test_a_bad_api_key_is_tried_three_times_then_fails_fast_and_never_locks(
    sandbox_server: SandboxHandle,
) -> None:
    client = client_for(sandbox_server, api_key=WRONG_KEY)
    try:
        errors = [await failure(lambda: quote(client)) for _ in range(5)]
    finally:
        await client.aclose()
    assert [e.raw_code for e in errors] == ["auth_failed"] * 3 + ["LOGIN_BLOCKED"] * 2
    assert all(
        (e.kind, e.code, e.sent) == (ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, False)
        for e in errors
    )
    auth = (await state(sandbox_server))["auth"]
    assert (auth["logins_failed"], auth["failed_in_a_row"], auth["disabled"]) == (3, 3, False)
    fixed = client_for(sandbox_server)  # the right key still works: the account is enabled
    try:
        await quote(fixed)
    finally:
        await fixed.aclose()


async def test_twenty_concurrent_calls_with_a_bad_key_make_one_login_attempt(
    sandbox_server: SandboxHandle,
) -> None:
    client = client_for(sandbox_server, api_key=WRONG_KEY)
    try:
        outcomes = await asyncio.gather(*(quote(client) for _ in range(20)), return_exceptions=True)
    finally:
        await client.aclose()
    assert all(isinstance(o, ProviderError) and o.raw_code == "auth_failed" for o in outcomes)
    assert (await state(sandbox_server))["auth"]["logins_failed"] == 1


async def test_a_configured_cool_down_allows_one_attempt_per_cool_down(
    sandbox_server: SandboxHandle,
) -> None:
    now = [100.0]
    client = client_for(
        sandbox_server, api_key=WRONG_KEY, login_cooldown_s=60.0, clock=lambda: now[0]
    )
    try:
        codes = [(await failure(lambda: quote(client))).raw_code for _ in range(4)]
        now[0] += 61
        codes += [(await failure(lambda: quote(client))).raw_code for _ in range(2)]
    finally:
        await client.aclose()
    assert codes == ["auth_failed"] * 3 + ["LOGIN_BLOCKED", "auth_failed", "LOGIN_BLOCKED"]
    assert (await state(sandbox_server))["auth"]["logins_failed"] == 4


async def test_a_throttled_login_is_retriable_and_not_a_failed_login(
    sandbox_server: SandboxHandle,
) -> None:
    await sandbox_server.control.add_fault(
        provider=NAME, kind="rate_limit", path="/v2/authenticate/api", retry_after_s=7
    )
    client = client_for(sandbox_server)
    try:
        error = await failure(lambda: quote(client))
        assert client.tokens.failed_in_a_row == 0
        await quote(client)
    finally:
        await client.aclose()
    assert (error.kind, error.code, error.sent, error.retry_after_s) == (
        ErrorKind.RETRIABLE,
        DeclineCode.RATE_LIMITED,
        False,
        7.0,
    )
