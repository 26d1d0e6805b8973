"""The gateway SIGKILLed mid-payment, then restarted and the request retried: one charge.

The gateway runs as its own process (``python -m gateway_svc serve``, configured only by
GATEWAY_* variables as ``make run`` configures it) behind a real Envoy, with the real ledger,
identity and provider sandbox in-process around it. A test scripts a Stripe fault so that the
payment is provably at a chosen point when the process is killed:

- in flight: the sandbox has received the authorize and is still working on it (latency); the
  charge is made after the gateway died, as a real provider finishes what it started;
- committed, unanswered: the sandbox has charged and holds the reply (commit_then_timeout).

Then a new process serves the same database on the same port (what the supervisor does for
a replica; with one gateway it does not restart it, so the test does), and the merchant's
backend retries with the same Idempotency-Key until it gets an answer (409 while the dead
request's lock is fresh, GATEWAY_IDEMPOTENCY_LOCK_TIMEOUT_S). The answer is the one payment
the first request created; the provider holds exactly one charge, made by the attempt that
payment recorded before the kill; the ledger holds one posting of the amount.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio

from tests.e2e.gateway_process import GatewayProcess, gateway_env
from tests.e2e.stack_fixture import Edge, Services, start_edge, start_services
from tests.integration.gateway.faults_support import (
    STRIPE_AUTHORIZE,
    STRIPE_CREATE,
    Posting,
    postings_of,
    requests_to,
    stripe_intents,
)
from tests.integration.gateway.payments_support import (
    Merchant,
    card,
    error_info,
    minor,
    new_key,
    new_merchant,
    payment_body,
)

T = TypeVar("T")

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]
# slow: each test kills and restarts a Python process (about 1.5 s) and waits out a lock.

ANSWER_WITHIN_S = 15.0
VISA = card("4242424242424242")
AMOUNT = 4_400
EDGE_DOMAIN = "edge.paymesh.local"
"""The ErrorInfo domain of Envoy's own answers (the gateway's is gateway.paymesh.local)."""
RETRY_EVERY_S = 0.1
RETRY_RESUMES = {
    "GATEWAY_IDEMPOTENCY_LOCK_TIMEOUT_S": "3",
    "GATEWAY_RECONCILER_INTERVAL_S": "3600",
}
"""A restart where the merchant's retry, not the completer, resumes the dead request."""
LATE_CHARGE_S = 5.0
"""Longer than a restart (about 1 to 2.5 s) plus the completer's first pass."""


@dataclass
class CrashStack:
    """The services, the gateway process, and the Envoy a merchant calls."""

    services: Services
    gateway: GatewayProcess
    edge: Edge
    rest: httpx.AsyncClient


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def crash(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CrashStack]:
    workdir = tmp_path_factory.mktemp("crash")
    async with (
        start_services(workdir) as services,
        start_edge(services, workdir / "hops") as hops,
    ):
        gateway = GatewayProcess(gateway_env(services, hops, workdir), workdir)
        try:
            await gateway.start()
            upstreams = {**services.upstreams(), "gateway": [f"127.0.0.1:{gateway.port}"]}
            async with (
                start_edge(services, workdir / "edge", upstreams=upstreams) as edge,
                edge.rest_client() as rest,
            ):
                rest.timeout = httpx.Timeout(ANSWER_WITHIN_S)
                yield CrashStack(services, gateway, edge, rest)
        finally:
            await gateway.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def merchant(crash: CrashStack) -> AsyncIterator[Merchant]:
    yield await new_merchant(crash.services, crash.rest)
    await crash.services.sandbox_control.clear_faults()


async def _until(what: str, check: Callable[[], Awaitable[T | None]], timeout_s: float = 5.0) -> T:
    """``await check()`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while not (found := await check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(0.02)
    return found


async def _retry_until_answered(
    merchant: Merchant, body: dict[str, Any], key: str
) -> tuple[httpx.Response, list[int]]:
    """What a merchant's backend does: the same request and key until a real answer. A 409
    IDEMPOTENCY_KEY_IN_USE says the dead request's lock is still fresh (or the completer
    holds it); a 503 with Envoy's own ErrorInfo is Envoy finding no gateway yet."""
    deadline = time.monotonic() + ANSWER_WITHIN_S
    statuses: list[int] = []
    while True:
        reply = await merchant.create(body, key=key)
        statuses.append(reply.status_code)
        busy = reply.status_code == 409 and error_info(reply)["reason"] == "IDEMPOTENCY_KEY_IN_USE"
        from_envoy = reply.status_code == 503 and error_info(reply)["domain"] == EDGE_DOMAIN
        if not (busy or from_envoy):
            return reply, statuses
        assert time.monotonic() < deadline, statuses
        # Sooner than retry_after_s says: the new process's completer may unlock it early.
        await asyncio.sleep(RETRY_EVERY_S)


