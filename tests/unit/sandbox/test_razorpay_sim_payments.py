"""The Razorpay simulator's payments called directly: cards, 3DS, capture, refunds, lapse."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest
from sandbox.razorpay import RazorpaySim
from sandbox.razorpay.threeds import signature

CONFIG = SandboxConfig(public_url="https://127.0.0.1:8443")
AUTH = (
    "Basic "
    + base64.b64encode(f"{CONFIG.razorpay_key_id}:{CONFIG.razorpay_key_secret}".encode()).decode()
)
VISA = "4242424242424242"


async def send(
    sim: RazorpaySim,
    method: str,
    path: str,
    body: object = None,
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, bytes]:
    merged = {"authorization": AUTH, "content-type": "application/json", **(headers or {})}
    raw = b"" if body is None else json.dumps(body).encode()
    reply = await sim.handle(SimRequest(method, path, {}, merged, raw))
    return reply.status, json.loads(reply.body), reply.body


async def pay(
    sim: RazorpaySim, number: str = VISA, *, capture: bool = False, amount: int = 50_000
) -> tuple[int, Any]:
    """An order and a card payment on it: (status, reply of create/json)."""
    _, created, _ = await send(
        sim,
        "POST",
        "/v1/orders",
        {"amount": amount, "currency": "INR", "receipt": "r", "payment_capture": capture},
    )
    card = {"number": number, "expiry_month": "12", "expiry_year": "30", "cvv": "123"}
    body = {
        "amount": amount,
        "currency": "INR",
        "order_id": created["id"],
        "email": "a@example.com",
        "contact": "9000090000",
        "method": "card",
        "card": card,
    }
    status, reply, _ = await send(sim, "POST", "/v1/payments/create/json", body)
    return status, reply


async def authorized(sim: RazorpaySim, *, capture: bool = False) -> str:
    status, reply = await pay(sim, capture=capture)
    assert status == 200 and "next" not in reply
    return str(reply["razorpay_payment_id"])


async def payment(sim: RazorpaySim, payment_id: str) -> dict[str, Any]:
    status, body, _ = await send(sim, "GET", f"/v1/payments/{payment_id}")
    assert status == 200
    return dict(body)


@pytest.fixture
def sim() -> RazorpaySim:
    return RazorpaySim(CONFIG)


async def test_a_success_card_authorizes_and_the_order_is_attempted(sim: RazorpaySim) -> None:
    payment_id = await authorized(sim)
    entity = await payment(sim, payment_id)
    assert (entity["status"], entity["captured"], entity["fee"]) == ("authorized", False, None)
    assert VISA not in json.dumps(entity)
    _, order, _ = await send(sim, "GET", f"/v1/orders/{entity['order_id']}")
    assert (order["status"], order["attempts"]) == ("attempted", 1)


SHARED_CARDS = [
    ("4000000000000002", "card_declined", "BAD_REQUEST_ERROR"),
    ("4000000000009995", "insufficient_funds", "BAD_REQUEST_ERROR"),
    ("4000000000009987", "debit_instrument_blocked", "BAD_REQUEST_ERROR"),
    ("4000000000009979", "payment_risk_check_failed", "BAD_REQUEST_ERROR"),
    ("4000000000000069", "card_expired", "BAD_REQUEST_ERROR"),
    ("4000000000000127", "incorrect_cvv", "BAD_REQUEST_ERROR"),
    ("4000000000000119", "gateway_technical_error", "GATEWAY_ERROR"),
    ("4242424242424241", "card_number_invalid", "BAD_REQUEST_ERROR"),
    ("4100280000090000", "payment_timed_out", "BAD_REQUEST_ERROR"),
    ("5305620000050001", "insufficient_funds", "BAD_REQUEST_ERROR"),
    ("4100280000070002", "payment_cancelled", "BAD_REQUEST_ERROR"),
    ("4100280000050004", "card_declined", "BAD_REQUEST_ERROR"),
    ("5305620000000006", "card_disabled_for_online_payments", "BAD_REQUEST_ERROR"),
    ("5305620000080008", "card_number_invalid", "BAD_REQUEST_ERROR"),
    ("4100280000020007", "gateway_technical_error", "GATEWAY_ERROR"),
    ("5305620000070009", "authentication_failed", "GATEWAY_ERROR"),
]


@pytest.mark.parametrize(("number", "reason", "code"), SHARED_CARDS)
async def test_each_failing_card_fails_its_payment_with_razorpays_reason(
    sim: RazorpaySim, number: str, reason: str, code: str
) -> None:
    status, reply = await pay(sim, number)
    error = reply["error"]
    assert (status, error["reason"], error["code"]) == (400, reason, code)
    assert error["metadata"]["payment_id"].startswith("pay_")
    entity = await payment(sim, error["metadata"]["payment_id"])
    assert (entity["status"], entity["error_reason"], entity["error_code"]) == (
        "failed",
        reason,
        code,
    )
    assert entity["error_description"] == error["description"]


@pytest.mark.parametrize(
    "number", ["5555555555554444", "4100280000001007", "36082800091007", "340256000401007"]
)
async def test_success_cards_of_every_network_authorize(sim: RazorpaySim, number: str) -> None:
    status, reply = await pay(sim, number)
    assert status == 200
    assert (await payment(sim, reply["razorpay_payment_id"]))["status"] == "authorized"


async def test_a_3ds_card_waits_for_the_bank_page_then_authorizes(sim: RazorpaySim) -> None:
    status, reply = await pay(sim, "4000002500003155")
    assert status == 200
    payment_id = reply["razorpay_payment_id"]
    [action] = reply["next"]
    short = payment_id.removeprefix("pay_")
    assert action == {
        "action": "redirect",
        "url": f"https://127.0.0.1:8443/razorpay/v1/payments/{short}/authenticate",
    }
    assert (await payment(sim, payment_id))["status"] == "created"
    page = await sim.handle(SimRequest("GET", f"/v1/payments/{short}/authenticate", {}, {}, b""))
    assert page.status == 200 and b"Failure" in page.body
    done = await sim.handle(
        SimRequest("POST", f"/v1/payments/{short}/authenticate", {}, {}, b"outcome=success")
    )
    callback = json.loads(done.body)
    entity = await payment(sim, payment_id)
    assert entity["status"] == "authorized"
    expected = signature(CONFIG.razorpay_key_secret, entity["order_id"], payment_id)
    assert callback["razorpay_signature"] == expected
    again = await sim.handle(
        SimRequest("POST", f"/v1/payments/{short}/authenticate", {}, {}, b"outcome=failure")
    )
    assert again.status == 400 and (await payment(sim, payment_id))["status"] == "authorized"


async def test_a_failed_3ds_fails_the_payment_with_authentication_failed(sim: RazorpaySim) -> None:
    _, reply = await pay(sim, "4000002500003155")
    payment_id = reply["razorpay_payment_id"]
    headers = {"content-type": "application/json"}
    done = await sim.handle(
        SimRequest(
            "POST", f"/v1/payments/{payment_id}/authenticate", {}, headers, b'{"outcome":"failure"}'
        )
    )
    assert done.status == 400
    assert (await payment(sim, payment_id))["error_reason"] == "authentication_failed"


async def test_capture_takes_exactly_the_authorized_amount_once(sim: RazorpaySim) -> None:
    payment_id = await authorized(sim)
    path = f"/v1/payments/{payment_id}/capture"
    status, partial, _ = await send(sim, "POST", path, {"amount": 20_000, "currency": "INR"})
    assert (status, partial["error"]["field"]) == (400, "amount")
    assert (
        partial["error"]["description"] == "Capture amount must be equal to the amount authorized"
    )
    status, captured, _ = await send(sim, "POST", path, {"amount": 50_000, "currency": "INR"})
    assert (status, captured["status"], captured["captured"]) == (200, "captured", True)
    # 2% of 50000 = 1000, plus 18% GST = 180.
    assert (captured["fee"], captured["tax"]) == (1_180, 180)
    status, again, _ = await send(sim, "POST", path, {"amount": 50_000, "currency": "INR"})
    assert (status, again["error"]["description"]) == (
        400,
        "This payment has already been captured",
    )
    _, order, _ = await send(sim, "GET", f"/v1/orders/{captured['order_id']}")
    assert (order["status"], order["amount_paid"], order["amount_due"]) == ("paid", 50_000, 0)


async def test_a_paid_order_takes_no_further_payment(sim: RazorpaySim) -> None:
    payment_id = await authorized(sim, capture=True)
    order_id = (await payment(sim, payment_id))["order_id"]
    card = {"number": VISA, "expiry_month": "12", "expiry_year": "30", "cvv": "123"}
    body = {
        "amount": 50_000,
        "currency": "INR",
        "order_id": order_id,
        "email": "a@example.com",
        "contact": "9000090000",
        "method": "card",
        "card": card,
    }
    status, reply, _ = await send(sim, "POST", "/v1/payments/create/json", body)
    assert status == 400 and "already paid" in reply["error"]["description"]


@pytest.mark.parametrize("number", ["4000000000000002", "4000002500003155"])
async def test_only_an_authorized_payment_can_be_captured(sim: RazorpaySim, number: str) -> None:
    _, reply = await pay(sim, number)
    payment_id = reply.get("razorpay_payment_id") or reply["error"]["metadata"]["payment_id"]
    status, body, _ = await send(
        sim, "POST", f"/v1/payments/{payment_id}/capture", {"amount": 50_000, "currency": "INR"}
    )
    assert status == 400 and "authorized" in body["error"]["description"]


async def test_partial_refunds_add_up_to_the_captured_amount_and_no_further(
    sim: RazorpaySim,
) -> None:
    payment_id = await authorized(sim, capture=True)
    path = f"/v1/payments/{payment_id}/refund"
    status, first, _ = await send(sim, "POST", path, {"amount": 20_000})
    assert (status, first["status"], first["payment_id"]) == (200, "processed", payment_id)
    status, over, _ = await send(sim, "POST", path, {"amount": 30_001})
    assert (status, over["error"]["field"]) == (400, "amount")
    status, rest, _ = await send(sim, "POST", path, {})
    assert (status, rest["amount"]) == (200, 30_000)
    entity = await payment(sim, payment_id)
    assert (entity["status"], entity["amount_refunded"], entity["refund_status"]) == (
        "refunded",
        50_000,
        "full",
    )
    status, done, _ = await send(sim, "POST", path, {"amount": 100})
    assert (status, done["error"]["description"]) == (
        400,
        "The payment has been fully refunded already",
    )
    _, listed, _ = await send(sim, "GET", f"/v1/payments/{payment_id}/refunds")
    assert [r["id"] for r in listed["items"]] == [rest["id"], first["id"]]
    _, fetched, _ = await send(sim, "GET", f"/v1/refunds/{first['id']}")
    assert fetched == first


async def test_an_uncaptured_payment_cannot_be_refunded(sim: RazorpaySim) -> None:
    payment_id = await authorized(sim)
    status, body, _ = await send(sim, "POST", f"/v1/payments/{payment_id}/refund", {})
    assert (status, body["error"]["description"]) == (
        400,
        "The payment status should be captured for action to be taken",
    )


async def test_a_refund_key_replays_the_first_reply_and_refuses_another_request(
    sim: RazorpaySim,
) -> None:
    payment_id = await authorized(sim, capture=True)
    path = f"/v1/payments/{payment_id}/refund"
    key = {"x-refund-idempotency": "refund-key-0001"}
    status, first, raw = await send(sim, "POST", path, {"amount": 1_000}, headers=key)
    assert (status, first["amount"]) == (200, 1_000)
    _, _, replay = await send(sim, "POST", path, {"amount": 1_000}, headers=key)
    assert replay == raw
    status, other, _ = await send(sim, "POST", path, {"amount": 2_000}, headers=key)
    assert status == 409 and "Different request" in other["error"]["description"]
    assert (await payment(sim, payment_id))["amount_refunded"] == 1_000
    # Errors are replayed too.
    error_key = {"x-refund-idempotency": "refund-key-0002"}
    _, _, refused = await send(sim, "POST", path, {"amount": 60_000}, headers=error_key)
    _, _, refused_again = await send(sim, "POST", path, {"amount": 60_000}, headers=error_key)
    assert refused_again == refused and b"greater than amount captured" in refused


@pytest.mark.parametrize("key", ["short", "has spaces in it", "semi;colon;key"])
async def test_malformed_refund_keys_are_refused(sim: RazorpaySim, key: str) -> None:
    payment_id = await authorized(sim, capture=True)
    status, body, _ = await send(
        sim, "POST", f"/v1/payments/{payment_id}/refund", {}, headers={"x-refund-idempotency": key}
    )
    assert status == 400 and "idempotency key" in body["error"]["description"]


async def test_an_authorization_lapses_into_an_automatic_refund(sim: RazorpaySim) -> None:
    payment_id = await authorized(sim)
    status, lapsed, _ = await send(sim, "POST", f"/_sandbox/payments/{payment_id}/lapse")
    assert status == 200
    assert (lapsed["status"], lapsed["captured"], lapsed["amount_refunded"]) == (
        "refunded",
        False,
        50_000,
    )
    status, again, _ = await send(sim, "POST", f"/_sandbox/payments/{payment_id}/lapse")
    assert status == 400 and "can lapse" in again["error"]["description"]
    snapshot = sim.snapshot()
    assert isinstance(snapshot, dict)
    view = snapshot["payments"][payment_id]
    assert (view["authorized"], view["captured"], view["auto_refunded"]) == (50_000, 0, True)


async def test_the_capture_window_ends_on_its_own(sim: RazorpaySim) -> None:
    short_window = RazorpaySim(CONFIG, auth_window_s=0.0)
    payment_id = await authorized(short_window)
    assert (await payment(short_window, payment_id))["status"] == "refunded"


async def test_the_order_lists_its_payments_in_the_order_they_were_made(sim: RazorpaySim) -> None:
    _, failed = await pay(sim, "4000000000000002")
    order_id = failed["error"]["metadata"]["order_id"]
    card = {"number": VISA, "expiry_month": "12", "expiry_year": "30", "cvv": "123"}
    retry = {
        "amount": 50_000,
        "currency": "INR",
        "order_id": order_id,
        "email": "a@example.com",
        "contact": "9000090000",
        "method": "card",
        "card": card,
    }
    _, second, _ = await send(sim, "POST", "/v1/payments/create/json", retry)
    _, listed, _ = await send(sim, "GET", f"/v1/orders/{order_id}/payments")
    assert [p["status"] for p in listed["items"]] == ["failed", "authorized"]
    assert listed["items"][1]["id"] == second["razorpay_payment_id"]


async def test_the_snapshot_shows_amounts_and_fee_per_payment(sim: RazorpaySim) -> None:
    payment_id = await authorized(sim, capture=True)
    await send(sim, "POST", f"/v1/payments/{payment_id}/refund", {"amount": 5_000})
    snapshot = sim.snapshot()
    assert isinstance(snapshot, dict)
    view = snapshot["payments"][payment_id]
    assert {k: view[k] for k in ("status", "authorized", "captured", "refunded", "fee")} == {
        "status": "captured",
        "authorized": 50_000,
        "captured": 50_000,
        "refunded": 5_000,
        "fee": 1_180,
    }
    json.dumps(snapshot)
