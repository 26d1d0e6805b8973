"""The Stripe simulator's test cards: every outcome by token and by number, card checks, 3DS."""

from __future__ import annotations

import pytest

from sandbox import cards
from sandbox.cards import CARDS, Outcome
from tests.unit.sandbox.test_stripe_sim_support import (
    CONFIG,
    NEXT_YEARS,
    action_params,
    card_form,
    create,
    intent_form,
    new_sim,
    send,
)

# Outcome -> (code, decline_code, message) as Stripe documents them for its test cards.
STRIPE_DECLINES = {
    Outcome.GENERIC_DECLINE: ("card_declined", "generic_decline", "Your card was declined."),
    Outcome.INSUFFICIENT_FUNDS: (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    Outcome.LOST_CARD: ("card_declined", "lost_card", "Your card was declined."),
    Outcome.STOLEN_CARD: ("card_declined", "stolen_card", "Your card was declined."),
    Outcome.EXPIRED_CARD: ("expired_card", "expired_card", "Your card has expired."),
    Outcome.INCORRECT_CVC: (
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    Outcome.PROCESSING_ERROR: (
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}
DECLINING = [card for card in CARDS if card.outcome in STRIPE_DECLINES]
SUCCEEDING = [card for card in CARDS if card.outcome is Outcome.SUCCESS]


def _ids(card: cards.TestCard) -> str:
    return getattr(card, "number", "")


@pytest.mark.parametrize("card", SUCCEEDING, ids=_ids)
async def test_every_approving_test_number_authorizes(card: cards.TestCard) -> None:
    number = card.number
    reply = await create(new_sim(), card_form(number))
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "requires_capture"
    assert reply.body["amount_capturable"] == 1000


@pytest.mark.parametrize("card", DECLINING, ids=_ids)
@pytest.mark.parametrize("by", ["number", "token"])
async def test_every_declining_test_card_gives_stripes_card_error(
    card: cards.TestCard, by: str
) -> None:
    sim = new_sim()
    outcome = card.outcome
    form = card_form(card.number)
    if by == "token":
        form = intent_form(payment_method=card.stripe_token)
    reply = await create(sim, form)
    code, decline_code, message = STRIPE_DECLINES[outcome]
    assert reply.status == 402
    assert reply.error["type"] == "card_error"
    assert (reply.error["code"], reply.error["decline_code"]) == (code, decline_code)
    assert reply.error["message"] == message
    intent = reply.error["payment_intent"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["decline_code"] == decline_code
    assert intent["latest_charge"] == reply.error["charge"]
    charge = sim.store.charges[reply.error["charge"]]
    assert charge.status == "failed" and charge.failure is not None
    assert charge.failure.code == code


@pytest.mark.parametrize(
    ("card_fields", "code", "param"),
    [
        ({"number": "4242424242424241"}, "incorrect_number", "number"),
        ({"exp_month": "13"}, "invalid_expiry_month", "exp_month"),
        ({"exp_year": "2001"}, "invalid_expiry_year", "exp_year"),
        ({"cvc": "12a"}, "invalid_cvc", "cvc"),
    ],
)
async def test_a_bad_card_is_a_card_error_without_a_charge(
    card_fields: dict[str, str], code: str, param: str
) -> None:
    sim = new_sim()
    form = card_form(**{f"payment_method_data[card][{k}]": v for k, v in card_fields.items()})
    reply = await create(sim, form)
    assert reply.status == 402
    assert (reply.error["code"], reply.error["param"]) == (code, param)
    assert "decline_code" not in reply.error and "charge" not in reply.error
    assert sim.store.charges == {}


@pytest.mark.parametrize(
    ("field", "code"),
    [("number", "parameter_missing"), ("exp_month", "parameter_missing")],
)
async def test_missing_card_fields_are_refused_as_parameters(field: str, code: str) -> None:
    form = card_form()
    del form[f"payment_method_data[card][{field}]"]
    reply = await create(new_sim(), form)
    assert reply.status == 400
    assert (reply.error["code"], reply.error["param"]) == (
        code,
        f"payment_method_data[card][{field}]",
    )


@pytest.mark.parametrize(
    ("token", "status", "decline_code"),
    [
        ("pm_card_amex", "requires_capture", None),
        ("pm_card_visa_debit", "requires_capture", None),
        ("pm_card_radarBlock", "requires_payment_method", "fraudulent"),
        ("pm_card_authenticationRequired", "requires_action", None),
    ],
)
async def test_stripes_own_extra_test_tokens(
    token: str, status: str, decline_code: str | None
) -> None:
    reply = await create(new_sim(), intent_form(payment_method=token))
    intent = reply.error["payment_intent"] if reply.status == 402 else reply.body
    assert intent["status"] == status
    if decline_code:
        assert reply.error["decline_code"] == decline_code


async def test_a_declined_intent_can_be_confirmed_again_with_another_card() -> None:
    sim = new_sim()
    declined = await create(sim, intent_form(payment_method="pm_card_chargeDeclined"))
    intent_id = declined.error["payment_intent"]["id"]
    reply = await send(
        sim, "POST", f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": "pm_card_visa"}
    )
    assert reply.status == 200
    assert reply.body["status"] == "requires_capture"
    assert reply.body["last_payment_error"] is None


async def test_3ds_asks_for_action_through_the_sdk_without_a_return_url() -> None:
    sim = new_sim()
    reply = await create(sim, card_form("4000002500003155"))
    assert reply.status == 200
    assert reply.body["status"] == "requires_action"
    action = reply.body["next_action"]
    assert action["type"] == "use_stripe_sdk"
    url = action["use_stripe_sdk"]["stripe_js"]
    assert url.startswith(f"{CONFIG.public_url}/stripe/3d_secure_2/hosted?")
    assert action_params(url)["payment_intent"] == reply.body["id"]
    assert sim.store.charges == {}


async def test_3ds_redirects_when_a_return_url_is_given() -> None:
    form = intent_form(
        payment_method="pm_card_threeDSecure2Required", return_url="https://shop.test/back"
    )
    reply = await create(new_sim(), form)
    action = reply.body["next_action"]
    assert action["type"] == "redirect_to_url"
    assert action["redirect_to_url"]["return_url"] == "https://shop.test/back"
    assert "/stripe/3d_secure_2/hosted?" in action["redirect_to_url"]["url"]


async def test_completing_3ds_authorizes_and_redirects_back() -> None:
    sim = new_sim()
    form = intent_form(
        payment_method="pm_card_threeDSecure2Required", return_url="https://shop.test/back"
    )
    intent = (await create(sim, form)).body
    params = action_params(intent["next_action"]["redirect_to_url"]["url"])
    page = await send(sim, "GET", "/3d_secure_2/hosted", query=params, auth=None)
    assert page.status == 200 and b"Complete authentication" in page.raw
    done = await send(
        sim, "POST", "/3d_secure_2/hosted", {**params, "outcome": "complete"}, auth=None
    )
    assert done.status == 302
    assert done.headers["location"].startswith("https://shop.test/back?payment_intent=")
    assert "redirect_status=succeeded" in done.headers["location"]
    after = await send(
        sim, "GET", f"/v1/payment_intents/{intent['id']}", query={"expand[]": "latest_charge"}
    )
    assert after.body["status"] == "requires_capture"
    assert after.body["latest_charge"]["payment_method_details"]["card"]["three_d_secure"]


async def test_failing_3ds_declines_with_an_authentication_failure() -> None:
    sim = new_sim()
    intent = (await create(sim, intent_form(payment_method="pm_card_threeDSecure2Required"))).body
    params = action_params(intent["next_action"]["use_stripe_sdk"]["stripe_js"])
    done = await send(sim, "POST", "/3d_secure_2/hosted", {**params, "outcome": "fail"}, auth=None)
    assert done.status == 200 and done.body["redirect_status"] == "failed"
    after = (await send(sim, "GET", f"/v1/payment_intents/{intent['id']}")).body
    assert after["status"] == "requires_payment_method"
    assert after["last_payment_error"]["code"] == "payment_intent_authentication_failure"


async def test_the_3ds_page_needs_the_client_secret() -> None:
    sim = new_sim()
    intent = (await create(sim, intent_form(payment_method="pm_card_threeDSecure2Required"))).body
    form = {"payment_intent": intent["id"], "client_secret": "guess", "outcome": "complete"}
    reply = await send(sim, "POST", "/3d_secure_2/hosted", form, auth=None)
    assert reply.status == 404
    assert sim.store.intents[intent["id"]].status == "requires_action"


async def test_error_on_requires_action_declines_instead_of_asking() -> None:
    form = intent_form(
        payment_method="pm_card_threeDSecure2Required", error_on_requires_action="true"
    )
    reply = await create(new_sim(), form)
    assert reply.status == 402
    assert reply.error["code"] == "authentication_required"


async def test_an_expiry_two_digit_year_is_read_as_this_century() -> None:
    form = card_form(**{"payment_method_data[card][exp_year]": str(NEXT_YEARS % 100)})
    reply = await create(new_sim(), form)
    assert reply.status == 200, reply.body
