"""The gateway's PayPal webhook verification against the sandbox's verify-webhook-signature.

Events are the ones the sandbox's PayPal emits for real state changes (authorize, capture,
refund through the gateway's own PayPal adapter), caught at the simulator's event sink and
signed as the sandbox's sender signs them; the gateway then verifies each one over TLS with
the adapter's cached token, and parses it into the references the adapter stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import pytest

from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.paypal import PayPalConfig, PayPalProvider
from gateway_svc.adapters.providers.paypal_auth import AccessTokens
from gateway_svc.adapters.providers.paypal_webhooks import (
    PayPalWebhookVerifier,
    verify_request_body,
)
from gateway_svc.domain.provider_signatures import PayPalTransmission, paypal_transmission
from gateway_svc.domain.provider_webhooks import EventKind
from gateway_svc.domain.provider_webhooks_paypal_currencycloud import parse_paypal
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from sandbox.paypal.sim import PayPalSim
from sandbox.testing import SandboxHandle
from sandbox.webhooks import paypal as hooks
from sandbox.webhooks.events import Event, EventBuilder
from sandbox.webhooks.wire import Signing
from tests.integration.sandbox.test_paypal_adapter_support import call, provider_for

VERIFY = "/v1/notifications/verify-webhook-signature"


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["paypal"]


@pytest.fixture
async def paypal(sandbox_server: SandboxHandle) -> AsyncIterator[PayPalProvider]:
    provider = provider_for(sandbox_server)
    yield provider
    await provider.aclose()


@pytest.fixture
async def verifier(
    sandbox_server: SandboxHandle, paypal: PayPalProvider
) -> AsyncIterator[PayPalWebhookVerifier]:
    """The verifier as the gateway wires it: the adapter's token cache, the sandbox's id."""
    config = verifier_config(sandbox_server)
    webhook_id = sandbox_server.config.paypal_webhook_id
    async with verifier_of(config, webhook_id, paypal.tokens) as checker:
        yield checker


@pytest.fixture
def emitted(sandbox_server: SandboxHandle) -> list[Event]:
    """Every event the sandbox's PayPal emits from now on, built as its sender builds them."""
    events: list[Event] = []

    def listener(build: EventBuilder) -> None:
        events.append(build())

    cast(PayPalSim, sandbox_server.sim("paypal")).webhooks.connect(listener)
    return events


@asynccontextmanager
async def verifier_of(
    config: PayPalConfig, webhook_id: str, tokens: AccessTokens | None = None
) -> AsyncIterator[PayPalWebhookVerifier]:
    """A verifier, closed afterwards (``tokens``: share that cache, else its own)."""
    checker = PayPalWebhookVerifier(config, webhook_id, tokens=tokens)
    try:
        yield checker
    finally:
        await checker.aclose()


def verifier_config(
    handle: SandboxHandle, secret: str | None = None, **http: object
) -> PayPalConfig:
    base = http.pop("base_url", handle.base_url("paypal"))
    return PayPalConfig(
        HttpConfig(base_url=str(base), ca_file=str(handle.ca_file), timeout_s=5.0),
        handle.config.paypal_client_id,
        handle.config.paypal_client_secret if secret is None else secret,
    )


def signed(
    handle: SandboxHandle, event: Event, *, age_s: int = 0, corrupt: bool = False
) -> PayPalTransmission:
    """The PAYPAL-* headers the sandbox's sender puts on ``event``, read as the gateway does."""
    headers = hooks.sign(event, Signing(handle.config, int(time.time()) - age_s, corrupt))
    return paypal_transmission(headers)


async def captured_payment(paypal: PayPalProvider) -> None:
    charge = await paypal.authorize(call("verify-1"))
    await paypal.capture(charge, 6_000, "USD", "verify-1-capture")