async def _capture_postings(crash: CrashStack, payment: dict[str, Any], fee: int) -> list[Posting]:
    """The payment's postings once the new process's relay has delivered the capture and the
    provider's fee (two outbox items, delivered in order but not at once)."""

    async def delivered() -> list[Posting]:
        found = await postings_of(crash.edge, crash.rest, payment)
        debited = any(p.clearing_debit for p in found)
        return found if debited and sum(p.clearing_credit for p in found) >= fee else []

    return list(await _until("the capture and fee postings", delivered))


async def _assert_charged_once(
    crash: CrashStack, merchant: Merchant, reply: httpx.Response, reference: str
) -> dict[str, Any]:
    """The retry's answer is the first request's payment, and the money moved once."""
    assert reply.status_code == 200, reply.text
    payment: dict[str, Any] = reply.json()["payment"]
    assert (payment["status"], minor(payment["amount_captured"])) == (
        "PAYMENT_STATUS_CAPTURED",
        AMOUNT,
    )
    listed = (await merchant.list(merchant_reference=reference)).json()["payments"]
    assert [p["id"] for p in listed] == [payment["id"]]  # the dead request's payment, resumed
    [authorize] = payment["attempts"]
    assert (authorize["operation"], authorize["outcome"]) == (
        "ATTEMPT_OPERATION_AUTHORIZE",
        "ATTEMPT_OUTCOME_SUCCEEDED",
    )
    intents = await stripe_intents(crash.services.sandbox, reference)
    assert list(intents) == [payment["provider_reference"]]
    [intent] = intents.values()
    # The one charge is the one the attempt recorded before the kill asked for.
    assert intent["metadata"]["paymesh_attempt_id"] == authorize["id"]
    assert intent["captured"] == AMOUNT
    fee = intent["fee"] or 0
    postings = await _capture_postings(crash, payment, fee)
    assert [(p.status, p.clearing_debit) for p in postings if p.clearing_debit] == [
        ("TRANSACTION_STATUS_POSTED", AMOUNT)
    ]
    assert sum(p.clearing_credit for p in postings) == fee
    return payment


async def _create_then_kill(
    crash: CrashStack,
    merchant: Merchant,
    body: dict[str, Any],
    key: str,
    killable: Callable[[], Awaitable[bool]],
) -> httpx.Response:
    """Send the create, SIGKILL the gateway once ``killable()`` says so, and return what the
    merchant got for the killed request (Envoy's answer: the upstream went away)."""
    first = asyncio.create_task(merchant.create(body, key=key))
    await _until("the payment reaches the kill point", killable)
    assert not first.done()  # the request is still waiting for the provider
    await crash.gateway.kill()
    return await first


def _assert_envoy_lost_the_upstream(reply: httpx.Response) -> None:
    """The killed request's answer: Envoy's 503, its upstream gone mid-request (it does not
    retry a request that was already sent)."""
    assert reply.status_code == 503, reply.text
    info = error_info(reply)
    assert info["domain"] == EDGE_DOMAIN, info
    assert "upstream_reset" in info["metadata"].get("cause", ""), info


def _order(amount: int = AMOUNT) -> tuple[str, dict[str, Any], str]:
    reference = f"order-{uuid.uuid4().hex[:12]}"
    body = payment_body(amount, "USD", VISA, provider="stripe", merchant_reference=reference)
    return reference, body, new_key()


