"""The Currencycloud simulator's conversions and payments: idempotency, progression, fees."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.sandbox.test_currencycloud_sim_support import Driver, body_of, codes_of


@pytest.fixture
def cc() -> Driver:
    return Driver()


# -- conversions --------------------------------------------------------------------------


async def test_a_conversion_is_booked_at_the_quoted_rate_awaiting_funds(cc: Driver) -> None:
    body = body_of(await cc.conversion())
    assert body["status"] == "awaiting_funds"
    assert (body["currency_pair"], body["client_rate"], body["mid_market_rate"]) == (
        "EURGBP",
        "0.8630",
        "0.8587",
    )
    assert (body["client_buy_amount"], body["client_sell_amount"]) == ("1000.00", "863.00")
    assert body["unique_request_id"] == "conv-1"
    read = body_of(await cc.get(f"/v2/conversions/{body['id']}"))
    assert read == body


async def test_the_same_request_id_and_terms_answer_the_same_conversion(cc: Driver) -> None:
    first = body_of(await cc.conversion())
    again = await cc.conversion(amount="1000.00")  # the same number, written differently
    assert (again.status, body_of(again)["id"]) == (200, first["id"])
    assert len(cc.sim.conversions.records) == 1


async def test_concurrent_duplicates_make_one_conversion(cc: Driver) -> None:
    await cc.ensure_token()
    replies = await asyncio.gather(*(cc.conversion() for _ in range(10)))
    assert {body_of(reply)["id"] for reply in replies} == set(cc.sim.conversions.records)
    assert len(cc.sim.conversions.records) == 1


async def test_other_terms_under_a_used_request_id_are_a_duplicate_request(cc: Driver) -> None:
    await cc.conversion()
    reply = await cc.conversion(amount="2000")
    assert (reply.status, body_of(reply)["error_code"]) == (400, "conversion_create_failed")
    assert codes_of(reply) == {"duplicate_request": ["duplicate_request"]}
    assert len(cc.sim.conversions.records) == 1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"term_agreement": ""}, {"term_agreement": ["term_agreement_is_required"]}),
        ({"term_agreement": "false"}, {"term_agreement": ["term_agreement_is_required"]}),
        ({"term_agreement": "yes"}, {"term_agreement": ["term_agreement_type_is_wrong"]}),
        ({"unique_request_id": ""}, {"unique_request_id": ["unique_request_id_is_required"]}),
        ({"fixed_side": "", "buy_currency": ""}, {
            "buy_currency": ["buy_currency_is_required"],
            "fixed_side": ["fixed_side_is_required"],
        }),
    ],
)  # fmt: skip
async def test_a_bad_conversion_names_every_bad_field(
    cc: Driver, overrides: dict[str, str], expected: dict[str, list[str]]
) -> None:
    reply = await cc.conversion(**overrides)
    assert (reply.status, body_of(reply)["error_code"]) == (400, "conversion_create_failed")
    assert codes_of(reply) == expected
    assert cc.sim.conversions.records == {}


async def test_a_conversion_advances_to_funds_arrived_then_trade_settled(cc: Driver) -> None:
    conversion_id = body_of(await cc.conversion())["id"]
    statuses = []
    for _ in range(2):
        moved = await cc.control(f"conversions/{conversion_id}/advance")
        statuses.append(body_of(moved)["status"])
    assert statuses == ["funds_arrived", "trade_settled"]
    assert (await cc.control(f"conversions/{conversion_id}/advance")).status == 400
    read = body_of(await cc.get(f"/v2/conversions/{conversion_id}"))
    assert read["status"] == "trade_settled"


async def test_conversions_are_found_by_request_id(cc: Driver) -> None:
    conversion_id = body_of(await cc.conversion())["id"]
    found = body_of(await cc.get("/v2/conversions/find", {"unique_request_id": "conv-1"}))
    missing = body_of(await cc.get("/v2/conversions/find", {"unique_request_id": "other"}))
    assert [c["id"] for c in found["conversions"]] == [conversion_id]
    assert missing["conversions"] == []


async def test_an_unknown_conversion_is_404(cc: Driver) -> None:
    reply = await cc.get("/v2/conversions/5b1f0f3c-0000-4000-8000-000000000000")
    assert (reply.status, body_of(reply)["error_code"]) == (404, "conversion_not_found")


# -- payments -----------------------------------------------------------------------------


async def test_a_payment_is_ready_to_send_with_its_fee(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary()
    body = body_of(await cc.payment(beneficiary_id))
    assert (body["status"], body["amount"], body["currency"]) == ("ready_to_send", "1000.00", "GBP")
    assert (body["fee_amount"], body["fee_currency"]) == ("1.00", "GBP")  # 10 bps, regular
    assert body["payment_type"] == "regular"
    priority = body_of(
        await cc.payment(beneficiary_id, payment_type="priority", unique_request_id="p2")
    )
    assert priority["fee_amount"] == "5.00"  # 50 bps over SWIFT


async def test_a_tiny_payment_still_pays_one_minor_unit_of_fee(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary()
    body = body_of(await cc.payment(beneficiary_id, amount="1.00"))
    assert body["fee_amount"] == "0.01"


async def test_the_same_request_id_and_terms_answer_the_same_payment(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary()
    first = body_of(await cc.payment(beneficiary_id))
    again = await cc.payment(beneficiary_id)
    other = await cc.payment(beneficiary_id, amount="999.00")
    assert body_of(again)["id"] == first["id"]
    assert codes_of(other) == {"duplicate_request": ["duplicate_request"]}
    assert len(cc.sim.payments.records) == 1


async def test_a_bad_payment_names_every_bad_field(cc: Driver) -> None:
    reply = await cc.post(
        "/v2/payments/create", {"currency": "GBP", "amount": "1.234", "payment_type": "fast"}
    )
    assert (reply.status, body_of(reply)["error_code"]) == (400, "payment_create_failed")
    assert codes_of(reply) == {
        "amount": ["amount_is_in_invalid_format"],
        "beneficiary_id": ["beneficiary_id_is_required"],
        "reason": ["reason_is_required"],
        "reference": ["reference_is_required"],
        "unique_request_id": ["unique_request_id_is_required"],
        "payment_type": ["invalid_type"],
    }


UNKNOWN_ID = "5b1f0f3c-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"beneficiary_id": "not-a-uuid"},
            {"beneficiary_id": ["beneficiary_id_is_not_valid_uuid"]},
        ),
        ({"beneficiary_id": UNKNOWN_ID}, {"beneficiary_id": ["invalid_beneficiary_id"]}),
        ({"currency": "EUR"}, {"currency": ["invalid_currency"]}),
    ],
)
async def test_a_payment_must_name_a_live_beneficiary_in_its_currency(
    cc: Driver, overrides: dict[str, str], expected: dict[str, list[str]]
) -> None:
    beneficiary_id = await cc.beneficiary()
    reply = await cc.payment(beneficiary_id, **overrides)
    assert codes_of(reply) == expected


async def test_a_deleted_beneficiary_cannot_be_paid(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary()
    await cc.post(f"/v2/beneficiaries/{beneficiary_id}/delete")
    reply = await cc.payment(beneficiary_id)
    assert codes_of(reply) == {"beneficiary_id": ["invalid_beneficiary_id"]}


async def test_a_payment_is_submitted_then_completed(cc: Driver) -> None:
    payment_id = body_of(await cc.payment(await cc.beneficiary()))["id"]
    submitted = body_of(await cc.control(f"payments/{payment_id}/advance"))
    completed = body_of(await cc.control(f"payments/{payment_id}/advance"))
    assert (submitted["status"], completed["status"]) == ("submitted", "completed")
    assert completed["transferred_at"]
    assert (await cc.control(f"payments/{payment_id}/advance")).status == 400


async def test_the_magic_reference_makes_a_payment_fail(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary()
    payment_id = body_of(await cc.payment(beneficiary_id, reference="x SANDBOX_FAIL x"))["id"]
    await cc.control(f"payments/{payment_id}/advance")
    failed = body_of(await cc.control(f"payments/{payment_id}/advance"))
    assert failed["status"] == "failed"
    assert failed["failure_reason"]


async def test_a_payment_is_cancelable_only_while_ready_to_send(cc: Driver) -> None:
    beneficiary_id = await cc.beneficiary()
    first = body_of(await cc.payment(beneficiary_id))["id"]
    second = body_of(await cc.payment(beneficiary_id, unique_request_id="pay-2"))["id"]
    deleted = await cc.post(f"/v2/payments/{first}/delete")
    assert body_of(deleted)["status"] == "deleted"
    await cc.control(f"payments/{second}/advance")
    refused = await cc.post(f"/v2/payments/{second}/delete")
    assert (refused.status, body_of(refused)["error_code"]) == (400, "payment_delete_failed")
    assert codes_of(refused) == {"base": ["payment_cannot_be_deleted"]}


async def test_deleted_payments_show_only_with_with_deleted(cc: Driver) -> None:
    payment_id = body_of(await cc.payment(await cc.beneficiary()))["id"]
    await cc.post(f"/v2/payments/{payment_id}/delete")
    assert (await cc.get(f"/v2/payments/{payment_id}")).status == 404
    shown = await cc.get(f"/v2/payments/{payment_id}", {"with_deleted": "true"})
    assert body_of(shown)["status"] == "deleted"
    hidden = body_of(await cc.get("/v2/payments/find", {"unique_request_id": "pay-1"}))
    found = body_of(
        await cc.get("/v2/payments/find", {"unique_request_id": "pay-1", "with_deleted": "true"})
    )
    assert (hidden["payments"], [p["id"] for p in found["payments"]]) == ([], [payment_id])


async def test_the_snapshot_counts_amounts_in_minor_units_and_reset_forgets(cc: Driver) -> None:
    payment_id = body_of(await cc.payment(await cc.beneficiary()))["id"]
    await cc.conversion(buy_currency="JPY", sell_currency="KWD", amount="10000")
    snapshot = cc.sim.snapshot()
    assert snapshot["payments"][payment_id] | {"beneficiary_id": ""} == {  # type: ignore[index]
        "status": "ready_to_send",
        "currency": "GBP",
        "amount_minor": 100000,
        "fee_minor": 100,
        "beneficiary_id": "",
        "payment_type": "regular",
        "unique_request_id": "pay-1",
    }
    (conversion,) = snapshot["conversions"].values()  # type: ignore[attr-defined]
    assert (conversion["buy_minor"], conversion["sell_minor"]) == (
        10000,
        20440,
    )  # 10000 / 489.2487 = 20.4396 KWD, up
    cc.sim.reset()
    after = cc.sim.snapshot()
    assert (after["payments"], after["conversions"], after["beneficiaries"]) == ({}, {}, {})


async def test_the_strict_idempotency_control_refuses_identical_retries_too(cc: Driver) -> None:
    await cc.conversion()
    assert body_of(await cc.control("idempotency", {"replay": "false"})) == {
        "replay_identical": False
    }
    assert codes_of(await cc.conversion()) == {"duplicate_request": ["duplicate_request"]}
    await cc.control("idempotency", {"replay": "true"})
    assert (await cc.conversion()).status == 200
