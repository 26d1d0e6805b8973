"""The Currencycloud simulator's login, tokens, lockout, controls and reply headers."""

from __future__ import annotations

import re

import pytest

from tests.unit.sandbox.test_currencycloud_sim_support import (
    API_KEY,
    LOGIN_ID,
    WRONG_KEY,
    Driver,
    body_of,
    codes_of,
)

AUTH_FAILED = {
    "error_code": "auth_failed",
    "error_messages": {
        "username": [
            {
                "code": "invalid_supplied_credentials",
                "message": "Authentication failed with the supplied credentials",
                "params": {},
            }
        ]
    },
}


@pytest.fixture
def cc() -> Driver:
    return Driver()


async def test_a_login_returns_a_32_hex_token(cc: Driver) -> None:
    reply = await cc.login()
    assert reply.status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", body_of(reply)["auth_token"])


async def test_a_multipart_login_is_accepted_too(cc: Driver) -> None:
    parts = [
        f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("login_id", LOGIN_ID), ("api_key", API_KEY))
    ]
    body = ("".join(parts) + "--B--\r\n").encode()
    reply = await cc.raw(
        "POST",
        "/v2/authenticate/api",
        headers={"content-type": "multipart/form-data; boundary=B"},
        body=body,
    )
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"api_key": API_KEY}, {"login_id": ["login_id_is_required"]}),
        ({"login_id": LOGIN_ID}, {"api_key": ["api_key_is_required"]}),
        ({"login_id": LOGIN_ID, "api_key": "short"}, {"api_key": ["api_key_length_is_invalid"]}),
    ],
)
async def test_a_malformed_login_is_a_400_and_not_a_failed_attempt(
    cc: Driver, fields: dict[str, str], expected: dict[str, list[str]]
) -> None:
    reply = await cc.raw("POST", "/v2/authenticate/api", fields)
    assert reply.status == 400
    assert body_of(reply)["error_code"] == "auth_invalid_user_login_details"
    assert codes_of(reply) == expected
    assert cc.sim.sessions.failed_in_a_row == 0


async def test_a_wrong_key_gets_currencycloud_s_exact_401_body(cc: Driver) -> None:
    reply = await cc.login(WRONG_KEY)
    assert (reply.status, body_of(reply)) == (401, AUTH_FAILED)


async def test_the_fourth_failed_login_in_a_row_disables_the_login(cc: Driver) -> None:
    for _ in range(3):
        assert (await cc.login(WRONG_KEY)).status == 401
    assert cc.sim.snapshot()["auth"]["disabled"] is False  # type: ignore[index]
    await cc.login(WRONG_KEY)
    refused = await cc.login()  # the right key, too late
    assert (refused.status, body_of(refused)) == (401, AUTH_FAILED)
    auth = cc.sim.snapshot()["auth"]
    assert auth["disabled"] is True  # type: ignore[index]
    assert auth["logins_refused_disabled"] == 1  # type: ignore[index]


async def test_a_successful_login_resets_the_failure_count(cc: Driver) -> None:
    for _ in range(3):
        await cc.login(WRONG_KEY)
    assert (await cc.login()).status == 200
    for _ in range(3):
        await cc.login(WRONG_KEY)
    assert cc.sim.sessions.disabled is False


async def test_an_unknown_login_id_is_refused_without_counting(cc: Driver) -> None:
    for _ in range(5):
        assert (await cc.login(login_id="someone@else.example")).status == 401
    assert (cc.sim.sessions.failed_in_a_row, cc.sim.sessions.disabled) == (0, False)


async def test_support_can_re_enable_a_disabled_login(cc: Driver) -> None:
    for _ in range(4):
        await cc.login(WRONG_KEY)
    assert (await cc.control("enable_login")).status == 200
    assert (await cc.login()).status == 200


async def test_calls_without_or_with_an_unknown_token_get_401(cc: Driver) -> None:
    no_token = await cc.raw("GET", "/v2/conversions/find")
    unknown = await cc.raw("GET", "/v2/conversions/find", headers={"x-auth-token": "f" * 32})
    assert (no_token.status, body_of(no_token)) == (401, AUTH_FAILED)
    assert (unknown.status, body_of(unknown)) == (401, AUTH_FAILED)


