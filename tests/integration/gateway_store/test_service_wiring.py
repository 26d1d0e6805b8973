"""The service assembled from settings, with its background relay and reconciler running."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.domain.providers import Provider
from gateway_svc.service_layer.wiring import build_payments
from gateway_svc.settings import GatewaySettings
from sandbox.testing import SandboxHandle
from tests.integration.gateway_store.gateway_support import (
    AuditRecorder,
    LedgerRecorder,
    render_payment,
    sandbox_providers_for,
)
from tests.integration.gateway_store.test_service_create import create
from tests.integration.gateway_store.test_service_faults import ANET_VISA


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


async def test_settings_choose_the_routes_and_fees_and_the_relay_delivers_on_its_own(
    engine: AsyncEngine, sandbox_server: SandboxHandle
) -> None:
    settings = GatewaySettings(
        plaintext=True,
        routing_rules="m_1:USD:card=authorizenet,stripe",
        platform_fee_bps=100,
        reconciler_interval_s=0.05,
    )
    adapters = sandbox_providers_for(sandbox_server)
    ledger, audit = LedgerRecorder(), AuditRecorder()
    workers = build_payments(
        settings, engine, {p.value: a for p, a in adapters.items()}, ledger, audit
    )
    workers.start()
    try:
        answer = await workers.service.create_payment(create(method=ANET_VISA), render_payment)
        assert answer.result is not None
        p = answer.result.payment
        assert (p.provider, p.status) == (Provider.AUTHORIZENET, PaymentStatus.CAPTURED)
        async with asyncio.timeout(5):
            while f"{p.id}:capture:fee" not in ledger.by_request or not audit.events:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert ledger.totals["gw/m_1/USD/fees"].credits_posted == 10  # 1% of 10.00
    finally:
        await workers.stop()
        for adapter in adapters.values():
            await adapter.aclose()
