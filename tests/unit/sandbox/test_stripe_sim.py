"""The Stripe simulator called directly: credentials, routing, request shapes and objects."""

from __future__ import annotations

import base64

import pytest

from tests.unit.sandbox.test_stripe_sim_support import (
    CONFIG,
    create,
    intent_form,
    new_sim,
    send,
)


def _fields(text: str) -> set[str]:
    return set(text.split())


# Top-level fields of Stripe's objects as stripe/openapi's fixtures3.json has them
# (/work/shared/reference/stripe-fixtures.json), so a client finds every field it expects.
PAYMENT_INTENT_FIELDS = _fields(
    """amount amount_capturable amount_details amount_received application
    application_fee_amount automatic_payment_methods canceled_at cancellation_reason
    capture_method client_secret confirmation_method created currency customer description id
    last_payment_error latest_charge livemode metadata next_action object on_behalf_of
    payment_method payment_method_configuration_details payment_method_options
    payment_method_types processing receipt_email review setup_future_usage shipping
    statement_descriptor statement_descriptor_suffix status transfer_data transfer_group source
    excluded_payment_method_types customer_account managed_payments"""
)
CHARGE_FIELDS = _fields(
    """amount amount_captured amount_refunded application application_fee
    application_fee_amount balance_transaction billing_details calculated_statement_descriptor
    captured created currency customer description disputed failure_balance_transaction
    failure_code failure_message fraud_details id livemode metadata object on_behalf_of outcome
    paid payment_intent payment_method payment_method_details receipt_email receipt_number
    receipt_url refunded refunds review shipping source source_transfer statement_descriptor
    statement_descriptor_suffix status transfer_data transfer_group"""
)
REFUND_FIELDS = _fields(
    """amount balance_transaction charge created currency destination_details id metadata object
    payment_intent reason receipt_number source_transfer_reversal status transfer_reversal
    customer customer_account payment_method"""
)
PAYMENT_METHOD_FIELDS = _fields(
    """allow_redisplay billing_details card created customer id livemode metadata object type
    customer_account"""
)


def test_the_simulator_is_mounted_as_stripe() -> None:
    assert new_sim().name == "stripe"


@pytest.mark.parametrize(
    ("auth", "message_start"),
    [
        (None, "You did not provide an API key."),
        ("Bearer ", "You did not provide an API key."),
        ("Bearer sk_test_someone_elses_key_1234", "Invalid API Key provided: sk_test_"),
        ("Basic " + base64.b64encode(b"sk_test_wrong_key_abcd:").decode(), "Invalid API Key"),
    ],
)
async def test_a_missing_or_wrong_key_is_refused_with_401(
    auth: str | None, message_start: str
) -> None:
    sim = new_sim()
    reply = await send(sim, "POST", "/v1/payment_intents", intent_form(), auth=auth)
    assert reply.status == 401
    assert reply.error["type"] == "invalid_request_error"
    assert reply.error["message"].startswith(message_start)
    assert sim.store.intents == {}


async def test_a_wrong_key_is_masked_in_the_message() -> None:
    reply = await send(
        new_sim(), "GET", "/v1/payment_intents/pi_x", auth="Bearer sk_test_secretvalue_9876"
    )
    assert "secretvalue" not in reply.error["message"]
    assert reply.error["message"].endswith("9876")


async def test_the_key_is_also_accepted_as_the_basic_auth_user() -> None:
    basic = base64.b64encode(f"{CONFIG.stripe_secret_key}:".encode()).decode()
    reply = await send(
        new_sim(), "POST", "/v1/payment_intents", intent_form(), auth=f"Basic {basic}"
    )
    assert reply.status == 200


async def test_every_reply_carries_a_request_id_and_the_api_version() -> None:
    reply = await create(new_sim(), headers={"stripe-version": "2023-10-16"})
    assert reply.headers["request-id"].startswith("req_")
    assert reply.headers["stripe-version"] == "2023-10-16"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/customers"),
        ("DELETE", "/v1/payment_intents/pi_1"),
        ("POST", "/v1/payment_intents/pi_1/explode"),
        ("PUT", "/v1/refunds"),
    ],
)
async def test_an_unknown_url_is_stripes_404(method: str, path: str) -> None:
    reply = await send(new_sim(), method, path)
    assert reply.status == 404
    assert reply.error["message"].startswith(f"Unrecognized request URL ({method}: {path})")