async def test_a_token_dies_after_30_idle_minutes_and_each_use_restarts_the_clock(
    cc: Driver,
) -> None:
    await cc.ensure_token()
    cc.clock.now += 29 * 60
    assert (await cc.get("/v2/conversions/find")).status == 200
    cc.clock.now += 29 * 60  # 58 minutes after login, 29 after the last use
    assert (await cc.get("/v2/conversions/find")).status == 200
    cc.clock.now += 30 * 60
    assert (await cc.get("/v2/conversions/find")).status == 401


async def test_the_idle_lifetime_can_be_shortened_by_the_sandbox_control(cc: Driver) -> None:
    reply = await cc.control("token_ttl", {"seconds": "5"})
    assert body_of(reply) == {"idle_ttl_s": 5.0}
    await cc.ensure_token()
    cc.clock.now += 5
    assert (await cc.get("/v2/conversions/find")).status == 401


async def test_expire_tokens_kills_every_live_token_at_once(cc: Driver) -> None:
    await cc.ensure_token()
    await cc.login()
    assert body_of(await cc.control("expire_tokens")) == {"expired": 2}
    assert (await cc.get("/v2/conversions/find")).status == 401


async def test_close_session_retires_the_token(cc: Driver) -> None:
    closed = await cc.post("/v2/authenticate/close_session")
    assert (closed.status, body_of(closed)) == (200, {})
    assert (await cc.get("/v2/conversions/find")).status == 401
    assert cc.sim.snapshot()["auth"]["sessions_closed"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "query"),
    [("token_ttl", {"seconds": "soon"}), ("conversions/nope/advance", {})],
)
async def test_a_bad_sandbox_control_is_refused(
    cc: Driver, path: str, query: dict[str, str]
) -> None:
    reply = await cc.control(path, query)
    assert reply.status in (400, 404)


async def test_sandbox_controls_only_take_post(cc: Driver) -> None:
    assert (await cc.raw("GET", "/_sandbox/expire_tokens")).status == 405


async def test_every_reply_carries_an_x_request_id(cc: Driver) -> None:
    replies = [
        await cc.login(),
        await cc.login(WRONG_KEY),
        await cc.get("/v2/rates/detailed", {}),
        await cc.get("/v2/nothing/here"),
        cc.sim.fault_reply(503, None),
    ]
    ids = [reply.headers.get("x-request-id", "") for reply in replies]
    assert all(re.fullmatch(r"[0-9]{19}", value) for value in ids), ids
    assert len(set(ids)) == len(ids)


async def test_an_unknown_route_is_currencycloud_s_404(cc: Driver) -> None:
    reply = await cc.get("/v2/nothing/here")
    assert (reply.status, body_of(reply)["error_code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "too_many_requests"),
        (503, "service_unavailable"),
        (500, "internal_server_error"),
        (502, "internal_server_error"),
    ],
)
def test_fault_replies_have_currencycloud_s_shape(status: int, code: str) -> None:
    reply = Driver().sim.fault_reply(status, 2.5 if status == 429 else None)
    body = body_of(reply)
    assert (reply.status, body["error_code"]) == (status, code)
    assert body["error_messages"]["base"][0]["code"] == code
    assert reply.headers.get("retry-after") == ("2.5" if status == 429 else None)


async def test_reset_forgets_tokens_counts_and_the_lockout(cc: Driver) -> None:
    for _ in range(4):
        await cc.login(WRONG_KEY)
    await cc.control("token_ttl", {"seconds": "1"})
    cc.sim.reset()
    auth = cc.sim.snapshot()["auth"]
    assert auth == {
        "logins_succeeded": 0,
        "logins_failed": 0,
        "logins_refused_disabled": 0,
        "failed_in_a_row": 0,
        "disabled": False,
        "live_tokens": 0,
        "sessions_closed": 0,
        "idle_ttl_s": 1800.0,
    }
