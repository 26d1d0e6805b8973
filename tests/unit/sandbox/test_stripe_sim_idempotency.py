"""The Stripe simulator's Idempotency-Key and Search API (what the adapter's lookup uses)."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.sandbox.test_stripe_sim_support import (
    authorized,
    create,
    intent_form,
    new_sim,
    send,
)

SEARCH = "/v1/payment_intents/search"


async def test_the_same_key_and_params_replay_the_first_reply_byte_for_byte() -> None:
    sim = new_sim()
    first = await create(sim, key="k-1")
    again = await create(sim, key="k-1")
    assert again.raw == first.raw and again.status == first.status
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["original-request"] == first.headers["request-id"]
    assert again.headers["request-id"] != first.headers["request-id"]
    assert len(sim.store.intents) == 1


async def test_a_decline_is_replayed_too() -> None:
    sim = new_sim()
    form = intent_form(payment_method="pm_card_chargeDeclinedInsufficientFunds")
    first = await create(sim, form, key="k-2")
    again = await create(sim, form, key="k-2")
    assert (first.status, again.status) == (402, 402)
    assert again.raw == first.raw
    assert len(sim.store.intents) == 1 and len(sim.store.charges) == 1


async def test_the_same_key_with_other_params_is_an_idempotency_error() -> None:
    sim = new_sim()
    await create(sim, key="k-3")
    other = await create(sim, intent_form(amount=1001), key="k-3")
    assert other.status == 400
    assert other.error["type"] == "idempotency_error"
    assert "same parameters" in other.error["message"]
    assert len(sim.store.intents) == 1


async def test_reordered_params_are_the_same_request() -> None:
    sim = new_sim()
    form = list(intent_form().items())
    first = await create(sim, form, key="k-4")
    again = await create(sim, list(reversed(form)), key="k-4")
    assert again.raw == first.raw


async def test_the_same_key_on_another_endpoint_is_an_idempotency_error() -> None:
    sim = new_sim()
    intent_id = await authorized(sim)
    path = f"/v1/payment_intents/{intent_id}/cancel"
    await send(sim, "POST", path, headers={"idempotency-key": "k-5"})
    other = await send(
        sim,
        "POST",
        "/v1/refunds",
        {"payment_intent": intent_id},
        headers={"idempotency-key": "k-5"},
    )
    assert other.status == 400 and other.error["type"] == "idempotency_error"
    assert "same endpoint" in other.error["message"]


async def test_a_refusal_before_execution_is_not_saved() -> None:
    sim = new_sim()
    bad = await create(sim, intent_form(amount=None), key="k-6")
    assert bad.status == 400
    # Had the refusal been saved, other parameters under its key would be an idempotency_error.
    fixed = await create(sim, intent_form(), key="k-6")
    assert fixed.status == 200


async def test_a_key_longer_than_255_characters_is_refused() -> None:
    reply = await create(new_sim(), key="k" * 256)
    assert reply.status == 400
    assert "255" in reply.error["message"]


async def test_a_concurrent_duplicate_gets_409_and_never_a_second_charge() -> None:
    sim = new_sim()
    sim.processing_delay_s = 0.05
    first, second = await asyncio.gather(create(sim, key="k-7"), create(sim, key="k-7"))
    assert sorted([first.status, second.status]) == [200, 409]
    conflict = first if first.status == 409 else second
    assert conflict.error["type"] == "idempotency_error"
    assert conflict.error["code"] == "idempotency_key_in_use"
    assert conflict.error["message"].startswith(
        "There is currently another in-progress request using this Idempotent Key"
    )
    assert len(sim.store.intents) == 1
    later = await create(sim, key="k-7")
    assert later.headers["idempotent-replayed"] == "true"


async def test_keys_are_pruned_oldest_first_beyond_the_limit() -> None:
    from sandbox.stripe.sim import StripeSim
    from tests.unit.sandbox.test_stripe_sim_support import CONFIG

    sim = StripeSim(CONFIG, max_idempotency_keys=2)
    for key in ("a", "b", "c"):
        await create(sim, key=key)
    assert len(sim.idempotency) == 2
    again = await create(sim, key="a")
    assert "idempotent-replayed" not in again.headers
    assert len(sim.store.intents) == 4


async def test_search_finds_an_intent_by_its_attempt_metadata() -> None:
    sim = new_sim()
    wanted = await create(sim, intent_form(**{"metadata[paymesh_attempt_id]": "att-1"}))
    await create(sim, intent_form(**{"metadata[paymesh_attempt_id]": "att-2"}))
    reply = await send(
        sim, "GET", SEARCH, query={"query": "metadata['paymesh_attempt_id']:'att-1'"}
    )
    assert reply.status == 200
    assert reply.body["object"] == "search_result"
    assert [intent["id"] for intent in reply.body["data"]] == [wanted.body["id"]]
    assert reply.body["has_more"] is False and reply.body["next_page"] is None


async def test_search_of_something_never_sent_finds_nothing_and_creates_nothing() -> None:
    sim = new_sim()
    reply = await send(sim, "GET", SEARCH, query={"query": 'metadata["paymesh_attempt_id"]:"x"'})
    assert reply.body["data"] == []
    assert sim.store.intents == {}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status:'requires_capture'", 2),
        ("status:'requires_capture' AND amount>1500", 1),
        ("amount<=1000 OR currency:'eur'", 2),
        ("-status:'requires_capture'", 1),
        (r"metadata['note']:'it\'s'", 1),
    ],
)
async def test_search_understands_stripes_query_language(query: str, expected: int) -> None:
    sim = new_sim()
    await create(sim, intent_form(amount=1000))
    await create(sim, intent_form(amount=2000, **{"metadata[note]": "it's"}))
    await create(sim, intent_form(amount=3000, currency="eur", capture_method="automatic"))
    reply = await send(sim, "GET", SEARCH, query={"query": query})
    assert reply.status == 200, reply.body
    assert len(reply.body["data"]) == expected


@pytest.mark.parametrize(
    "query", ["", "status:'a' AND amount>1 OR amount<2", "amount:'ten'", "nickname:'x'", "status"]
)
async def test_a_query_stripe_cannot_parse_is_refused(query: str) -> None:
    reply = await send(new_sim(), "GET", SEARCH, query={"query": query})
    assert reply.status == 400
    assert reply.error["param"] == "query"


async def test_search_pages_newest_first() -> None:
    sim = new_sim()
    ids = [(await create(sim)).body["id"] for _ in range(3)]
    first = await send(sim, "GET", SEARCH, query={"query": "amount:1000", "limit": "2"})
    assert [i["id"] for i in first.body["data"]] == ids[:0:-1]
    assert first.body["has_more"] is True
    rest = await send(
        sim,
        "GET",
        SEARCH,
        query={"query": "amount:1000", "limit": "2", "page": first.body["next_page"]},
    )
    assert [i["id"] for i in rest.body["data"]] == ids[:1]


async def test_search_results_can_expand_their_charges() -> None:
    sim = new_sim()
    await create(sim, intent_form(**{"metadata[paymesh_attempt_id]": "att-9"}))
    reply = await send(
        sim,
        "GET",
        SEARCH,
        query={
            "query": "metadata['paymesh_attempt_id']:'att-9'",
            "expand[]": "data.latest_charge.balance_transaction",
        },
    )
    assert reply.body["data"][0]["latest_charge"]["object"] == "charge"
