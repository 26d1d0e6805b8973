"""The Authorize.net simulator's wire: BOM replies, the schema's element order, credentials."""

from __future__ import annotations

import json

import pytest

from sandbox.authorizenet import make_sim
from sandbox.core import SimRequest
from tests.unit.sandbox.test_authorizenet_sim_support import (
    AUTH,
    BOM,
    CONFIG,
    ENDPOINT,
    MASK,
    auth_tx,
    authorized,
    card,
    create,
    decode,
    error_of,
    make,
    result,
    send,
    send_raw,
)

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"


async def test_a_reply_is_a_bom_then_json_with_http_200_even_for_an_error() -> None:
    sim = make()
    ok = await send_raw(
        sim, json.dumps({"authenticateTestRequest": {"merchantAuthentication": AUTH}}).encode()
    )
    bad = await send_raw(sim, b"not json")
    for reply in (ok, bad):
        assert reply.status == 200
        assert reply.body.startswith(BOM)
        assert reply.headers["content-type"].startswith("application/json")
    assert decode(ok)["messages"]["resultCode"] == "Ok"
    assert error_of(decode(bad)) == (
        "E00003",
        "Data at the root level is invalid. Line 1, position 1.",
    )


async def test_a_request_body_with_a_bom_is_accepted() -> None:
    body = BOM + json.dumps({"authenticateTestRequest": {"merchantAuthentication": AUTH}}).encode()
    assert decode(await send_raw(make(), body))["messages"]["resultCode"] == "Ok"


async def test_an_unknown_method_is_e00004() -> None:
    reply = await send(make(), {"chargeCardRequest": {"merchantAuthentication": AUTH}})
    assert error_of(reply)[0] == "E00004"


async def test_keys_out_of_schema_order_are_refused_naming_what_was_expected() -> None:
    tx = {"amount": "5.00", "transactionType": "authOnlyTransaction", "payment": card()}
    code, text = error_of(await create(make(), tx))
    assert code == "E00003"
    assert text == (
        f"The element 'transactionRequest' in namespace '{NS}' has invalid child element"
        f" 'amount' in namespace '{NS}'. List of possible elements expected: 'transactionType'"
        f" in namespace '{NS}'."
    )


async def test_ref_id_before_merchant_authentication_is_refused() -> None:
    request = {"refId": "r", "merchantAuthentication": AUTH, "transactionRequest": auth_tx()}
    code, text = error_of(await send(make(), {"createTransactionRequest": request}))
    assert code == "E00003"
    assert "invalid child element 'refId'" in text
    assert "'merchantAuthentication'" in text


async def test_a_later_element_before_an_earlier_optional_one_is_refused() -> None:
    tx = auth_tx()
    tx = {"transactionType": tx["transactionType"], "payment": tx["payment"], "amount": "1.00"}
    code, text = error_of(await create(make(), tx))
    assert code == "E00003"
    assert "invalid child element 'amount'" in text
    assert "List of possible elements expected: 'profile, solution," in text


async def test_an_unknown_element_is_refused() -> None:
    tx = {**auth_tx(), "duplicateWindow": "0"}
    code, text = error_of(await create(make(), tx))
    assert code == "E00003"
    assert "invalid child element 'duplicateWindow'" in text


@pytest.mark.parametrize(
    ("tx", "fragment"),
    [
        ({"amount": "1.00"}, "invalid child element 'amount'"),
        (
            {
                "transactionType": "authOnlyTransaction",
                "payment": {"creditCard": {"cardNumber": "4111111111111111"}},
            },
            "The element 'creditCard' in namespace",
        ),
        ({"transactionType": "authOnlyTransaction", "amount": "ten"}, "datatype 'Decimal'"),
        (
            {"transactionType": "authOnlyTransaction", "payment": card(code="12a")},
            "The Pattern constraint failed.",
        ),
        (
            {"transactionType": "authOnlyTransaction", "payment": card(number="41111111111111111")},
            "greater than the MaxLength value",
        ),
        (
            {"transactionType": "authOnlyTransaction", "order": {"invoiceNumber": "x" * 21}},
            "greater than the MaxLength value",
        ),
    ],
)
async def test_shape_errors_are_e00003_naming_the_field(
    tx: dict[str, object], fragment: str
) -> None:
    code, text = error_of(await create(make(), tx))
    assert code == "E00003"
    assert fragment in text