async def test_an_unknown_payment_intent_is_resource_missing() -> None:
    reply = await send(new_sim(), "GET", "/v1/payment_intents/pi_nothing")
    assert reply.status == 404
    assert reply.error["code"] == "resource_missing"
    assert reply.error["message"] == "No such payment_intent: 'pi_nothing'"


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"amount": None}, "parameter_missing", "amount"),
        ({"currency": None}, "parameter_missing", "currency"),
        ({"amount": "ten"}, "parameter_invalid_integer", "amount"),
        ({"amount": 49}, "amount_too_small", "amount"),
        ({"amount": 100_000_000}, "amount_too_large", "amount"),
        ({"currency": "xyz"}, None, "currency"),
        ({"currency": "kwd", "amount": 1005}, "invalid_charge_amount", "amount"),
        (
            {"currency": "isk", "amount": 150},
            "invalid_charge_amount_no_decimal_compatible",
            "amount",
        ),
        ({"capture_method": "later"}, None, "capture_method"),
        ({"confirm": "yes"}, None, "confirm"),
        ({"surprise": "1"}, "parameter_unknown", "surprise"),
        ({"payment_method": None}, "parameter_missing", "payment_method"),
        ({"payment_method": "pm_card_nonexistent"}, "resource_missing", "payment_method"),
        ({"metadata[" + "k" * 41 + "]": "v"}, None, "metadata[" + "k" * 41 + "]"),
        ({"payment_method_data[type]": "card"}, "parameters_exclusive", "payment_method_data"),
        ({"expand[]": "customer"}, None, "expand"),
        ({"return_url": "not a url"}, "url_invalid", "return_url"),
    ],
)
async def test_a_malformed_create_is_refused_naming_the_field(
    fields: dict[str, object], code: str | None, param: str
) -> None:
    sim = new_sim()
    reply = await create(sim, intent_form(**fields))
    assert reply.status == 400, reply.body
    assert reply.error["type"] == "invalid_request_error"
    assert reply.error.get("code") == code
    assert reply.error["param"] == param
    assert sim.store.intents == {}


async def test_nested_form_keys_are_read_as_stripe_nests_them() -> None:
    sim = new_sim()
    form = [
        *intent_form(confirm="false", capture_method="automatic").items(),
        ("metadata[order]", "42"),
        ("metadata[attempt]", "a-1"),
        ("expand[]", "payment_method"),
    ]
    reply = await create(sim, form)
    assert reply.status == 200, reply.body
    assert reply.body["metadata"] == {"order": "42", "attempt": "a-1"}
    assert reply.body["status"] == "requires_confirmation"
    assert reply.body["payment_method"]["object"] == "payment_method"


async def test_objects_have_the_fields_stripe_returns() -> None:
    sim = new_sim()
    form = intent_form(capture_method="automatic", **{"expand[]": "latest_charge"})
    intent = (await create(sim, form)).body
    assert set(intent) == PAYMENT_INTENT_FIELDS
    assert set(intent["latest_charge"]) == CHARGE_FIELDS
    refund = (await send(sim, "POST", "/v1/refunds", {"payment_intent": intent["id"]})).body
    assert set(refund) == REFUND_FIELDS
    declined = await create(sim, intent_form(payment_method="pm_card_chargeDeclined"))
    assert set(declined.error["payment_method"]) == PAYMENT_METHOD_FIELDS


async def test_ids_have_stripes_prefixes_and_amounts_are_integers() -> None:
    sim = new_sim()
    body = (await create(sim, intent_form(**{"expand[]": "latest_charge"}))).body
    assert body["id"].startswith("pi_") and len(body["id"]) == 27
    assert body["client_secret"].startswith(body["id"] + "_secret_")
    assert body["latest_charge"]["id"].startswith("ch_")
    assert body["payment_method"].startswith("pm_")
    assert body["amount"] == 1000 and body["currency"] == "usd"
    assert body["livemode"] is False


async def test_a_raw_card_number_is_never_kept_or_echoed() -> None:
    sim = new_sim()
    form = intent_form(
        payment_method=None,
        **{
            "payment_method_data[type]": "card",
            "payment_method_data[card][number]": "4000000000009995",
            "payment_method_data[card][exp_month]": "12",
            "payment_method_data[card][exp_year]": "2040",
            "payment_method_data[card][cvc]": "987",
        },
    )
    reply = await create(sim, form)
    assert reply.status == 402
    assert b"4000000000009995" not in reply.raw and b'"987"' not in reply.raw
    assert "4000000000009995" not in repr(sim.store.methods)
    assert reply.error["payment_method"]["card"]["last4"] == "9995"
