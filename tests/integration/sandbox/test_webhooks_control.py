"""Steering callbacks through /_control/webhooks: target and trust, retries, refusals, reset."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.config import SandboxConfig
from sandbox.control_client import ControlRefused
from sandbox.registry import load_factories
from sandbox.testing import SandboxHandle, running_sandbox
from sandbox.webhooks.settings import InvalidSetting
from tests.integration.sandbox.webhook_receiver import (
    Hooked,
    hooked,
    running_receiver,
    stripe_signature_ok,
    wire,
)


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["stripe"]


@pytest.fixture
async def hooks(
    sandbox_server: SandboxHandle, sandbox_pki: tuple[Path, Path, Path]
) -> AsyncIterator[Hooked]:
    """Stripe's API and a receiver, the callbacks not yet pointed at it."""
    async with hooked(sandbox_server, sandbox_pki, "stripe", wired=False) as running:
        yield running


async def _pay(stripe: httpx.AsyncClient) -> str:
    form = {"amount": "1500", "currency": "eur", "payment_method": "pm_card_visa"}
    reply = await stripe.post("/v1/payment_intents", data={**form, "confirm": "true"})
    intent_id: str = reply.json()["id"]
    return intent_id


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_without_a_target_nothing_is_built_or_sent(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    settings = await sandbox_server.control.webhooks()
    assert (settings["target"], settings["active"], settings["delay_ms"]) == ("", False, 100)
    await _pay(stripe)
    await sandbox_server.control.set_webhooks(target=receiver.url, enabled=False)
    await _pay(stripe)
    assert await sandbox_server.control.flush_webhooks() == []
    settings = await sandbox_server.control.webhooks()
    assert (settings["dropped"], settings["sent"], settings["active"]) == (2, 0, False)
    assert receiver.received == []


async def test_a_receiver_failing_then_recovering_gets_the_event_retried(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    await wire(sandbox_server, receiver)
    receiver.fail_next(500)
    await _pay(stripe)
    [record] = await sandbox_server.control.flush_webhooks()
    first, second = receiver.of("stripe")
    assert first.body == second.body
    assert stripe_signature_ok(first) and stripe_signature_ok(second)
    assert (record["attempts"], record["tries"], record["status"], record["delivered"]) == (
        [500, 200],
        2,
        200,
        True,
    )


async def test_a_receiver_that_keeps_failing_is_given_up_on_and_recorded(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    await wire(sandbox_server, receiver)
    receiver.fail_next(*[503] * 5)
    await _pay(stripe)
    [record] = await sandbox_server.control.flush_webhooks()
    assert (record["attempts"], record["delivered"]) == ([503] * 5, False)
    assert len(receiver.of("stripe")) == 5
    assert (await sandbox_server.control.webhooks_sent("stripe")) == [record]


async def test_an_untrusted_or_unreachable_target_is_recorded_as_errors(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    control = sandbox_server.control
    await control.set_webhooks(target=receiver.url)  # the default trust: not the test CA
    await _pay(stripe)
    [untrusted] = await control.flush_webhooks()
    # Each attempt reads the target afresh, so it changes only once the first gave up.
    await control.set_webhooks(target=f"http://127.0.0.1:{_closed_port()}")
    await _pay(stripe)
    [unreachable] = await control.flush_webhooks()
    assert receiver.received == []
    assert not untrusted["delivered"] and "CERTIFICATE_VERIFY_FAILED" in untrusted["error"]
    assert untrusted["url"].startswith(receiver.url)
    assert not unreachable["delivered"] and unreachable["error"].startswith("ConnectError")
    assert unreachable["tries"] == 5 and unreachable["status"] is None


async def test_ca_pem_text_is_trusted_like_a_ca_file(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    assert sandbox_server.ca_file is not None
    pem = sandbox_server.ca_file.read_text()
    settings = await sandbox_server.control.set_webhooks(target=receiver.url + "/", ca_pem=pem)
    assert (settings["target"], settings["ca_pem"], settings["ca_file"]) == (
        receiver.url,
        True,
        "",
    )
    await _pay(stripe)
    [record] = await sandbox_server.control.flush_webhooks()
    assert record["delivered"] and len(receiver.of("stripe")) == 1


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/_control/webhooks", {"target": "ftp://x"}, "http(s) URL"),
        ("/_control/webhooks", {"target": "https://h/?q=1"}, "no query"),
        ("/_control/webhooks", {"target": 7}, "target must be a string"),
        ("/_control/webhooks", {"enabled": "yes"}, "enabled must be true or false"),
        ("/_control/webhooks", {"colour": "red"}, "unknown field 'colour'"),
        ("/_control/webhooks", {"ca_file": "/nowhere/ca.pem"}, "not a loadable PEM"),
        ("/_control/webhooks", {"ca_pem": "not a pem"}, "not a loadable PEM"),
        ("/_control/webhooks", {"ca_file": "a", "ca_pem": "b"}, "not both"),
        ("/_control/webhooks/mode", {"mode": "loud"}, "mode must be one of"),
        ("/_control/webhooks/mode", {"mode": "normal", "provider": "acme"}, "unknown provider"),
        ("/_control/webhooks/flush", {"timeout_s": 0}, "timeout_s must be"),
        ("/_control/webhooks/flush", {"timeout_s": True}, "timeout_s must be"),
    ],
)
async def test_malformed_control_requests_are_400_with_the_reason(
    sandbox_server: SandboxHandle, path: str, body: dict[str, Any], reason: str
) -> None:
    before = await sandbox_server.control.webhooks()
    async with sandbox_server.client() as client:
        reply = await client.post(path, json=body)
    assert reply.status_code == 400
    assert reason in reply.json()["error"]
    assert await sandbox_server.control.webhooks() == before


async def test_unknown_routes_methods_and_bodies_are_refused(sandbox_server: SandboxHandle) -> None:
    async with sandbox_server.client() as client:
        unknown = await client.get("/_control/webhooks/nothing")
        wrong_method = await client.delete("/_control/webhooks")
        not_json = await client.post("/_control/webhooks/mode", content=b"[1]")
        bad_filter = await client.get("/_control/webhooks/sent", params={"provider": "acme"})
    assert unknown.status_code == 404
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "GET, POST")
    assert (not_json.status_code, not_json.json()) == (
        400,
        {"error": "the body must be a JSON object"},
    )
    assert bad_filter.status_code == 400


async def test_reset_forgets_records_modes_and_held_events_but_keeps_the_target(
    sandbox_server: SandboxHandle, hooks: Hooked
) -> None:
    receiver, stripe = hooks.receiver, hooks.api
    control = sandbox_server.control
    await wire(sandbox_server, receiver)
    await _pay(stripe)
    await control.flush_webhooks()
    finished = (await control.webhooks())["finished"]
    assert finished >= 1
    await control.webhook_mode("reverse")
    await _pay(stripe)
    assert (await control.webhooks())["held"] == 1
    await control.reset()
    settings = await control.webhooks()
    assert (settings["held"], settings["sent"], settings["target"]) == (0, 0, receiver.url)
    # The records are forgotten; the count of finished deliveries (the bench's) goes on.
    assert settings["finished"] == finished
    assert set(settings["modes"].values()) == {"normal"}
    assert await control.flush_webhooks() == []
    assert len(receiver.of("stripe")) == 1
    with pytest.raises(ControlRefused):
        await control.webhook_mode("stale", provider="authorizenet")


async def test_a_sandbox_configured_with_a_target_sends_from_the_start(
    sandbox_pki: tuple[Path, Path, Path],
) -> None:
    ca, cert, key = sandbox_pki
    factories, _ = load_factories(["stripe"])
    with running_receiver(cert, key) as receiver:
        config = SandboxConfig(
            webhook_target=receiver.url, webhook_ca_file=str(ca), webhook_delay_ms=0
        )
        async with running_sandbox(factories, config, cert=(cert, key), ca_file=ca) as sandbox:
            async with sandbox.client("stripe", auth=(config.stripe_secret_key, "")) as stripe:
                await _pay(stripe)
            [record] = await sandbox.control.flush_webhooks()
        [callback] = receiver.of("stripe")
    assert record["delivered"] and record["url"] == f"{receiver.url}/v1/provider-webhooks/stripe"
    assert stripe_signature_ok(callback)


async def test_an_unloadable_ca_file_stops_the_sandbox_at_start(
    sandbox_pki: tuple[Path, Path, Path],
) -> None:
    ca, cert, key = sandbox_pki
    config = SandboxConfig(webhook_target="https://127.0.0.1:1", webhook_ca_file=f"{ca}.missing")
    with pytest.raises(InvalidSetting, match="ca_file"):
        async with running_sandbox({}, config, cert=(cert, key), ca_file=ca):
            pytest.fail("the sandbox started")