async def test_a_missing_required_element_is_incomplete_content() -> None:
    request = {"merchantAuthentication": AUTH}
    code, text = error_of(await send(make(), {"createTransactionRequest": request}))
    assert code == "E00003"
    assert text.startswith(
        f"The element 'createTransactionRequest' in namespace '{NS}' has incomplete content."
    )
    assert "'clientId, refId, transactionRequest'" in text


async def test_a_ref_id_longer_than_20_is_refused() -> None:
    code, text = error_of(await create(make(), auth_tx(), ref_id="r" * 21))
    assert code == "E00003"
    assert f"'{NS}:refId' element is invalid" in text


async def test_a_wrong_transaction_key_is_e00007_and_nothing_happens() -> None:
    sim = make()
    request = {
        "merchantAuthentication": {"name": AUTH["name"], "transactionKey": "WRONGWRONGWRONG1"},
        "refId": "r-9",
        "transactionRequest": auth_tx(),
    }
    reply = await send(sim, {"createTransactionRequest": request})
    assert error_of(reply) == (
        "E00007",
        "User authentication failed due to invalid authentication values.",
    )
    assert reply["refId"] == "r-9"
    assert sim.snapshot() == {"payments": {}, "refunds": {}}


async def test_a_wrong_login_id_is_e00007() -> None:
    request = {
        "merchantAuthentication": {**AUTH, "name": "someone_else"},
        "transactionRequest": auth_tx(),
    }
    assert error_of(await send(make(), {"createTransactionRequest": request}))[0] == "E00007"


async def test_the_schema_is_checked_before_the_credentials() -> None:
    request = {
        "merchantAuthentication": {"name": "x", "transactionKey": "y"},
        "transactionRequest": {"amount": "1"},
    }
    assert error_of(await send(make(), {"createTransactionRequest": request}))[0] == "E00003"


async def test_transaction_settings_are_accepted_as_one_object_or_a_list() -> None:
    sim = make()
    single = auth_tx(window="0", invoice="a")
    listed = auth_tx(invoice="b")
    listed["transactionSettings"] = {
        "setting": [{"settingName": "duplicateWindow", "settingValue": "0"}]
    }
    assert result(await create(sim, single)) == ("1", "1")
    assert result(await create(sim, listed)) == ("1", "1")


async def test_an_approval_echoes_ref_id_and_reports_the_masked_card() -> None:
    reply = await create(make(), auth_tx(), ref_id="echo-me")
    tx = reply["transactionResponse"]
    assert reply["refId"] == "echo-me"
    assert reply["messages"] == {
        "resultCode": "Ok",
        "message": [{"code": "I00001", "text": "Successful."}],
    }
    assert (tx["accountNumber"], tx["accountType"]) == (f"{MASK}1111", "Visa")
    assert len(tx["authCode"]) == 6
    assert list(tx)[:6] == [
        "responseCode",
        "authCode",
        "avsResultCode",
        "cvvResultCode",
        "cavvResultCode",
        "transId",
    ]


async def test_other_paths_and_methods_are_refused() -> None:
    sim = make()
    assert (await send_raw(sim, b"", method="GET")).status == 405
    assert (await sim.handle(SimRequest("POST", "/v1/charges", {}, {}, b"{}"))).status == 404


def test_a_fault_reply_is_the_generic_error_with_the_status_and_wait() -> None:
    reply = make_sim(CONFIG).fault_reply(429, 2.5)
    assert reply.status == 429
    assert reply.headers["retry-after"] == "2.5"
    assert reply.body.startswith(BOM)
    assert json.loads(reply.body[3:])["messages"]["message"][0]["code"] == "E00001"
    assert "retry-after" not in make_sim(CONFIG).fault_reply(500, None).headers


async def test_reset_forgets_everything_and_snapshot_is_json() -> None:
    sim = make()
    await authorized(sim)
    assert json.loads(json.dumps(sim.snapshot()))["payments"]
    sim.reset()
    assert sim.snapshot() == {"payments": {}, "refunds": {}}


async def test_no_card_number_is_kept_in_state() -> None:
    sim = make()
    await authorized(sim)
    assert "4111111111111111" not in json.dumps(sim.snapshot())
    assert all("4111111111111111" not in repr(t) for t in sim.store.transactions.values())


def test_the_simulator_is_mounted_as_authorizenet() -> None:
    assert make_sim(CONFIG).name == "authorizenet"
    assert ENDPOINT == "/xml/v1/request.api"