async def test_genuine_events_verify_and_name_what_the_adapter_stored(
    sandbox_server: SandboxHandle,
    paypal: PayPalProvider,
    verifier: PayPalWebhookVerifier,
    emitted: list[Event],
) -> None:
    charge = await paypal.authorize(call("verify-1"))
    captured = await paypal.capture(charge, 6_000, "USD", "verify-1-capture")
    refund = await paypal.refund(captured, 1_000, "USD", "verify-1-refund")
    kinds = [event.type for event in emitted]
    assert kinds == [hooks.AUTHORIZATION_CREATED, hooks.CAPTURE_COMPLETED, hooks.CAPTURE_REFUNDED]

    for event in emitted:
        assert await verifier.verify(signed(sandbox_server, event), event.body) is True

    auth, capture, refunded = (parse_paypal(event.body) for event in emitted)
    assert (auth.kind, auth.object_reference) == (EventKind.AUTHORIZED, charge.provider_ref)
    assert auth.refs["authorization_id"] == charge.refs["authorization_id"]
    assert (capture.kind, capture.object_reference) == (EventKind.CAPTURED, charge.provider_ref)
    assert capture.refs["capture_id"] == captured.refs["capture_id"]
    assert (capture.amount_minor, capture.currency) == (6_000, "USD")
    assert (refunded.kind, refunded.refund_reference) == (
        EventKind.REFUND_SUCCEEDED,
        refund.provider_ref,
    )
    assert refunded.refs["capture_id"] == captured.refs["capture_id"]
    assert (refunded.amount_minor, refunded.refunded_minor) == (1_000, 1_000)
    # One token served the payment calls and every verification.
    assert paypal.tokens.fetches == 1


async def test_a_tampered_event_fails_verification(
    sandbox_server: SandboxHandle,
    paypal: PayPalProvider,
    verifier: PayPalWebhookVerifier,
    emitted: list[Event],
) -> None:
    await captured_payment(paypal)
    event = emitted[-1]
    transmission = signed(sandbox_server, event)
    tampered = event.body.replace(b'"60.00"', b'"99.00"')
    assert tampered != event.body

    assert await verifier.verify(transmission, tampered) is False
    assert await verifier.verify(transmission, event.body) is True


@pytest.mark.parametrize(
    ("age_s", "corrupt"), [(0, True), (600, False), (-600, False)], ids=["bad", "stale", "future"]
)
async def test_a_bad_or_badly_timed_signature_fails_verification(
    sandbox_server: SandboxHandle,
    paypal: PayPalProvider,
    verifier: PayPalWebhookVerifier,
    emitted: list[Event],
    age_s: int,
    corrupt: bool,
) -> None:
    await captured_payment(paypal)
    event = emitted[-1]

    transmission = signed(sandbox_server, event, age_s=age_s, corrupt=corrupt)

    assert await verifier.verify(transmission, event.body) is False


async def test_another_events_transmission_fails_verification(
    sandbox_server: SandboxHandle,
    paypal: PayPalProvider,
    verifier: PayPalWebhookVerifier,
    emitted: list[Event],
) -> None:
    await captured_payment(paypal)
    first, second = emitted[0], emitted[1]

    assert await verifier.verify(signed(sandbox_server, first), second.body) is False


async def test_a_verifier_configured_with_another_webhook_id_gets_failure(
    sandbox_server: SandboxHandle, paypal: PayPalProvider, emitted: list[Event]
) -> None:
    await captured_payment(paypal)
    event = emitted[-1]
    async with verifier_of(verifier_config(sandbox_server), "WH-SOMEONE-ELSES-0001") as other:
        assert await other.verify(signed(sandbox_server, event), event.body) is False
        assert other.tokens.fetches == 1  # without a shared cache it fetched its own


