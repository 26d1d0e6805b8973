""" "Commit then time out" over REST through Envoy: Stripe charges, its reply never arrives.

The payment answers 200 with status UNKNOWN (the contract: CreatePayment returns the payment
in whatever state the provider left it), its one attempt is Stripe's and UNKNOWN, and no
other provider is tried: Stripe may have charged, so charging Authorize.net too could take
the money twice. The gateway's own reconciler (its background loop, on the interval and first
check the settings give it) then asks Stripe, which says the intent succeeded: the payment
settles CAPTURED from the provider's truth. Through all of it the sandbox holds one charge and
the ledger one posting of the amount.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway_svc.domain.retry import RetryPolicy
from gateway_svc.service_layer.runtime import GatewayRuntime
from sandbox.testing import SandboxHandle
from tests.integration.gateway.faults_support import (
    STRIPE_AUTHORIZE,
    STRIPE_CREATE,
    NoJitter,
    OwnGateway,
    faults_fired,
    own_gateway,
    postings_of,
    requests_to,
    stripe_intents,
)
from tests.integration.gateway.payments_support import Merchant, card, minor, payment_body
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

VISA = card("4242424242424242")
AMOUNT = 3_100
STRIPE_TIMEOUT_S = 0.25
FIRST_CHECK_S = 0.5
SETTLE_WITHIN_S = 5.0


@pytest_asyncio.fixture(loop_scope="package")
async def gateway(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[OwnGateway]:
    """Stripe's read timeout is short (GATEWAY_STRIPE__TIMEOUT_S), and the reconciler checks
    an UNKNOWN payment soon (GATEWAY_RECONCILER_FIRST_CHECK_S) on a short interval."""
    async with own_gateway(
        stack,
        tmp_path,
        providers={"stripe": {"timeout_s": STRIPE_TIMEOUT_S}},
        reconciler_interval_s=0.1,
        reconciler_first_check_s=FIRST_CHECK_S,
    ) as own:
        yield own


@pytest_asyncio.fixture(loop_scope="package")
async def stripe_commits_then_times_out(sandbox: SandboxHandle) -> AsyncIterator[None]:
    await sandbox.control.add_fault(**STRIPE_AUTHORIZE, kind="commit_then_timeout", count=-1)
    yield
    await sandbox.control.clear_faults()


async def _settled(merchant: Merchant, payment_id: str) -> dict[str, Any]:
    """The payment once it has left UNKNOWN, polled over REST as a merchant would."""
    deadline = time.monotonic() + SETTLE_WITHIN_S
    while True:
        reply = await merchant.get(payment_id)
        assert reply.status_code == 200, reply.text
        payment: dict[str, Any] = reply.json()["payment"]
        if payment["status"] != "PAYMENT_STATUS_UNKNOWN":
            return payment
        assert time.monotonic() < deadline, f"still UNKNOWN after {SETTLE_WITHIN_S} s"
        await asyncio.sleep(0.05)


@pytest.mark.slow  # three timed-out tries with real backoff, then the reconciler: about 2 s
async def test_commit_then_timeout_ends_unknown_then_the_reconciler_settles_it_charged_once(
    stack: GatewayStack,
    gateway: OwnGateway,
    merchant: Merchant,
    sandbox: SandboxHandle,
    rest: httpx.AsyncClient,
    stripe_commits_then_times_out: None,
) -> None:
    m = gateway.merchant(merchant)
    reference = f"order-{uuid.uuid4().hex[:12]}"
    sent_before = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    fired_before = await faults_fired(sandbox, "stripe", "commit_then_timeout")
    anet_before = await requests_to(sandbox, "authorizenet")

    reply = await m.create(payment_body(AMOUNT, "USD", VISA, merchant_reference=reference))

    assert reply.status_code == 200, reply.text
    unknown = reply.json()["payment"]
    assert (unknown["status"], unknown["order_status"]) == (
        "PAYMENT_STATUS_UNKNOWN",
        "ORDER_STATUS_PROCESSING",
    )
    assert minor(unknown.get("amount_captured", {})) == 0
    [attempt] = unknown["attempts"]
    assert (attempt["provider"], attempt["outcome"]) == ("stripe", "ATTEMPT_OUTCOME_UNKNOWN")
    assert attempt["routing"]["candidates"] == ["stripe", "authorizenet"]  # one was left
    # Every try repeated the one request with its idempotency key: Stripe replayed it.
    tries = RetryPolicy().max_attempts
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) - sent_before == tries
    assert await faults_fired(sandbox, "stripe", "commit_then_timeout") - fired_before == tries
    assert await requests_to(sandbox, "authorizenet") == anet_before
    [intent] = (await stripe_intents(sandbox, reference)).values()
    assert (intent["status"], intent["captured"]) == ("succeeded", AMOUNT)
    await gateway.drain()
    assert await postings_of(stack.edge, rest, unknown) == []  # nothing is posted while unknown

    await sandbox.control.clear_faults()
    settled = await _settled(m, unknown["id"])
    await gateway.drain()

    assert (settled["status"], minor(settled["amount_captured"])) == (
        "PAYMENT_STATUS_CAPTURED",
        AMOUNT,
    )
    assert [(a["operation"], a["provider"], a["outcome"]) for a in settled["attempts"]] == [
        ("ATTEMPT_OPERATION_AUTHORIZE", "stripe", "ATTEMPT_OUTCOME_UNKNOWN"),
        ("ATTEMPT_OPERATION_LOOKUP", "stripe", "ATTEMPT_OUTCOME_SUCCEEDED"),
    ]
    assert list(await stripe_intents(sandbox, reference)) == [settled["provider_reference"]]
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) - sent_before == tries
    postings = await postings_of(stack.edge, rest, settled)
    assert [(p.status, p.clearing_debit) for p in postings if p.clearing_debit] == [
        ("TRANSACTION_STATUS_POSTED", AMOUNT)
    ]
    assert sum(p.clearing_credit for p in postings) == (intent["fee"] or 0)


LATE_CHARGE_MS = 2_500


@pytest_asyncio.fixture(loop_scope="package")
async def impatient(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[OwnGateway]:
    """As ``gateway``, with zero backoff, so the payment is UNKNOWN and checked well before
    the sandbox finishes the late charge."""

    def no_backoff(runtime: GatewayRuntime) -> None:
        runtime.rng = NoJitter()

    async with own_gateway(
        stack,
        tmp_path,
        providers={"stripe": {"timeout_s": STRIPE_TIMEOUT_S}},
        reconciler_interval_s=0.1,
        reconciler_first_check_s=0.3,
        tune=no_backoff,
    ) as own:
        yield own
    await stack.services.sandbox.control.clear_faults()


@pytest.mark.slow  # waits for a charge the sandbox makes 2.5 s late: about 3 s
async def test_a_charge_that_lands_after_the_first_check_is_never_reported_failed(
    impatient: OwnGateway, merchant: Merchant, sandbox: SandboxHandle
) -> None:
    """Stripe is slow rather than silent: every try times out, and Stripe charges the
    (one, idempotent) request 2.5 s later. The reconciler's first check comes before that and
    finds no PaymentIntent. That proves nothing while the request may still be running, so
    the payment must stay UNKNOWN (or become CAPTURED), never FAILED with "nothing was
    charged" beside a charge."""
    m = impatient.merchant(merchant)
    reference = f"order-{uuid.uuid4().hex[:12]}"
    await sandbox.control.add_fault(
        **STRIPE_AUTHORIZE, kind="latency", latency_ms=LATE_CHARGE_MS, count=-1
    )

    reply = await m.create(payment_body(AMOUNT, "USD", VISA, merchant_reference=reference))
    assert reply.status_code == 200, reply.text
    payment_id = reply.json()["payment"]["id"]
    assert reply.json()["payment"]["status"] == "PAYMENT_STATUS_UNKNOWN"
    deadline = time.monotonic() + SETTLE_WITHIN_S
    while not await stripe_intents(sandbox, reference):
        assert time.monotonic() < deadline, "Stripe never charged"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a reconciler pass or two after the charge
    after = (await m.get(payment_id)).json()["payment"]

    [intent] = (await stripe_intents(sandbox, reference)).values()
    assert intent["captured"] == AMOUNT
    assert after["status"] in {"PAYMENT_STATUS_UNKNOWN", "PAYMENT_STATUS_CAPTURED"}, (
        after["status"],
        after.get("decline"),
    )
