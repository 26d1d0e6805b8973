"""The PayPal simulator through ``handle``: credentials, request shape, test cards, 3-D Secure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.sandbox.test_paypal_sim_support import (
    PUBLIC,
    VISA,
    Driver,
    basic,
    issue_of,
    order,
    payments_of,
)

CLIENT, SECRET = "paymesh-sandbox-client", "paymesh-sandbox-secret"
GRANT = b"grant_type=client_credentials"


@pytest.fixture
def pp() -> Driver:
    return Driver()


# -- credentials -------------------------------------------------------------------------


async def test_a_token_is_issued_for_the_configured_client(pp: Driver) -> None:
    reply = await pp.raw(
        "POST",
        "/v1/oauth2/token",
        b"grant_type=client_credentials",
        {"authorization": basic(CLIENT, SECRET)},
    )
    body = json.loads(reply.body)
    assert reply.status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 32400
    assert {"access_token", "app_id", "scope", "nonce"} <= set(body)


@pytest.mark.parametrize(
    ("authorization", "form", "status", "error"),
    [
        (basic(CLIENT, "wrong"), GRANT, 401, "invalid_client"),
        (basic("someone-else", SECRET), GRANT, 401, "invalid_client"),
        ("Bearer abc", GRANT, 401, "invalid_client"),
        ("Basic !!!", GRANT, 401, "invalid_client"),
        (basic(CLIENT, SECRET), b"", 400, "unsupported_grant_type"),
        (basic(CLIENT, SECRET), b"grant_type=password", 400, "unsupported_grant_type"),
    ],
)  # fmt: skip
async def test_the_token_endpoint_refuses_like_paypal(
    pp: Driver, authorization: str, form: bytes, status: int, error: str
) -> None:
    reply = await pp.raw("POST", "/v1/oauth2/token", form, {"authorization": authorization})
    assert reply.status == status
    assert json.loads(reply.body)["error"] == error
    assert pp.sim.tokens_issued == 0


async def test_an_api_call_without_a_bearer_token_is_an_authentication_failure(pp: Driver) -> None:
    reply = await pp.raw("GET", "/v2/checkout/orders/ABC", headers={})
    assert reply.status == 401
    assert json.loads(reply.body)["name"] == "AUTHENTICATION_FAILURE"
    assert "paypal-debug-id" in reply.headers


async def test_an_unknown_token_is_invalid(pp: Driver) -> None:
    reply = await pp.raw("GET", "/v2/checkout/orders/ABC", headers={"authorization": "Bearer x"})
    assert reply.status == 401
    assert json.loads(reply.body)["error"] == "invalid_token"


async def test_a_token_expires_after_the_configured_lifetime(pp: Driver) -> None:
    assert (await pp.get("/v2/checkout/orders/NOPE"))[0] == 404  # the token works
    pp.clock.now += pp.config.paypal_token_ttl_s
    status, body = await pp.get("/v2/checkout/orders/NOPE")
    assert (status, body["error"]) == (401, "invalid_token")
    assert body["error_description"] == "Access Token not found in cache"


# -- request shape -------------------------------------------------------------------------


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target: Any = body
    for key in path[:-1]:
        target = target[key] if isinstance(target, dict) else target[int(key)]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "status", "issue", "field"),
    [
        (_without(order(), "intent"), 400, "MISSING_REQUIRED_PARAMETER", "/intent"),
        ({**order(), "intent": "SALE"}, 400, "INVALID_PARAMETER_VALUE", "/intent"),
        (_without(order(), "purchase_units"), 400, "MISSING_REQUIRED_PARAMETER", "/purchase_units"),
        ({**order(), "purchase_units": [{}, {}]}, 400, "INVALID_ARRAY_MAX_ITEMS",
         "/purchase_units"),
        (_without(order(), "purchase_units", "0", "amount"), 400, "MISSING_REQUIRED_PARAMETER",
         "/purchase_units/@reference_id=='default'/amount"),
        (_without(order(), "purchase_units", "0", "amount", "currency_code"), 400,
         "MISSING_REQUIRED_PARAMETER",
         "/purchase_units/@reference_id=='default'/amount/currency_code"),
        (_without(order(), "purchase_units", "0", "amount", "value"), 400,
         "MISSING_REQUIRED_PARAMETER", "/purchase_units/@reference_id=='default'/amount/value"),
        (order(value="ten"), 400, "INVALID_PARAMETER_SYNTAX",
         "/purchase_units/@reference_id=='default'/amount/value"),
        (order(value="10.001"), 422, "DECIMAL_PRECISION",
         "/purchase_units/@reference_id=='default'/amount/value"),
        (order(value="100.5", currency="JPY"), 422, "DECIMAL_PRECISION",
         "/purchase_units/@reference_id=='default'/amount/value"),
        (order(value="0.00"), 422, "CANNOT_BE_ZERO_OR_NEGATIVE",
         "/purchase_units/@reference_id=='default'/amount/value"),
        (order(currency="INR"), 422, "CURRENCY_NOT_SUPPORTED",
         "/purchase_units/@reference_id=='default'/amount/currency_code"),
        (order(custom_id="x" * 128), 400, "INVALID_STRING_LENGTH",
         "/purchase_units/@reference_id=='default'/custom_id"),
        (_without(order(), "payment_source", "card", "number"), 400, "MISSING_REQUIRED_PARAMETER",
         "/payment_source/card/number"),
        (order(number="4242-4242"), 400, "INVALID_PARAMETER_VALUE", "/payment_source/card/number"),
        (_without(order(), "payment_source", "card", "expiry"), 400, "MISSING_REQUIRED_PARAMETER",
         "/payment_source/card/expiry"),
        (order(source={"card": {"number": VISA, "expiry": "12/30"}}), 400,
         "INVALID_PARAMETER_SYNTAX", "/payment_source/card/expiry"),
        (order(source={"card": {"number": VISA, "expiry": "2001-01"}}), 422, "CARD_EXPIRED",
         "/payment_source/card/expiry"),
        (order(source={"card": {"number": VISA, "expiry": "2030-01", "security_code": "12"}}),
         422, "INVALID_SECURITY_CODE_LENGTH", "/payment_source/card/security_code"),
        (order(source={"bank": {}}), 400, "INVALID_PARAMETER_VALUE", "/payment_source"),
        (order(source={"paypal": {}}), 400, "MISSING_REQUIRED_PARAMETER",
         "/payment_source/paypal/vault_id"),
        (order(source={"token": {"id": "B-1", "type": "X"}}), 400, "INVALID_PARAMETER_VALUE",
         "/payment_source/token/type"),
    ],
)  # fmt: skip
async def test_malformed_orders_are_refused_naming_the_field(
    pp: Driver, body: dict[str, Any], status: int, issue: str, field: str
) -> None:
    got_status, reply = await pp.post("/v2/checkout/orders", body)
    assert (got_status, issue_of(reply), reply["details"][0]["field"]) == (status, issue, field)
    assert reply["name"] == ("INVALID_REQUEST" if status == 400 else "UNPROCESSABLE_ENTITY")
    assert reply["debug_id"] and reply["links"][0]["rel"] == "information_link"
    assert pp.payments() == {}


async def test_a_body_that_is_not_json_is_malformed(pp: Driver) -> None:
    status, reply = await pp.post("/v2/checkout/orders", b"{nope")
    assert (status, issue_of(reply)) == (400, "MALFORMED_REQUEST_JSON")


async def test_a_refusal_never_echoes_the_card_number(pp: Driver) -> None:
    number = "4242424242424242999"  # 19 digits but the wrong card: still only described
    _, reply = await pp.post("/v2/checkout/orders", order(number=number + "0"))
    assert number not in json.dumps(reply)


# -- outcomes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "5100"),
        ("4000000000009995", "5120"),
        ("4000000000009987", "9520"),
        ("4000000000009979", "5150"),
        ("4000000000000069", "5400"),
        ("4000000000000127", "00N7"),
        ("4000000000000119", "9100"),
        ("4242424242424241", "5180"),
    ],
)
async def test_each_declining_test_card_answers_its_processor_code(
    pp: Driver, number: str, code: str
) -> None:
    captured = payments_of(await pp.create(intent="CAPTURE", number=number))["captures"][0]
    assert (captured["status"], captured["processor_response"]["response_code"]) == (
        "DECLINED",
        code,
    )
    assert "seller_receivable_breakdown" not in captured  # no fee on a decline
    auth = payments_of(await pp.create(number=number, custom_id="att_2"))["authorizations"][0]
    assert (auth["status"], auth["processor_response"]["response_code"]) == ("DENIED", code)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("CCREJECT-REFUSED", "0500"),
        ("CCREJECT-SF", "9500"),
        ("CCREJECT-EC", "5400"),
        ("CCREJECT-IRC", "5180"),
        ("CCREJECT-IF", "5120"),
        ("CCREJECT-LS", "9520"),
        ("CCREJECT-IA", "1330"),
        ("CCREJECT-BANK_ERROR", "5100"),
        ("CCREJECT-CVV_F", "00N7"),
    ],
)
async def test_paypals_rejection_triggers_in_the_card_name_work(
    pp: Driver, name: str, code: str
) -> None:
    captured = payments_of(await pp.create(intent="CAPTURE", name=name))["captures"][0]
    assert captured["processor_response"]["response_code"] == code


async def test_an_approved_card_completes_the_order_with_a_fee(pp: Driver) -> None:
    created = await pp.create(intent="CAPTURE", value="100.00")
    captured = payments_of(created)["captures"][0]
    assert created["status"] == "COMPLETED"
    assert captured["status"] == "COMPLETED"
    breakdown = captured["seller_receivable_breakdown"]
    assert breakdown["paypal_fee"]["value"] == "3.98"  # 3.49 + 0.49
    assert breakdown["net_amount"]["value"] == "96.02"
    assert created["payment_source"]["card"] == {
        "last_digits": "4242",
        "expiry": "2030-12",
        "brand": "VISA",
        "type": "CREDIT",
    }
    assert VISA not in json.dumps(created)


@pytest.mark.parametrize(
    ("currency", "value", "minor"), [("JPY", "500", 500), ("HUF", "10", 1000), ("EUR", "1.5", 150)]
)
async def test_paypal_precision_and_iso_minor_units(
    pp: Driver, currency: str, value: str, minor: int
) -> None:
    created = await pp.create(intent="CAPTURE", currency=currency, value=value)
    assert pp.payments()[created["id"]]["captured_minor"] == minor


async def test_vaulted_sources_are_approved(pp: Driver) -> None:
    for i, source in enumerate(
        (
            {"paypal": {"vault_id": "8kk8451t"}},
            {"card": {"vault_id": "9ab8c7"}},
            {"token": {"id": "B-7HT1", "type": "BILLING_AGREEMENT"}},
        )
    ):
        created = await pp.create(source=source, custom_id=f"att_v{i}")
        assert payments_of(created)["authorizations"][0]["status"] == "CREATED"


async def test_three_ds_waits_for_the_payer_then_completes(pp: Driver) -> None:
    created = await pp.create(number="4000002500003155")
    assert created["status"] == "PAYER_ACTION_REQUIRED"
    action = next(li["href"] for li in created["links"] if li["rel"] == "payer-action")
    assert action.startswith(f"{PUBLIC}/paypal/webapps/helios?")
    path = f"/v2/checkout/orders/{created['id']}/authorize"
    status, body = await pp.post(path, {})
    assert (status, issue_of(body)) == (422, "PAYER_ACTION_REQUIRED")

    page = await pp.raw("GET", "/webapps/helios", query={"cart_id": created["id"]})
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert (await pp.get(f"/v2/checkout/orders/{created['id']}"))[1]["status"] == "APPROVED"
    status, done = await pp.post(path, {})
    assert status == 201
    assert payments_of(done)["authorizations"][0]["status"] == "CREATED"
    card = done["payment_source"]["card"]
    assert card["authentication_result"]["liability_shift"] == "POSSIBLE"
    assert (await pp.raw("GET", "/webapps/helios", query={"cart_id": created["id"]})).status == 404


async def test_an_order_without_a_source_waits_for_the_payers_approval(pp: Driver) -> None:
    body = order(intent="CAPTURE")
    del body["payment_source"]
    status, created = await pp.post("/v2/checkout/orders", body)
    assert (status, created["status"]) == (201, "CREATED")
    path = f"/v2/checkout/orders/{created['id']}/capture"
    assert issue_of((await pp.post(path, {}))[1]) == "ORDER_NOT_APPROVED"
    page = await pp.raw("GET", "/checkoutnow", query={"token": created["id"]})
    assert page.status == 200
    status, done = await pp.post(path, {})
    assert (status, payments_of(done)["captures"][0]["status"]) == (201, "COMPLETED")


async def test_completing_an_order_checks_intent_and_state(pp: Driver) -> None:
    created = await pp.create(intent="CAPTURE")
    base = f"/v2/checkout/orders/{created['id']}"
    assert issue_of((await pp.post(f"{base}/authorize", {}))[1]) == "ACTION_DOES_NOT_MATCH_INTENT"
    assert issue_of((await pp.post(f"{base}/capture", {}))[1]) == "ORDER_ALREADY_CAPTURED"
    status, body = await pp.post("/v2/checkout/orders/NOSUCHORDER/capture", {})
    assert (status, issue_of(body)) == (404, "INVALID_RESOURCE_ID")


async def test_a_minimal_reply_is_the_default(pp: Driver) -> None:
    status, body = await pp.post("/v2/checkout/orders", order(), full=False)
    assert status == 201
    assert set(body) == {"id", "status", "links"}
    assert body["status"] == "COMPLETED"
