"""Currencycloud's push notifications, signed with the sandbox's scheme, over real TLS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxHandle
from tests.integration.sandbox.webhook_receiver import Hooked, currencycloud_signature_ok, hooked
from tests.unit.sandbox.test_currencycloud_sim_support import GB_BENEFICIARY


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["currencycloud"]


@pytest.fixture
async def hooks(
    sandbox_server: SandboxHandle, sandbox_pki: tuple[Path, Path, Path]
) -> AsyncIterator[Hooked]:
    async with hooked(sandbox_server, sandbox_pki, "currencycloud") as running:
        yield running


async def _payment(cc: httpx.AsyncClient, reference: str) -> str:
    beneficiary = (await cc.post("/v2/beneficiaries/create", data=GB_BENEFICIARY)).json()
    fields = {
        "currency": "GBP",
        "beneficiary_id": beneficiary["id"],
        "amount": "250.00",
        "reason": "invoice 42",
        "reference": reference,
        "unique_request_id": str(uuid.uuid4()),
    }
    payment_id: str = (await cc.post("/v2/payments/create", data=fields)).json()["id"]
    for _ in range(2):  # ready_to_send -> submitted -> completed (or failed)
        await cc.post(f"/_sandbox/payments/{payment_id}/advance")
    return payment_id


async def _notifications(hooks: Hooked) -> list[dict[str, Any]]:
    callbacks = await hooks.callbacks()
    assert all(currencycloud_signature_ok(callback) for callback in callbacks)
    for callback in callbacks:
        notification_id = callback.json()["header"]["notification_id"]
        assert callback.headers["x-cc-notification-id"] == notification_id
    return [callback.json() for callback in callbacks]


async def test_a_settled_conversion_sends_conversion_completed_once(hooks: Hooked) -> None:
    cc = hooks.api
    fields = {
        "buy_currency": "EUR",
        "sell_currency": "USD",
        "fixed_side": "buy",
        "amount": "1000.00",
        "term_agreement": "true",
        "unique_request_id": str(uuid.uuid4()),
    }
    conversion_id = (await cc.post("/v2/conversions/create", data=fields)).json()["id"]
    for status in ("funds_arrived", "trade_settled", "closed"):
        await cc.post(f"/_sandbox/conversions/{conversion_id}/advance", params={"status": status})
    [note] = await _notifications(hooks)
    assert note["header"]["message_type"] == "conversion"
    assert note["header"]["notification_type"] == "conversion_completed"
    assert note["body"]["id"] == conversion_id
    assert note["body"]["status"] == "trade_settled"
    shown = (await cc.get(f"/v2/conversions/{conversion_id}")).json()
    assert {**note["body"], "status": "closed", "updated_at": shown["updated_at"]} == shown


async def test_a_completed_payout_sends_payment_completed(hooks: Hooked) -> None:
    cc = hooks.api
    payment_id = await _payment(cc, "invoice 42")
    [note] = await _notifications(hooks)
    assert (note["header"]["message_type"], note["header"]["notification_type"]) == (
        "payment",
        "payment_completed",
    )
    assert note["body"] == (await cc.get(f"/v2/payments/{payment_id}")).json()


async def test_a_failed_payout_sends_payment_failed(hooks: Hooked) -> None:
    cc = hooks.api
    payment_id = await _payment(cc, "sandbox_fail please")
    [note] = await _notifications(hooks)
    assert note["header"]["notification_type"] == "payment_failed"
    assert (note["body"]["id"], note["body"]["status"]) == (payment_id, "failed")
    assert note["body"]["failure_reason"]
