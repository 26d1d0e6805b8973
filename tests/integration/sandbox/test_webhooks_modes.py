"""The sending modes a test scripts: duplicate, reverse, bad_signature and stale."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sandbox.control_client import ControlRefused
from sandbox.testing import SandboxHandle
from tests.integration.sandbox.webhook_receiver import (
    CONFIG,
    Hooked,
    hooked,
    razorpay_signature_ok,
    stripe_signature_ok,
)


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["stripe", "razorpay"]


@pytest.fixture
async def hooks(
    sandbox_server: SandboxHandle, sandbox_pki: tuple[Path, Path, Path]
) -> AsyncIterator[Hooked]:
    """Stripe's API, callbacks of every provider going to one receiver."""
    async with hooked(sandbox_server, sandbox_pki, "stripe") as running:
        yield running


async def _pay(stripe: httpx.AsyncClient, capture: bool = True) -> str:
    form = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa"}
    form |= {"confirm": "true", "capture_method": "automatic" if capture else "manual"}
    intent_id: str = (await stripe.post("/v1/payment_intents", data=form)).json()["id"]
    if not capture:
        await stripe.post(f"/v1/payment_intents/{intent_id}/capture")
    return intent_id


async def test_duplicate_sends_each_event_twice_with_one_id(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    await sandbox_server.control.webhook_mode("duplicate", provider="stripe")
    await _pay(stripe)
    sent = await sandbox_server.control.flush_webhooks()
    first, second = receiver.of("stripe")
    assert first.body == second.body
    assert first.json()["type"] == "payment_intent.succeeded"
    assert stripe_signature_ok(first) and stripe_signature_ok(second)
    assert [(r["event_id"], r["mode"], r["delivered"]) for r in sent] == [
        (first.json()["id"], "duplicate", True)
    ] * 2


async def test_reverse_holds_events_until_a_flush_sends_them_newest_first(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    control = sandbox_server.control
    await control.webhook_mode("reverse")
    await _pay(stripe, capture=False)
    settings = await control.webhooks()
    assert (settings["held"], settings["pending"]) == (2, 0)
    assert receiver.received == []
    await control.flush_webhooks()
    types = [callback.json()["type"] for callback in receiver.of("stripe")]
    assert types == ["payment_intent.succeeded", "payment_intent.amount_capturable_updated"]
    assert (await control.webhooks())["held"] == 0


async def test_bad_signature_corrupts_the_mac_but_not_its_shape(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    await sandbox_server.control.webhook_mode("bad_signature")
    await _pay(stripe)
    [sent] = await sandbox_server.control.flush_webhooks()
    [callback] = receiver.of("stripe")
    assert not stripe_signature_ok(callback)
    signature = dict(p.split("=", 1) for p in callback.headers["stripe-signature"].split(","))
    assert len(signature["v1"]) == 64 and abs(time.time() - int(signature["t"])) < 60
    assert (sent["mode"], sent["delivered"]) == ("bad_signature", True)


async def test_stale_signs_correctly_for_a_time_ten_minutes_old(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    await sandbox_server.control.webhook_mode("stale", provider="stripe")
    await _pay(stripe)
    await sandbox_server.control.flush_webhooks()
    [callback] = receiver.of("stripe")
    assert not stripe_signature_ok(callback)  # refused on the tolerance alone
    signature = dict(p.split("=", 1) for p in callback.headers["stripe-signature"].split(","))
    age_s = time.time() - int(signature["t"])
    assert 590 < age_s < 660
    signed = f"{signature['t']}.".encode() + callback.body
    secret = CONFIG.stripe_webhook_secret.encode()
    assert signature["v1"] == hmac.new(secret, signed, hashlib.sha256).hexdigest()


async def _razorpay_payment(sandbox: SandboxHandle) -> None:
    """An auto-captured Razorpay card payment (authorized, then captured)."""
    config = sandbox.config
    auth = (config.razorpay_key_id, config.razorpay_key_secret)
    async with sandbox.client("razorpay", auth=auth) as razorpay:
        order = await razorpay.post("/v1/orders", json={"amount": 50_000, "currency": "INR"})
        card = {"number": "4242424242424242", "expiry_month": "12", "expiry_year": "30"}
        body = {"amount": 50_000, "currency": "INR", "order_id": order.json()["id"]}
        body |= {"method": "card", "card": {**card, "cvv": "123"}}
        body |= {"email": "payer@example.com", "contact": "+919000090000"}
        paid = await razorpay.post("/v1/payments/create/json", json=body)
    assert paid.status_code == 200, paid.text


async def test_a_mode_for_one_provider_leaves_the_others_normal(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    control = sandbox_server.control
    await control.webhook_mode("bad_signature", provider="razorpay")
    modes = (await control.webhooks())["modes"]
    assert (modes["razorpay"], modes["stripe"]) == ("bad_signature", "normal")
    await _pay(stripe)
    await _razorpay_payment(sandbox_server)
    await control.flush_webhooks()
    [paid] = receiver.of("stripe")
    assert stripe_signature_ok(paid)
    callbacks = receiver.of("razorpay")
    assert [c.json()["event"] for c in callbacks] == ["payment.authorized", "payment.captured"]
    assert not any(razorpay_signature_ok(c) for c in callbacks)


async def test_stale_is_refused_by_name_for_a_scheme_without_a_timestamp(
    sandbox_server: SandboxHandle,
) -> None:
    with pytest.raises(ControlRefused, match="razorpay's signature carries no timestamp"):
        await sandbox_server.control.webhook_mode("stale", provider="razorpay")
    settings = await sandbox_server.control.webhook_mode("stale")
    assert set(settings["modes"].values()) == {"stale"}


async def test_stale_for_every_provider_leaves_a_scheme_without_a_timestamp_valid(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver = hooks.receiver
    await sandbox_server.control.webhook_mode("stale")
    await _razorpay_payment(sandbox_server)
    await sandbox_server.control.flush_webhooks()
    callbacks = receiver.of("razorpay")
    assert len(callbacks) == 2 and all(razorpay_signature_ok(c) for c in callbacks)
