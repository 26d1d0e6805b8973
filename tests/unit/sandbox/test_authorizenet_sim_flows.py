"""The Authorize.net simulator's money flows: capture, void, refunds, and the state rules."""

from __future__ import annotations

import pytest

from tests.unit.sandbox.test_authorizenet_sim_support import (
    MASK,
    auth_tx,
    authorized,
    create,
    details,
    error_of,
    make,
    ref_tx,
    refund_tx,
    result,
    state,
)

CAPTURE = "priorAuthCaptureTransaction"
VOID = "voidTransaction"


async def test_a_partial_capture_settles_part_and_releases_the_rest() -> None:
    sim = make()
    trans_id = await authorized(sim, "100.00")
    reply = await create(sim, ref_tx(CAPTURE, trans_id, "60.00"))
    assert result(reply) == ("1", "1")
    assert reply["transactionResponse"]["transId"] == trans_id
    assert reply["transactionResponse"]["refTransID"] == trans_id
    payment = state(sim)["payments"][trans_id]
    assert (payment["status"], payment["authorized_minor"], payment["captured_minor"]) == (
        "capturedPendingSettlement",
        10_000,
        6_000,
    )
    transaction = (await details(sim, trans_id))["transaction"]
    assert (transaction["authAmount"], transaction["settleAmount"]) == (100, 60)


async def test_a_capture_without_amount_takes_everything() -> None:
    sim = make()
    trans_id = await authorized(sim, "25.50")
    assert result(await create(sim, ref_tx(CAPTURE, trans_id))) == ("1", "1")
    assert state(sim)["payments"][trans_id]["captured_minor"] == 2_550


@pytest.mark.parametrize(
    ("prepare", "amount", "reason"),
    [
        ("none", "100.01", "47"),
        ("captured", "10.00", "311"),
        ("voided", "10.00", "310"),
        ("none", "0.00", "5"),
        ("none", "1.001", "5"),
    ],
)
async def test_capture_refusals(prepare: str, amount: str, reason: str) -> None:
    sim = make()
    trans_id = await authorized(sim, "100.00")
    if prepare == "captured":
        await create(sim, ref_tx(CAPTURE, trans_id, "10.00"))
    elif prepare == "voided":
        await create(sim, ref_tx(VOID, trans_id))
    reply = await create(sim, ref_tx(CAPTURE, trans_id, amount))
    assert result(reply) == ("3", reason)
    assert reply["transactionResponse"]["transId"] == "0"
    assert error_of(reply) == ("E00027", "The transaction was unsuccessful.")


async def test_capturing_an_unknown_or_non_authorization_transaction_is_16() -> None:
    sim = make()
    sale = await authorized(sim, capture=True)
    assert result(await create(sim, ref_tx(CAPTURE, "99999999999", "1.00"))) == ("3", "16")
    assert result(await create(sim, ref_tx(CAPTURE, sale, "1.00"))) == ("3", "16")


async def test_a_capture_without_ref_trans_id_is_33() -> None:
    reply = await create(make(), {"transactionType": CAPTURE, "amount": "1.00"})
    assert result(reply) == ("3", "33")
    assert (
        reply["transactionResponse"]["errors"][0]["errorText"] == "refTransId cannot be left blank."
    )


async def test_a_void_releases_an_authorization_once() -> None:
    sim = make()
    trans_id = await authorized(sim)
    assert result(await create(sim, ref_tx(VOID, trans_id))) == ("1", "1")
    assert result(await create(sim, ref_tx(VOID, trans_id))) == ("3", "310")
    assert state(sim)["payments"][trans_id]["status"] == "voided"


async def test_an_unsettled_capture_can_be_voided_until_it_is_refunded() -> None:
    sim = make()
    clean = await authorized(sim, capture=True, invoice="a")
    refunded = await authorized(sim, capture=True, invoice="b")
    await create(sim, refund_tx(refunded, "1.00"))
    assert result(await create(sim, ref_tx(VOID, clean))) == ("1", "1")
    assert state(sim)["payments"][clean]["captured_minor"] == 0
    assert result(await create(sim, ref_tx(VOID, refunded))) == ("3", "16")


async def test_voiding_a_refund_gives_the_amount_back_to_the_original() -> None:
    sim = make()
    sale = await authorized(sim, capture=True)
    refund = (await create(sim, refund_tx(sale, "30.00")))["transactionResponse"]["transId"]
    assert result(await create(sim, ref_tx(VOID, refund))) == ("1", "1")
    assert state(sim)["payments"][sale]["refunded_minor"] == 0


async def test_voiding_a_declined_transaction_is_16() -> None:
    sim = make()
    reply = await create(sim, auth_tx(zip_code="46282"))
    declined = reply["transactionResponse"]["transId"]
    assert result(await create(sim, ref_tx(VOID, declined))) == ("3", "16")


async def test_refunds_add_up_to_the_capture_and_no_further() -> None:
    sim = make()
    sale = await authorized(sim, "100.00")
    await create(sim, ref_tx(CAPTURE, sale, "80.00"))
    first = await create(sim, refund_tx(sale, "50.00", invoice="r1"))
    second = await create(sim, refund_tx(sale, "30.00", invoice="r2"))
    over = await create(sim, refund_tx(sale, "0.01", invoice="r3"))
    assert result(first) == result(second) == ("1", "1")
    assert first["transactionResponse"]["refTransID"] == sale
    assert first["transactionResponse"]["transId"] not in (sale, "0")
    assert result(over) == ("3", "55")
    snapshot = state(sim)
    assert snapshot["payments"][sale]["refunded_minor"] == 8_000
    refunds = snapshot["refunds"]
    assert sorted(r["amount_minor"] for r in refunds.values()) == [3_000, 5_000]


@pytest.mark.parametrize(
    ("setup", "tx_args", "reason"),
    [
        ("authorized", {"amount": "1.00"}, "54"),
        ("captured", {"amount": "1.00", "last4": "0000"}, "54"),
        ("captured", {"amount": "0"}, "5"),
    ],
)
async def test_refund_refusals(setup: str, tx_args: dict[str, str], reason: str) -> None:
    sim = make()
    trans_id = await authorized(sim, capture=setup == "captured")
    assert result(await create(sim, refund_tx(trans_id, **tx_args))) == ("3", reason)


async def test_a_refund_needs_a_ref_trans_id_and_the_same_currency() -> None:
    sim = make()
    sale = await authorized(sim, capture=True)
    unlinked = refund_tx(sale, "1.00")
    del unlinked["refTransId"]
    linked = refund_tx(sale, "1.00")
    other_currency = {
        "transactionType": "refundTransaction",
        "amount": "1.00",
        "currencyCode": "EUR",
        "payment": linked["payment"],
        "refTransId": sale,
        "order": linked["order"],
    }
    assert result(await create(sim, unlinked)) == ("3", "54")
    assert result(await create(sim, other_currency)) == ("3", "54")


async def test_details_of_an_unknown_transaction_is_e00040() -> None:
    reply = await details(make(), "12345")
    assert error_of(reply) == ("E00040", "The record cannot be found.")


async def test_details_report_a_refund_with_its_original() -> None:
    sim = make()
    sale = await authorized(sim, capture=True)
    refund = (await create(sim, refund_tx(sale, "12.34")))["transactionResponse"]["transId"]
    transaction = (await details(sim, refund))["transaction"]
    assert transaction["refTransId"] == sale
    assert transaction["transactionType"] == "refundTransaction"
    assert transaction["transactionStatus"] == "refundPendingSettlement"
    assert transaction["payment"]["creditCard"]["cardNumber"] == f"{MASK}1111"