async def test_killed_while_stripe_works_on_the_charge_the_retry_finds_it_and_charges_once(
    crash: CrashStack, merchant: Merchant
) -> None:
    sandbox = crash.services.sandbox
    reference, body, key = _order()
    sent = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    await sandbox.control.add_fault(**STRIPE_AUTHORIZE, kind="latency", latency_ms=800, count=1)

    async def at_stripe() -> bool:
        return await requests_to(sandbox, "stripe", STRIPE_CREATE) > sent

    killed = await _create_then_kill(crash, merchant, body, key, at_stripe)
    assert await stripe_intents(sandbox, reference) == {}  # killed before Stripe charged
    # Stripe finishes what it started, for a gateway that is gone.
    await _until("Stripe's charge", lambda: stripe_intents(sandbox, reference))
    await crash.gateway.start()
    reply, statuses = await _retry_until_answered(merchant, body, key)

    _assert_envoy_lost_the_upstream(killed)  # the merchant never saw a payment
    await _assert_charged_once(crash, merchant, reply, reference)
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) == sent + 1  # found, not resent
    assert set(statuses[:-1]) <= {409, 503}, statuses
    assert (await merchant.create(body, key=key)).content == reply.content


async def test_killed_after_stripe_charged_but_before_its_reply_the_retry_charges_once(
    crash: CrashStack, merchant: Merchant
) -> None:
    """The merchant's retry itself resumes the payment: the new process's lock timeout
    outlasts its start-up, so its completer's first pass finds the key still locked and no
    second pass comes; the retry waits out the lock, asks Stripe, and finds the charge."""
    sandbox = crash.services.sandbox
    reference, body, key = _order()
    sent = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    await sandbox.control.add_fault(**STRIPE_AUTHORIZE, kind="commit_then_timeout", count=1)

    async def charged() -> bool:
        return bool(await stripe_intents(sandbox, reference))

    killed = await _create_then_kill(crash, merchant, body, key, charged)
    await crash.gateway.start(**RETRY_RESUMES)
    reply, statuses = await _retry_until_answered(merchant, body, key)

    _assert_envoy_lost_the_upstream(killed)
    assert 409 in statuses  # the lock was waited out, not ignored
    await _assert_charged_once(crash, merchant, reply, reference)
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) == sent + 1


async def _settled_by_the_completer(merchant: Merchant, reference: str) -> dict[str, Any]:
    """The payment once the new process's completer has settled its pending attempt, read as
    a merchant's backend would before retrying (ListPayments by its reference)."""

    async def settled() -> dict[str, Any] | None:
        listed = (await merchant.list(merchant_reference=reference)).json()["payments"]
        done = [p for p in listed if p["attempts"][0]["outcome"] != "ATTEMPT_OUTCOME_PENDING"]
        return done[0] if done else None

    found: dict[str, Any] = await _until("the completer's settlement", settled)
    return found


async def test_a_charge_stripe_makes_after_the_completer_looked_is_never_reported_failed(
    crash: CrashStack, merchant: Merchant
) -> None:
    """Stripe is still working on the dead gateway's authorize when the new process's
    completer takes the abandoned key over and finds no PaymentIntent yet. That proves
    nothing: Stripe charges a moment later. The payment must not end FAILED with "nothing was
    charged" (a merchant would then ask the customer to pay again); UNKNOWN until the
    reconciler sees the charge, or CAPTURED, are the truthful answers."""
    sandbox = crash.services.sandbox
    reference, body, key = _order()
    sent = await requests_to(sandbox, "stripe", STRIPE_CREATE)
    await sandbox.control.add_fault(
        **STRIPE_AUTHORIZE, kind="latency", latency_ms=int(LATE_CHARGE_S * 1000), count=1
    )

    async def at_stripe() -> bool:
        return await requests_to(sandbox, "stripe", STRIPE_CREATE) > sent

    killed = await _create_then_kill(crash, merchant, body, key, at_stripe)
    await crash.gateway.start()
    looked = await _settled_by_the_completer(merchant, reference)
    charged_before_the_look = bool(await stripe_intents(sandbox, reference))
    await _until("Stripe's late charge", lambda: stripe_intents(sandbox, reference), 10.0)
    reply, _ = await _retry_until_answered(merchant, body, key)

    _assert_envoy_lost_the_upstream(killed)
    assert not charged_before_the_look, "Stripe charged before the completer looked"
    assert looked["status"] != "PAYMENT_STATUS_FAILED", (looked["status"], looked.get("decline"))
    assert reply.status_code == 200, reply.text
    payment = reply.json()["payment"]
    assert payment["id"] == looked["id"]
    assert payment["status"] in {"PAYMENT_STATUS_UNKNOWN", "PAYMENT_STATUS_CAPTURED"}, payment
    [intent] = (await stripe_intents(sandbox, reference)).values()
    assert intent["captured"] == AMOUNT
    assert await requests_to(sandbox, "stripe", STRIPE_CREATE) == sent + 1
