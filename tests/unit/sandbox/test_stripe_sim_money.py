"""The Stripe simulator's money paths: capture, partial capture, cancel, refunds, fees, state."""

from __future__ import annotations

import pytest

from sandbox.stripe.money import fee_of
from tests.unit.sandbox.test_stripe_sim_support import (
    authorized,
    captured,
    create,
    intent_form,
    new_sim,
    send,
)

EXPAND = {"expand[]": "latest_charge.balance_transaction"}


async def test_a_partial_capture_captures_part_and_releases_the_rest() -> None:
    sim = new_sim()
    intent_id = await authorized(sim, 1000)
    reply = await send(
        sim,
        "POST",
        f"/v1/payment_intents/{intent_id}/capture",
        {"amount_to_capture": 600, **EXPAND},
    )
    assert reply.status == 200, reply.body
    body = reply.body
    assert (body["status"], body["amount_received"], body["amount_capturable"]) == (
        "succeeded",
        600,
        0,
    )
    charge = body["latest_charge"]
    assert (charge["amount_captured"], charge["captured"]) == (600, True)
    # Stripe shows the released 4.00 as refunded, though no refund was made.
    assert (charge["amount_refunded"], charge["refunded"]) == (400, False)
    assert charge["balance_transaction"]["fee"] == fee_of(600) == 47
    assert charge["balance_transaction"]["net"] == 600 - 47


async def test_capture_without_an_amount_captures_everything_capturable() -> None:
    sim = new_sim()
    intent_id = await authorized(sim, 2500)
    reply = await send(sim, "POST", f"/v1/payment_intents/{intent_id}/capture", EXPAND)
    assert reply.body["amount_received"] == 2500
    assert reply.body["latest_charge"]["amount_refunded"] == 0


async def test_automatic_capture_succeeds_at_once_with_a_fee() -> None:
    sim = new_sim()
    reply = await create(sim, intent_form(capture_method="automatic", amount=10_000, **EXPAND))
    assert reply.body["status"] == "succeeded"
    assert reply.body["amount_received"] == 10_000
    assert reply.body["latest_charge"]["balance_transaction"]["fee"] == 290 + 30


@pytest.mark.parametrize(
    ("amount", "code"),
    [(1001, "amount_too_large"), (0, "amount_too_small"), ("x", "parameter_invalid_integer")],
)
async def test_capturing_outside_the_capturable_amount_is_refused(
    amount: object, code: str
) -> None:
    sim = new_sim()
    intent_id = await authorized(sim, 1000)
    path = f"/v1/payment_intents/{intent_id}/capture"
    reply = await send(sim, "POST", path, {"amount_to_capture": amount})
    assert reply.status == 400
    assert (reply.error["code"], reply.error["param"]) == (code, "amount_to_capture")
    assert sim.store.intents[intent_id].status == "requires_capture"


async def test_canceling_an_authorization_releases_it_in_full() -> None:
    sim = new_sim()
    intent_id = await authorized(sim, 1000)
    reply = await send(
        sim,
        "POST",
        f"/v1/payment_intents/{intent_id}/cancel",
        {"cancellation_reason": "requested_by_customer", **EXPAND},
    )
    assert reply.body["status"] == "canceled"
    assert reply.body["cancellation_reason"] == "requested_by_customer"
    assert reply.body["canceled_at"] is not None
    charge = reply.body["latest_charge"]
    assert (charge["captured"], charge["amount_refunded"], charge["refunded"]) == (
        False,
        1000,
        True,
    )
    assert charge["balance_transaction"] is None


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("capture", "Only a PaymentIntent with status requires_capture may be captured."),
        ("cancel", "Only a PaymentIntent with one of the following statuses may be canceled"),
        ("confirm", "Only a PaymentIntent with one of the following statuses may be confirmed"),
    ],
)
async def test_changes_a_captured_intent_cannot_take_are_refused(action: str, message: str) -> None:
    sim = new_sim()
    intent_id = await captured(sim)
    reply = await send(sim, "POST", f"/v1/payment_intents/{intent_id}/{action}")
    assert reply.status == 400
    assert reply.error["code"] == "payment_intent_unexpected_state"
    assert reply.error["message"].startswith(
        f"You cannot {action} this PaymentIntent because it has a status of succeeded."
    )
    assert message in reply.error["message"]


async def test_a_canceled_intent_cannot_be_captured_or_canceled_again() -> None:
    sim = new_sim()
    intent_id = await authorized(sim)
    await send(sim, "POST", f"/v1/payment_intents/{intent_id}/cancel")
    for action in ("capture", "cancel"):
        reply = await send(sim, "POST", f"/v1/payment_intents/{intent_id}/{action}")
        assert reply.error["code"] == "payment_intent_unexpected_state"


