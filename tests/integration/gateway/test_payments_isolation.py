"""Tenant isolation by id (OWASP API1, broken object-level authorization): another
merchant's payment answers exactly what a missing one does, 404 PAYMENT_NOT_FOUND, on every
payment and refund route, and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.integration.gateway.payments_support import (
    Merchant,
    card,
    error_info,
    minor,
    money,
    new_merchant,
    payment_body,
)
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

MISSING = "pay_00000000000000000000000000"
Route = Callable[[Merchant, str], Awaitable[httpx.Response]]
ROUTES: dict[str, Route] = {
    "get": lambda m, pid: m.get(pid),
    "capture": lambda m, pid: m.capture(pid),
    "capture_amount": lambda m, pid: m.capture(pid, money(100, "USD")),
    "cancel": lambda m, pid: m.cancel(pid),
    "refund": lambda m, pid: m.refund(pid),
    "refund_amount": lambda m, pid: m.refund(pid, money(100, "USD")),
    "list_refunds": lambda m, pid: m.refunds(pid),
}


@pytest_asyncio.fixture(loop_scope="package")
async def other(stack: GatewayStack, rest: httpx.AsyncClient) -> Merchant:
    return await new_merchant(stack.services, rest)


async def _held(merchant: Merchant) -> dict[str, Any]:
    return await merchant.pay(payment_body(5_000, "USD", card("4242424242424242"), manual=True))


def _shape(reply: httpx.Response, payment_id: str) -> tuple[int, str, str]:
    """What a prober sees, with the id they sent masked out."""
    return reply.status_code, error_info(reply)["reason"], reply.text.replace(payment_id, "<id>")


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_another_merchants_payment_is_404_exactly_like_a_missing_one(
    merchant: Merchant, other: Merchant, route: str
) -> None:
    payment = await _held(merchant)
    call = ROUTES[route]

    theirs = await call(other, payment["id"])
    missing = await call(other, MISSING)
    after = (await merchant.get(payment["id"])).json()["payment"]

    assert _shape(theirs, payment["id"]) == _shape(missing, MISSING)
    assert (theirs.status_code, error_info(theirs)["reason"]) == (404, "PAYMENT_NOT_FOUND")
    assert after["status"] == "PAYMENT_STATUS_AUTHORIZED"  # nothing happened to it
    assert minor(after["amount_captured"]) == 0


async def test_a_merchants_list_shows_only_its_own_payments(
    merchant: Merchant, other: Merchant
) -> None:
    mine = await _held(merchant)
    theirs = await _held(other)

    listed = (await merchant.list()).json()["payments"]

    assert [p["id"] for p in listed] == [mine["id"]]
    assert theirs["id"] not in str(listed)


async def test_list_filters_by_status_reference_and_time(merchant: Merchant) -> None:
    held = await _held(merchant)
    captured = await merchant.pay(
        payment_body(700, "USD", card("4242424242424242"), merchant_reference="order-7")
    )

    by_status = await merchant.list(status="PAYMENT_STATUS_AUTHORIZED")
    by_reference = await merchant.list(merchant_reference="order-7")
    after_first = await merchant.list(start_time=held["update_time"])
    before_first = await merchant.list(end_time=held["create_time"])

    assert [p["id"] for p in by_status.json()["payments"]] == [held["id"]]
    assert [p["id"] for p in by_reference.json()["payments"]] == [captured["id"]]
    assert [p["id"] for p in after_first.json()["payments"]] == [captured["id"]]
    assert before_first.json()["payments"] == []
