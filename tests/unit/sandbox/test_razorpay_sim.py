"""The Razorpay simulator called directly: credentials, routing, orders and request shapes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest
from sandbox.razorpay import RazorpaySim, make_sim

CONFIG = SandboxConfig(public_url="https://127.0.0.1:8443")
AUTH = (
    "Basic "
    + base64.b64encode(f"{CONFIG.razorpay_key_id}:{CONFIG.razorpay_key_secret}".encode()).decode()
)
CARD = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30", "cvv": "123"}


def basic(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


async def send(
    sim: RazorpaySim,
    method: str,
    path: str,
    body: object = None,
    *,
    query: dict[str, str] | None = None,
    auth: str | None = AUTH,
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if auth is not None:
        headers["authorization"] = auth
    raw = b"" if body is None else json.dumps(body).encode()
    reply = await sim.handle(SimRequest(method, path, query or {}, headers, raw))
    return reply.status, json.loads(reply.body)


async def order(sim: RazorpaySim, **fields: object) -> dict[str, Any]:
    status, body = await send(
        sim, "POST", "/v1/orders", {"amount": 50_000, "currency": "INR", **fields}
    )
    assert status == 200, body
    return dict(body)


def payment_body(order_id: str, /, **fields: object) -> dict[str, object]:
    return {
        "amount": 50_000,
        "currency": "INR",
        "order_id": order_id,
        "email": "gaurav.kumar@example.com",
        "contact": "+919000090000",
        "method": "card",
        "card": CARD,
        **fields,
    }


@pytest.fixture
def sim() -> RazorpaySim:
    return make_sim(CONFIG)


def test_the_simulator_is_mounted_as_razorpay(sim: RazorpaySim) -> None:
    assert sim.name == "razorpay"


@pytest.mark.parametrize(
    ("auth", "description"),
    [
        (None, "Please provide your api key for authentication purposes."),
        ("Bearer abc", "Please provide your api key for authentication purposes."),
        ("Basic !!!", "Authentication failed"),
        (basic("rzp_test_other", CONFIG.razorpay_key_secret), "The api key provided is invalid"),
        (basic(CONFIG.razorpay_key_id, "nope"), "The api secret provided is invalid"),
    ],
)
async def test_wrong_credentials_get_razorpays_401(
    sim: RazorpaySim, auth: str | None, description: str
) -> None:
    status, body = await send(sim, "GET", "/v1/orders", auth=auth)
    assert status == 401
    assert body["error"]["code"] == "BAD_REQUEST_ERROR"
    assert body["error"]["description"] == description


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/nothing"), ("DELETE", "/v1/orders"), ("POST", "/")]
)
async def test_unknown_urls_are_400_as_on_razorpay(
    sim: RazorpaySim, method: str, path: str
) -> None:
    status, body = await send(sim, method, path)
    assert (status, body["error"]["description"]) == (
        400,
        "The requested URL was not found on the server.",
    )


async def test_an_order_is_created_and_read_back(sim: RazorpaySim) -> None:
    created = await order(sim, receipt="rcpt-1", notes={"k": "v", "n": 7})
    assert created["id"].startswith("order_") and len(created["id"]) == len("order_") + 14
    assert (created["status"], created["amount_due"], created["attempts"]) == ("created", 50_000, 0)
    assert created["notes"] == {"k": "v", "n": "7"}
    status, fetched = await send(sim, "GET", f"/v1/orders/{created['id']}")
    assert (status, fetched) == (200, created)


async def test_an_unknown_order_id_is_a_400(sim: RazorpaySim) -> None:
    status, body = await send(sim, "GET", "/v1/orders/order_missing")
    assert (status, body["error"]["description"]) == (400, "The id provided does not exist")


async def test_orders_are_listed_by_receipt_newest_first_and_receipts_may_repeat(
    sim: RazorpaySim,
) -> None:
    first = await order(sim, receipt="dup")
    second = await order(sim, receipt="dup")
    await order(sim, receipt="other")
    status, listed = await send(sim, "GET", "/v1/orders", query={"receipt": "dup"})
    assert status == 200 and listed["entity"] == "collection"
    assert [o["id"] for o in listed["items"]] == [second["id"], first["id"]]
    _, none = await send(sim, "GET", "/v1/orders", query={"receipt": "never"})
    assert (none["count"], none["items"]) == (0, [])
    _, page = await send(sim, "GET", "/v1/orders", query={"count": "1", "skip": "1"})
    assert [o["id"] for o in page["items"]] == [second["id"]]


@pytest.mark.parametrize(
    ("fields", "field", "description"),
    [
        ({"amount": None}, "amount", "The amount field is required."),
        ({"amount": "500"}, "amount", "The amount must be an integer."),
        ({"amount": 10.5}, "amount", "The amount must be an integer."),
        ({"amount": 99}, "amount", "The amount must be at least INR 1.00."),
        ({"currency": None}, "currency", "The currency field is required."),
        ({"currency": "ZZZ"}, "currency", "Currency is not supported"),
        ({"currency": "KWD", "amount": 1_001}, "amount", None),
        ({"receipt": "r" * 41}, "receipt", "The receipt may not be greater than 40 characters."),
        ({"notes": {str(i): "v" for i in range(16)}}, "notes", None),
        ({"notes": {"k": "v" * 257}}, "notes", None),
        ({"payment_capture": "maybe"}, "payment_capture", None),
        ({"colour": "blue"}, "colour", "colour is/are not required and should not be sent"),
    ],
)
async def test_bad_order_fields_are_refused_with_the_field_named(
    sim: RazorpaySim, fields: dict[str, object], field: str, description: str | None
) -> None:
    body = {"amount": 50_000, "currency": "INR", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    status, reply = await send(sim, "POST", "/v1/orders", body)
    error = reply["error"]
    assert (status, error["code"], error["field"]) == (400, "BAD_REQUEST_ERROR", field)
    assert error["reason"] == "input_validation_failed"
    if description is not None:
        assert error["description"] == description


async def test_a_body_that_is_not_a_json_object_is_refused(sim: RazorpaySim) -> None:
    headers = {"authorization": AUTH}
    reply = await sim.handle(SimRequest("POST", "/v1/orders", {}, headers, b"[1, 2]"))
    assert reply.status == 400
    reply = await sim.handle(SimRequest("POST", "/v1/orders", {}, headers, b"{oops"))
    assert reply.status == 400


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"contact": "12"}, "contact"),
        ({"method": "upi"}, "method"),
        ({"card": None}, "card"),
        ({"card": {**CARD, "number": "4242"}}, "card.number"),
        ({"card": {**CARD, "expiry_month": "13"}}, "card.expiry_month"),
        ({"card": {**CARD, "expiry_year": "203"}}, "card.expiry_year"),
        ({"card": {**CARD, "cvv": "12"}}, "card.cvv"),
        ({"card": {**CARD, "pin": "1234"}}, "card"),
        ({"amount": 40_000}, "amount"),
        ({"amount": 50_000, "currency": "USD"}, "currency"),
        ({"order_id": "order_missing"}, "order_id"),
        ({"token": "token_x"}, "card"),
        ({"wallet": "x"}, "wallet"),
    ],
)
async def test_bad_payment_fields_are_refused_without_echoing_the_card(
    sim: RazorpaySim, fields: dict[str, object], field: str
) -> None:
    created = await order(sim)
    body = {k: v for k, v in payment_body(created["id"], **fields).items() if v is not None}
    status, reply = await send(sim, "POST", "/v1/payments/create/json", body)
    assert (status, reply["error"]["field"]) == (400, field)
    assert CARD["number"] not in json.dumps(reply) and CARD["cvv"] not in reply["error"]["field"]
    snapshot = sim.snapshot()
    assert isinstance(snapshot, dict) and snapshot["payments"] == {}


async def test_a_token_payment_needs_a_customer_id(sim: RazorpaySim) -> None:
    created = await order(sim)
    body = payment_body(created["id"], token="token_Abc")
    del body["card"]
    status, reply = await send(sim, "POST", "/v1/payments/create/json", body)
    assert (status, reply["error"]["field"]) == (400, "customer_id")
    body["customer_id"] = "cust_123"
    status, reply = await send(sim, "POST", "/v1/payments/create/json", body)
    assert status == 200 and reply["razorpay_payment_id"].startswith("pay_")


async def test_the_order_capture_mode_follows_either_spelling(sim: RazorpaySim) -> None:
    manual = await order(sim, payment={"capture": "manual"})
    automatic = await order(sim, payment_capture=1)
    for created, expected in ((manual, "authorized"), (automatic, "captured")):
        _, made = await send(sim, "POST", "/v1/payments/create/json", payment_body(created["id"]))
        _, payment = await send(sim, "GET", f"/v1/payments/{made['razorpay_payment_id']}")
        assert payment["status"] == expected


async def test_reset_forgets_everything(sim: RazorpaySim) -> None:
    await order(sim, receipt="r")
    sim.reset()
    assert sim.snapshot() == {"payments": {}, "orders": {}, "refunds": {}}
    _, listed = await send(sim, "GET", "/v1/orders", query={"receipt": "r"})
    assert listed["count"] == 0


@pytest.mark.parametrize(
    ("status", "code"), [(500, "SERVER_ERROR"), (502, "GATEWAY_ERROR"), (503, "SERVER_ERROR")]
)
def test_fault_replies_use_razorpays_error_body(sim: RazorpaySim, status: int, code: str) -> None:
    reply = sim.fault_reply(status, None)
    assert reply.status == status and "retry-after" not in reply.headers
    assert json.loads(reply.body)["error"]["code"] == code


def test_a_rate_limit_reply_carries_retry_after_in_whole_seconds(sim: RazorpaySim) -> None:
    reply = sim.fault_reply(429, 1.2)
    assert (reply.status, reply.headers["retry-after"]) == (429, "2")
    assert json.loads(reply.body)["error"]["description"] == "Too many requests"