async def test_several_partial_refunds_up_to_the_captured_amount() -> None:
    sim = new_sim()
    intent_id = await authorized(sim, 1000)
    await send(sim, "POST", f"/v1/payment_intents/{intent_id}/capture", {"amount_to_capture": 600})
    first = await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 250})
    second = await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 350})
    assert (first.status, second.status) == (200, 200)
    assert first.body["status"] == "succeeded" and first.body["id"].startswith("re_")
    assert first.body["payment_intent"] == intent_id
    after = await send(
        sim, "GET", f"/v1/payment_intents/{intent_id}", query={"expand[]": "latest_charge"}
    )
    charge = after.body["latest_charge"]
    assert (charge["amount_refunded"], charge["refunded"]) == (1000, True)
    assert [r["amount"] for r in charge["refunds"]["data"]] == [350, 250]
    fetched = await send(sim, "GET", f"/v1/refunds/{first.body['id']}")
    assert fetched.raw == first.raw


async def test_an_over_refund_is_refused_with_stripes_error() -> None:
    sim = new_sim()
    intent_id = await captured(sim, 1000)
    await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 700})
    over = await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 301})
    assert over.status == 400
    assert (over.error["code"], over.error["param"]) == ("amount_too_large", "amount")
    assert "greater than unrefunded amount on charge (300 usd)" in over.error["message"]
    rest = await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id})
    assert rest.body["amount"] == 300
    again = await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 1})
    assert again.error["code"] == "charge_already_refunded"


@pytest.mark.parametrize(
    ("form", "code", "status"),
    [
        ({}, "parameter_missing", 400),
        ({"payment_intent": "pi_missing"}, "resource_missing", 400),
        ({"charge": "ch_missing"}, "resource_missing", 400),
        ({"payment_intent": "pi_x", "charge": "ch_x"}, "parameters_exclusive", 400),
    ],
)
async def test_a_refund_of_nothing_is_refused(form: dict[str, str], code: str, status: int) -> None:
    reply = await send(new_sim(), "POST", "/v1/refunds", form)
    assert (reply.status, reply.error["code"]) == (status, code)


async def test_an_uncaptured_authorization_cannot_be_refunded() -> None:
    sim = new_sim()
    intent_id = await authorized(sim)
    reply = await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id})
    assert reply.error["code"] == "charge_not_refundable"


async def test_refunds_are_listed_by_payment_intent() -> None:
    sim = new_sim()
    intent_id = await captured(sim)
    other = await captured(sim)
    for target in (intent_id, intent_id, other):
        await send(sim, "POST", "/v1/refunds", {"payment_intent": target, "amount": 100})
    listed = await send(sim, "GET", "/v1/refunds", query={"payment_intent": intent_id})
    assert listed.body["object"] == "list"
    assert [r["payment_intent"] for r in listed.body["data"]] == [intent_id, intent_id]


async def test_the_snapshot_shows_every_payment_and_refund() -> None:
    sim = new_sim()
    intent_id = await authorized(sim, 1000)
    await send(sim, "POST", f"/v1/payment_intents/{intent_id}/capture", {"amount_to_capture": 800})
    await send(sim, "POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 300})
    await create(sim, intent_form(payment_method="pm_card_chargeDeclined"))
    snapshot = sim.snapshot()
    payment = snapshot["payments"][intent_id]  # type: ignore[index]
    assert {
        k: payment[k] for k in ("status", "authorized", "captured", "released", "refunded")
    } == {
        "status": "succeeded",
        "authorized": 1000,
        "captured": 800,
        "released": 200,
        "refunded": 300,
    }
    assert payment["fee"] == fee_of(800)
    declined = [p for p in snapshot["payments"].values() if p["status"] != "succeeded"]  # type: ignore[attr-defined]
    assert declined[0]["authorized"] == 0 and declined[0]["captured"] == 0
    assert len(snapshot["refunds"]) == 1  # type: ignore[arg-type]


async def test_reset_forgets_everything() -> None:
    sim = new_sim()
    intent_id = await captured(sim)
    await create(sim, key="before-reset")
    assert sim.snapshot()["idempotency_keys"] == 1
    sim.reset()
    assert sim.snapshot() == {"payments": {}, "refunds": {}, "idempotency_keys": 0}
    reply = await send(sim, "GET", f"/v1/payment_intents/{intent_id}")
    assert reply.status == 404


@pytest.mark.parametrize(
    ("currency", "amount"),
    [("jpy", 500), ("kwd", 1230), ("isk", 50_000), ("mga", 5000), ("eur", 50)],
)
async def test_stripes_currency_units_are_accepted(currency: str, amount: int) -> None:
    reply = await create(new_sim(), intent_form(currency=currency, amount=amount))
    assert reply.status == 200, reply.body
    assert reply.body["amount"] == amount


async def test_an_upper_case_currency_is_stored_lower_case() -> None:
    reply = await create(new_sim(), intent_form(currency="EUR"))
    assert reply.body["currency"] == "eur"
