"""The PayPal simulator's money movements, idempotency, search, faults and snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.paypal import sim as sim_module
from sandbox.paypal.sim import REQUEST_ID_TTL_S
from tests.unit.sandbox.test_paypal_sim_support import Driver, issue_of, order, payments_of


@pytest.fixture
def pp() -> Driver:
    return Driver()


def usd(value: str) -> dict[str, str]:
    return {"currency_code": "USD", "value": value}


async def authorized(pp: Driver, value: str = "10.00", custom_id: str = "att_1") -> str:
    created = await pp.create(value=value, custom_id=custom_id)
    auth_id: str = payments_of(created)["authorizations"][0]["id"]
    return auth_id


async def captured(pp: Driver, value: str = "10.00") -> str:
    created = await pp.create(intent="CAPTURE", value=value)
    capture_id: str = payments_of(created)["captures"][0]["id"]
    return capture_id


# -- capture, void, refund -----------------------------------------------------------------


async def test_a_final_partial_capture_releases_the_rest(pp: Driver) -> None:
    auth_id = await authorized(pp)
    status, cap = await pp.post(
        f"/v2/payments/authorizations/{auth_id}/capture",
        {"amount": usd("6.00"), "final_capture": True},
    )
    assert (status, cap["status"], cap["amount"]["value"]) == (201, "COMPLETED", "6.00")
    assert cap["supplementary_data"]["related_ids"]["authorization_id"] == auth_id
    auth = (await pp.get(f"/v2/payments/authorizations/{auth_id}"))[1]
    assert auth["status"] == "CAPTURED"
    status, body = await pp.post(f"/v2/payments/authorizations/{auth_id}/capture", {})
    assert (status, issue_of(body)) == (422, "AUTHORIZATION_ALREADY_CAPTURED")


async def test_non_final_captures_add_up_to_the_authorization(pp: Driver) -> None:
    auth_id = await authorized(pp)
    path = f"/v2/payments/authorizations/{auth_id}/capture"
    await pp.post(path, {"amount": usd("4.00")})
    assert (await pp.get(f"/v2/payments/authorizations/{auth_id}"))[1]["status"] == (
        "PARTIALLY_CAPTURED"
    )
    status, body = await pp.post(path, {"amount": usd("6.01")})
    assert (status, issue_of(body)) == (422, "MAX_CAPTURE_AMOUNT_EXCEEDED")
    status, cap = await pp.post(path, {})  # no amount: the rest
    assert (status, cap["amount"]["value"]) == (201, "6.00")
    assert (await pp.get(f"/v2/payments/authorizations/{auth_id}"))[1]["status"] == "CAPTURED"


@pytest.mark.parametrize(
    ("body", "issue"),
    [
        ({"amount": {"currency_code": "EUR", "value": "1.00"}}, "CURRENCY_MISMATCH"),
        ({"amount": usd("1.001")}, "DECIMAL_PRECISION"),
        ({"amount": usd("0")}, "CANNOT_BE_ZERO_OR_NEGATIVE"),
        ({"amount": usd("1.00"), "final_capture": "yes"}, "INVALID_PARAMETER_VALUE"),
    ],
)
async def test_a_bad_capture_request_is_refused(
    pp: Driver, body: dict[str, Any], issue: str
) -> None:
    auth_id = await authorized(pp)
    status, reply = await pp.post(f"/v2/payments/authorizations/{auth_id}/capture", body)
    assert issue_of(reply) == issue
    assert status in (400, 422)
    (payment,) = pp.payments().values()
    assert (payment["captures"], payment["authorization"]["status"]) == ([], "CREATED")


async def test_void_then_capture_or_void_again_is_refused(pp: Driver) -> None:
    auth_id = await authorized(pp)
    status, auth = await pp.post(f"/v2/payments/authorizations/{auth_id}/void")
    assert (status, auth["status"]) == (200, "VOIDED")
    status, body = await pp.post(f"/v2/payments/authorizations/{auth_id}/capture", {})
    assert (status, issue_of(body)) == (422, "AUTHORIZATION_VOIDED")
    status, body = await pp.post(f"/v2/payments/authorizations/{auth_id}/void")
    assert (status, issue_of(body)) == (422, "PREVIOUSLY_VOIDED")


async def test_void_after_capture_is_refused_and_minimal_void_is_204(pp: Driver) -> None:
    auth_id = await authorized(pp)
    await pp.post(f"/v2/payments/authorizations/{auth_id}/capture", {"final_capture": True})
    _, body = await pp.post(f"/v2/payments/authorizations/{auth_id}/void")
    assert issue_of(body) == "PREVIOUSLY_CAPTURED"
    other = await authorized(pp, custom_id="att_2")
    assert await pp.post(f"/v2/payments/authorizations/{other}/void", full=False) == (204, None)


async def test_a_denied_authorization_can_neither_be_captured_nor_voided(pp: Driver) -> None:
    created = await pp.create(number="4000000000000002")
    auth_id = payments_of(created)["authorizations"][0]["id"]
    _, body = await pp.post(f"/v2/payments/authorizations/{auth_id}/capture", {})
    assert issue_of(body) == "TRANSACTION_REFUSED"
    _, body = await pp.post(f"/v2/payments/authorizations/{auth_id}/void")
    assert issue_of(body) == "CANNOT_BE_VOIDED"


async def test_partial_refunds_until_the_capture_is_used_up(pp: Driver) -> None:
    capture_id = await captured(pp)
    path = f"/v2/payments/captures/{capture_id}/refund"
    status, first = await pp.post(path, {"amount": usd("3.00")})
    assert (status, first["status"]) == (201, "COMPLETED")
    assert first["seller_payable_breakdown"]["total_refunded_amount"]["value"] == "3.00"
    status, body = await pp.post(path, {"amount": usd("7.01")})
    assert (status, issue_of(body)) == (422, "REFUND_AMOUNT_EXCEEDED")
    status, rest = await pp.post(path, {})
    assert (status, rest["amount"]["value"]) == (201, "7.00")
    capture = (await pp.get(f"/v2/payments/captures/{capture_id}"))[1]
    assert capture["status"] == "REFUNDED"
    _, body = await pp.post(path, {"amount": usd("0.01")})
    assert issue_of(body) == "CAPTURE_FULLY_REFUNDED"
    refund = (await pp.get(f"/v2/payments/refunds/{first['id']}"))[1]
    assert refund["amount"]["value"] == "3.00"


async def test_refunds_of_a_declined_capture_or_in_another_currency_are_refused(
    pp: Driver,
) -> None:
    declined = payments_of(await pp.create(intent="CAPTURE", number="4000000000009995"))
    path = f"/v2/payments/captures/{declined['captures'][0]['id']}/refund"
    assert issue_of((await pp.post(path, {}))[1]) == "REFUND_NOT_ALLOWED"
    capture_id = await captured(pp)
    _, body = await pp.post(
        f"/v2/payments/captures/{capture_id}/refund",
        {"amount": {"currency_code": "GBP", "value": "1.00"}},
    )
    assert issue_of(body) == "REFUND_CAPTURE_CURRENCY_MISMATCH"


@pytest.mark.parametrize(
    "path",
    [
        "/v2/checkout/orders/NOPE",
        "/v2/payments/authorizations/NOPE",
        "/v2/payments/captures/NOPE",
        "/v2/payments/refunds/NOPE",
    ],
)
async def test_unknown_ids_are_resource_not_found(pp: Driver, path: str) -> None:
    status, body = await pp.get(path)
    assert (status, body["name"], issue_of(body)) == (
        404,
        "RESOURCE_NOT_FOUND",
        "INVALID_RESOURCE_ID",
    )


async def test_the_order_shows_its_captures_and_refunds(pp: Driver) -> None:
    auth_id = await authorized(pp)
    _, cap = await pp.post(
        f"/v2/payments/authorizations/{auth_id}/capture", {"final_capture": True}
    )
    await pp.post(f"/v2/payments/captures/{cap['id']}/refund", {"amount": usd("1.00")})
    order_id = cap["supplementary_data"]["related_ids"]["order_id"]
    payments = (await pp.get(f"/v2/checkout/orders/{order_id}"))[1]["purchase_units"][0]["payments"]
    assert [len(payments[k]) for k in ("authorizations", "captures", "refunds")] == [1, 1, 1]
    assert payments["captures"][0]["status"] == "PARTIALLY_REFUNDED"


# -- idempotency ---------------------------------------------------------------------------


async def test_the_same_request_id_replays_the_stored_reply_byte_for_byte(pp: Driver) -> None:
    body = json.dumps(order()).encode()
    headers = await pp.headers("rid-1", True, None)
    first = await pp.raw("POST", "/v2/checkout/orders", body, headers)
    again = await pp.raw("POST", "/v2/checkout/orders", body, headers)
    assert again is first or again.body == first.body
    assert again.status == first.status == 201
    assert len(pp.payments()) == 1


async def test_the_same_parameters_in_another_key_order_are_the_same_request(pp: Driver) -> None:
    original = order()
    reordered = dict(reversed(list(original.items())))
    _, first = await pp.post("/v2/checkout/orders", original, rid="rid-2")
    _, again = await pp.post("/v2/checkout/orders", reordered, rid="rid-2")
    assert first == again


async def test_errors_are_replayed_too(pp: Driver) -> None:
    _, first = await pp.post("/v2/checkout/orders", order(currency="INR"), rid="rid-3")
    _, again = await pp.post("/v2/checkout/orders", order(currency="INR"), rid="rid-3")
    assert first == again  # same debug_id: the stored reply, not a new evaluation


async def test_the_same_request_id_with_other_parameters_is_refused(pp: Driver) -> None:
    await pp.post("/v2/checkout/orders", order(), rid="rid-4")
    status, body = await pp.post("/v2/checkout/orders", order(value="11.00"), rid="rid-4")
    assert (status, issue_of(body)) == (422, "DUPLICATE_REQUEST_ID")
    assert len(pp.payments()) == 1


async def test_a_request_id_is_forgotten_after_six_hours(pp: Driver) -> None:
    _, first = await pp.post("/v2/checkout/orders", order(), rid="rid-5")
    pp.clock.now += REQUEST_ID_TTL_S
    pp.renew()  # the old token has expired meanwhile
    _, again = await pp.post("/v2/checkout/orders", order(), rid="rid-5")
    assert again["id"] != first["id"]


async def test_the_oldest_request_ids_are_forgotten_past_the_cap(
    pp: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim_module, "MAX_STORED_REPLIES", 2)
    first = [(await pp.post("/v2/checkout/orders", order(), rid=f"r{i}"))[1] for i in range(3)]
    assert (await pp.post("/v2/checkout/orders", order(), rid="r2"))[1] == first[2]
    assert (await pp.post("/v2/checkout/orders", order(), rid="r0"))[1]["id"] != first[0]["id"]


async def test_a_request_id_longer_than_108_characters_is_refused(pp: Driver) -> None:
    status, body = await pp.post("/v2/checkout/orders", order(), rid="r" * 109)
    assert (status, issue_of(body)) == (400, "INVALID_STRING_LENGTH")


async def test_paypal_mock_response_forces_the_named_issue(pp: Driver) -> None:
    mock = {"paypal-mock-response": json.dumps({"mock_application_codes": "INSTRUMENT_DECLINED"})}
    status, body = await pp.post("/v2/checkout/orders", order(), headers=mock)
    assert (status, issue_of(body)) == (422, "INSTRUMENT_DECLINED")
    assert pp.payments() == {}


# -- search, faults, snapshot, reset ---------------------------------------------------------


async def test_the_sandbox_order_search_finds_by_custom_id_only(pp: Driver) -> None:
    created = await pp.create(custom_id="att_found")
    reply = await pp.raw(
        "GET",
        "/v2/checkout/orders",
        headers=await pp.headers(None, True, None),
        query={"custom_id": "att_found"},
    )
    body = json.loads(reply.body)
    assert reply.headers["paymesh-sandbox-extension"] == "order-search"
    assert [o["id"] for o in body["orders"]] == [created["id"]]
    status, empty = await pp.get("/v2/checkout/orders", {"custom_id": "att_missing"})
    assert (status, empty) == (200, {"orders": [], "total_items": 0})
    assert (await pp.get("/v2/checkout/orders"))[0] == 400
    assert len(pp.payments()) == 1


@pytest.mark.parametrize(
    ("status", "name"),
    [(500, "INTERNAL_SERVER_ERROR"), (502, "INTERNAL_SERVER_ERROR"), (503, "SERVICE_UNAVAILABLE"),
     (429, "RATE_LIMIT_REACHED")],
)  # fmt: skip
async def test_fault_replies_are_paypal_errors(pp: Driver, status: int, name: str) -> None:
    reply = pp.sim.fault_reply(status, 2.5 if status == 429 else None)
    body = json.loads(reply.body)
    assert (reply.status, body["name"]) == (status, name)
    assert body["debug_id"] and body["message"]
    assert reply.headers.get("retry-after") == ("2.5" if status == 429 else None)


async def test_the_snapshot_adds_up_and_reset_forgets_everything(pp: Driver) -> None:
    auth_id = await authorized(pp, value="20.00")
    _, cap = await pp.post(
        f"/v2/payments/authorizations/{auth_id}/capture",
        {"amount": usd("15.00"), "final_capture": True},
    )
    await pp.post(f"/v2/payments/captures/{cap['id']}/refund", {"amount": usd("5.00")})
    (summary,) = pp.payments().values()
    assert {k: summary[k] for k in summary if k.endswith("_minor")} == {
        "amount_minor": 2000,
        "authorized_minor": 2000,
        "captured_minor": 1500,
        "refunded_minor": 500,
        "fee_minor": 101,  # 0.5235 -> 0.52, + 0.49
    }
    json.dumps(pp.sim.snapshot())  # JSON-able
    pp.sim.reset()
    assert pp.sim.snapshot() == {"payments": {}, "tokens_issued": 0}
    status, body = await pp.get(f"/v2/payments/authorizations/{auth_id}")
    assert (status, body["error"]) == (401, "invalid_token")  # tokens are forgotten too


async def test_unknown_routes_are_not_found(pp: Driver) -> None:
    assert (await pp.post("/v2/payments/captures/X/void", {}))[0] == 404
    assert (
        await pp.raw("DELETE", "/v2/checkout/orders/X", headers=await pp.headers(None, True, None))
    ).status == 404