async def test_a_token_paypal_refuses_is_replaced_and_the_call_made_once_more(
    sandbox_server: SandboxHandle,
    paypal: PayPalProvider,
    verifier: PayPalWebhookVerifier,
    emitted: list[Event],
) -> None:
    await captured_payment(paypal)
    event = emitted[-1]
    await sandbox_server.control.add_fault(provider="paypal", kind="error", status=401, path=VERIFY)

    assert await verifier.verify(signed(sandbox_server, event), event.body) is True
    assert paypal.tokens.fetches == 2


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"kind": "error", "status": 503}, 503),
        ({"kind": "error", "status": 500}, 500),  # a read: 500 is retriable, not UNKNOWN
        ({"kind": "rate_limit", "retry_after_s": 2}, 429),
        ({"kind": "reset"}, None),
    ],
    ids=["503", "500", "429", "reset"],
)
async def test_no_answer_from_paypal_is_retriable(
    sandbox_server: SandboxHandle,
    paypal: PayPalProvider,
    verifier: PayPalWebhookVerifier,
    emitted: list[Event],
    fault: dict[str, object],
    status: int | None,
) -> None:
    await captured_payment(paypal)
    event = emitted[-1]
    await sandbox_server.control.add_fault(provider="paypal", path=VERIFY, **fault)

    with pytest.raises(ProviderError) as caught:
        await verifier.verify(signed(sandbox_server, event), event.body)

    assert (caught.value.kind, caught.value.code) == (
        ErrorKind.RETRIABLE,
        DeclineCode.PROVIDER_UNAVAILABLE,
    )
    assert caught.value.http_status == status
    if status == 429:
        assert caught.value.retry_after_s == 2.0
    # Once PayPal answers again, the same delivery verifies.
    await sandbox_server.control.clear_faults()
    assert await verifier.verify(signed(sandbox_server, event), event.body) is True


async def test_an_unreachable_paypal_is_retriable_and_never_sent(
    sandbox_server: SandboxHandle, paypal: PayPalProvider, emitted: list[Event]
) -> None:
    await captured_payment(paypal)
    event = emitted[-1]
    # The token is cached, so the verification call itself is what cannot connect.
    config = verifier_config(sandbox_server, base_url="https://127.0.0.1:9/paypal")
    async with verifier_of(config, "WH-PAYMESH-SANDBOX-0001", paypal.tokens) as down:
        with pytest.raises(ProviderError) as caught:
            await down.verify(signed(sandbox_server, event), event.body)

    assert (caught.value.kind, caught.value.sent) == (ErrorKind.RETRIABLE, False)


async def test_bad_client_credentials_are_invalid(
    sandbox_server: SandboxHandle, paypal: PayPalProvider, emitted: list[Event]
) -> None:
    await captured_payment(paypal)
    event = emitted[-1]
    async with verifier_of(verifier_config(sandbox_server, secret="wrong"), "WH-X") as wrong:
        with pytest.raises(ProviderError) as caught:
            await wrong.verify(signed(sandbox_server, event), event.body)

    assert caught.value.kind is ErrorKind.INVALID


async def test_a_body_that_is_not_a_json_object_is_refused_before_any_call(
    sandbox_server: SandboxHandle, verifier: PayPalWebhookVerifier
) -> None:
    transmission = PayPalTransmission("id", "2024-06-20T12:00:00Z", "c2ln", "https://x", "SHA")

    for body in (b"[]", b"not json", b"\xff"):
        with pytest.raises(ProviderError) as caught:
            await verifier.verify(transmission, body)
        assert (caught.value.kind, caught.value.sent) == (ErrorKind.INVALID, False)
    assert verifier.tokens.fetches == 0


def test_the_request_carries_the_event_bytes_verbatim() -> None:
    event = b'{"id":"WH-1","resource":{"amount":{"value":"1.10"},"n":1.10}, "z":"\\u00e9"}'
    transmission = PayPalTransmission("tid", "2024-06-20T12:00:00Z", "c2ln", "https://c", "algo")

    body = verify_request_body(transmission, "WH-ID", event)

    assert event in body  # not re-serialized: 1.10 and the escape survive as sent
    parsed = json.loads(body)
    assert parsed == {
        "auth_algo": "algo",
        "cert_url": "https://c",
        "transmission_id": "tid",
        "transmission_sig": "c2ln",
        "transmission_time": "2024-06-20T12:00:00Z",
        "webhook_id": "WH-ID",
        "webhook_event": json.loads(event),
    }
