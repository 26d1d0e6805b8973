"""The Authorize.net simulator's card outcomes, duplicate window, payer approval and reports."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sandbox.core import SimRequest
from tests.unit.sandbox.test_authorizenet_sim_support import (
    AUTH,
    MASK,
    PUBLIC_URL,
    Clock,
    auth_tx,
    authorized,
    card,
    create,
    details,
    error_of,
    make,
    result,
    send,
    send_raw,
    state,
)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("4242424242424242", ("1", "1")),
        ("5555555555554444", ("1", "1")),
        ("5424000000000015", ("1", "1")),
        ("370000000000002", ("1", "1")),
        ("4000000000000002", ("2", "2")),
        ("4000000000009995", ("2", "2")),
        ("4000000000009987", ("2", "4")),
        ("4000000000009979", ("2", "4")),
        ("4000000000000069", ("3", "8")),
        ("4000000000000127", ("2", "44")),
        ("4000000000000119", ("3", "19")),
        ("4000002500003155", ("5", "2000")),
        ("4111111111111112", ("3", "6")),
    ],
)
async def test_each_shared_test_card_answers_with_its_reason_code(
    number: str, expected: tuple[str, str]
) -> None:
    reply = await create(make(), auth_tx(payment=card(number)))
    assert result(reply) == expected
    assert reply["messages"]["resultCode"] == ("Ok" if expected[0] in "15" else "Error")


async def test_declines_are_recorded_and_errors_are_not() -> None:
    sim = make()
    declined = await create(sim, auth_tx(payment=card("4000000000000002"), invoice="d"))
    errored = await create(sim, auth_tx(payment=card("4000000000000069"), invoice="e"))
    assert declined["transactionResponse"]["transId"] != "0"
    assert errored["transactionResponse"]["transId"] == "0"
    payments = state(sim)["payments"]
    assert [p["status"] for p in payments.values()] == ["declined"]


@pytest.mark.parametrize(
    ("tx", "expected"),
    [
        (auth_tx(zip_code="46282"), ("2", "2")),
        (auth_tx(payment=card(code="901")), ("2", "65")),
        (auth_tx("27.00", payment=card("4222222222222")), ("2", "27")),
        (auth_tx("252.00", payment=card("4222222222222")), ("4", "252")),
        (auth_tx("3.50", payment=card("4222222222222")), ("1", "1")),
        (auth_tx(payment=card("6011000000000004")), ("1", "1")),
        (auth_tx(payment=card("9999999999999995")), ("3", "17")),
        (auth_tx(payment=card(expiration="13/30")), ("3", "7")),
        (auth_tx(payment=card(expiration="0120")), ("3", "8")),
        (auth_tx(payment=card(expiration="12/2031")), ("1", "1")),
        (auth_tx(currency="INR"), ("3", "39")),
        (auth_tx(currency=None), ("1", "1")),
        (auth_tx("0.00"), ("3", "5")),
        (auth_tx("1.005"), ("3", "5")),
    ],
)
async def test_authorize_net_triggers_and_rules(
    tx: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert result(await create(make(), tx)) == expected


async def test_an_authorization_without_payment_is_33() -> None:
    tx = {"transactionType": "authOnlyTransaction", "amount": "1.00"}
    assert result(await create(make(), tx)) == ("3", "33")


async def test_an_accept_nonce_stands_for_a_test_card() -> None:
    def nonce(value: str) -> dict[str, Any]:
        return {"opaqueData": {"dataDescriptor": "COMMON.ACCEPT.INAPP.PAYMENT", "dataValue": value}}

    sim = make()
    declined = await create(sim, auth_tx(payment=nonce("pm_card_chargeDeclined"), invoice="a"))
    other = await create(sim, auth_tx(payment=nonce("eyJvcGFxdWUi"), invoice="b"))
    assert result(declined) == ("2", "2")
    assert other["transactionResponse"]["accountNumber"] == f"{MASK}1111"


async def test_the_3ds_card_waits_for_the_payer_at_a_url_under_public_url() -> None:
    sim = make()
    reply = await create(sim, auth_tx(payment=card("4000002500003155")))
    tx = reply["transactionResponse"]
    url = tx["secureAcceptance"]["SecureAcceptanceUrl"]
    assert url == f"{PUBLIC_URL}/authorizenet/sandbox/consent/{tx['transId']}"
    assert tx["messages"] == [{"code": "2000", "description": "Need payer consent."}]
    transaction = (await details(sim, tx["transId"]))["transaction"]
    assert (transaction["responseCode"], transaction["transactionStatus"]) == (
        5,
        "pendingPayerConsent",
    )


@pytest.mark.parametrize(
    ("decision", "capture", "status"),
    [
        ("approve", False, "authorizedPendingCapture"),
        ("approve", True, "capturedPendingSettlement"),
        ("decline", False, "declined"),
    ],
)
async def test_the_payer_approves_or_declines(decision: str, capture: bool, status: str) -> None:
    sim = make()
    reply = await create(sim, auth_tx(payment=card("4000002500003155"), capture=capture))
    trans_id = reply["transactionResponse"]["transId"]
    path = f"/sandbox/consent/{trans_id}"
    page = await sim.handle(SimRequest("GET", path, {}, {}, b""))
    answer = await sim.handle(SimRequest("POST", path, {}, {}, f"decision={decision}".encode()))
    again = await sim.handle(SimRequest("POST", path, {}, {}, b""))
    assert page.status == 200
    assert b"<form" in page.body
    assert answer.status == 200
    assert json.loads(answer.body)["transactionStatus"] == status
    assert again.status == 409
    assert state(sim)["payments"][trans_id]["status"] == status


async def test_consent_for_an_unknown_transaction_is_404() -> None:
    reply = await make().handle(SimRequest("POST", "/sandbox/consent/123", {}, {}, b""))
    assert reply.status == 404


async def test_an_identical_authorization_inside_the_window_is_a_duplicate() -> None:
    clock = Clock()
    sim = make(clock)
    first = await create(sim, auth_tx(window="60"))
    again = await create(sim, auth_tx(window="60"))
    assert result(again) == ("3", "11")
    assert again["transactionResponse"]["transId"] == "0"
    assert again["transactionResponse"]["authCode"] == first["transactionResponse"]["authCode"]
    clock.now += 60
    assert result(await create(sim, auth_tx(window="60"))) == ("1", "1")
    assert len(state(sim)["payments"]) == 2


@pytest.mark.parametrize(
    "changed",
    [
        {"invoice": "inv-2"},
        {"amount": "100.01"},
        {"zip_code": "10001"},
        {"capture": True},
        {"payment": card("5424000000000015")},
    ],
)
async def test_a_transaction_differing_in_one_field_is_not_a_duplicate(
    changed: dict[str, Any],
) -> None:
    sim = make()
    await authorized(sim)
    assert result(await create(sim, auth_tx(**changed))) == ("1", "1")


async def test_the_default_window_is_two_minutes_and_zero_disables_it() -> None:
    clock = Clock()
    sim = make(clock)
    await authorized(sim)
    clock.now += 119
    assert result(await create(sim, auth_tx())) == ("3", "11")
    clock.now += 1
    assert result(await create(sim, auth_tx())) == ("1", "1")
    assert result(await create(sim, auth_tx(window="0"))) == ("1", "1")
    assert len(state(sim)["payments"]) == 3


async def test_a_declined_transaction_occupies_the_window() -> None:
    sim = make()
    tx = auth_tx(payment=card("4000000000000002"))
    assert result(await create(sim, tx)) == ("2", "2")
    duplicate = await create(sim, tx)
    assert result(duplicate) == ("3", "11")
    assert duplicate["transactionResponse"]["authCode"] == ""


async def test_concurrent_identical_requests_create_one_transaction() -> None:
    sim = make()
    body = json.dumps(
        {
            "createTransactionRequest": {
                "merchantAuthentication": AUTH,
                "transactionRequest": auth_tx(window="600"),
            }
        }
    ).encode()
    replies = await asyncio.gather(*(send_raw(sim, body) for _ in range(8)))
    codes = sorted(json.loads(r.body[3:])["transactionResponse"]["responseCode"] for r in replies)
    assert codes == ["1"] + ["3"] * 7
    assert len(state(sim)["payments"]) == 1


async def unsettled(sim: Any, **extra: Any) -> dict[str, Any]:
    request = {"merchantAuthentication": AUTH, **extra}
    return await send(sim, {"getUnsettledTransactionListRequest": request})


async def test_the_unsettled_list_pages_newest_first_with_invoice_numbers() -> None:
    sim = make()
    ids = [await authorized(sim, invoice=f"inv-{n}") for n in range(3)]
    reply = await unsettled(
        sim,
        sorting={"orderBy": "submitTimeUTC", "orderDescending": True},
        paging={"limit": 2, "offset": 1},
    )
    assert [t["transId"] for t in reply["transactions"]] == [ids[2], ids[1]]
    assert reply["transactions"][0]["invoiceNumber"] == "inv-2"
    assert reply["totalNumInResultSet"] == 3
    second_page = await unsettled(
        sim,
        sorting={"orderBy": "submitTimeUTC", "orderDescending": True},
        paging={"limit": 2, "offset": 2},
    )
    assert [t["transId"] for t in second_page["transactions"]] == [ids[0]]
    oldest_first = await unsettled(sim)
    assert [t["transId"] for t in oldest_first["transactions"]] == ids


async def test_an_empty_unsettled_list_has_no_transactions_element() -> None:
    reply = await unsettled(make())
    assert "transactions" not in reply
    assert reply["messages"]["resultCode"] == "Ok"


async def test_a_page_larger_than_1000_is_refused() -> None:
    reply = await unsettled(make(), paging={"limit": 1001, "offset": 1})
    assert error_of(reply)[0] == "E00003"


async def test_amounts_in_reports_are_json_numbers() -> None:
    sim = make()
    trans_id = await authorized(sim, "12.30")
    request = {"merchantAuthentication": AUTH, "transId": trans_id}
    body = json.dumps({"getTransactionDetailsRequest": request}).encode()
    raw = (await send_raw(sim, body)).body
    assert b'"authAmount":12.30' in raw
    assert b'"responseCode":1,' in raw
