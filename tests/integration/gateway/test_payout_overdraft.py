"""The overdraft race against the real ledger: twenty payouts at once, together larger than
the merchant's balance. The payout use cases run on their own database with the real
Currencycloud adapter (the stack's sandbox) and the real ledger client through Envoy with the
gateway's certificate; the ledger's no-overdraft flag on the merchant's balance refuses the
holds that exceed it, whatever the interleaving, and nothing else reaches the provider.

The same flag guards conversions, whose hold is one pending transaction with two currency
legs: the real ledger refuses one beyond the balance, and holds then posts one within it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from gateway_svc.adapters.ledger_client import LedgerClient
from gateway_svc.adapters.migrate import migrate
from gateway_svc.domain.conversions import ConversionState
from gateway_svc.domain.fx_postings import fx_accounts
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.ledger_accounts import AccountRole, Books, chart_of_accounts
from gateway_svc.domain.payouts import NewPayout
from gateway_svc.service_layer.fx_commands import (
    CreateBeneficiary,
    CreateConversion,
    CreatePayout,
)
from gateway_svc.service_layer.payments import PaymentService
from gateway_svc.service_layer.reconciler import Reconciler
from gateway_svc.service_layer.relay import OutboxRelay
from gateway_svc.service_layer.runtime import GatewayRuntime
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.wiring import FxWorkers, build_fx
from svc_kit.db import make_engine
from tests.integration.gateway.support import GatewayStack, new_merchant
from tests.integration.gateway_store.test_fx_support import gb_beneficiary, render
from tests.integration.sandbox.test_currencycloud_adapter_support import client_for

pytestmark = pytest.mark.asyncio(loop_scope="package")

BALANCE = 100_000
EACH = 7_000


@dataclass(frozen=True)
class RealLedgerFx:
    """The FX use cases on their own database, with the real ledger and the stack's sandbox."""

    workers: FxWorkers
    ledger: LedgerClient
    runtime: GatewayRuntime
    relay: OutboxRelay


@pytest_asyncio.fixture(loop_scope="package")
async def real(stack: GatewayStack, tmp_path: Path) -> AsyncIterator[RealLedgerFx]:
    """The FX use cases on a fresh SQLite database, the real ledger, the sandbox (the relay
    is not running: tests drain it)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'fx.db'}")
    await migrate(engine)
    ledger, audit = stack.ledger(), stack.audit()
    cc = client_for(stack.services.sandbox)
    relay = OutboxRelay(engine, ledger, audit)
    rt = GatewayRuntime(engine=engine, providers={}, on_commit=relay.kick)
    try:
        workers = build_fx(rt, Reconciler(PaymentService(rt)), cc, ledger)
        yield RealLedgerFx(workers, ledger, rt, relay)
    finally:
        await cc.aclose()
        await ledger.close()
        await audit.close()
        await engine.dispose()


async def _fund(
    ledger: LedgerClient, rt: GatewayRuntime, merchant: str, currency: str = "GBP"
) -> str:
    """``BALANCE`` on the merchant's balance, as a capture would credit it; its id."""
    books = Books(merchant, currency)
    ids = await ledger.ensure_accounts((*chart_of_accounts(books), *fx_accounts(books)))
    await ledger.create_transaction(
        [(books.code(AccountRole.CLEARING), "DEBIT", BALANCE, currency),
         (books.code(AccountRole.PAYABLE), "CREDIT", BALANCE, currency)],
        request_id=f"test:fund:{uuid.uuid4().hex}",
    )  # fmt: skip
    async with GatewayUnitOfWork(rt.engine) as uow:
        await uow.ledger_refs.remember_accounts(ids, currency, rt.clock())
        await uow.commit()
    return ids[books.code(AccountRole.PAYABLE)]


@pytest.mark.slow
async def test_twenty_concurrent_payouts_beyond_the_balance_never_overdraw_it(
    real: RealLedgerFx, stack: GatewayStack
) -> None:
    workers, ledger, rt = real.workers, real.ledger, real.runtime
    merchant = new_merchant()
    payable = await _fund(ledger, rt, merchant)
    created = await workers.beneficiaries.create_beneficiary(
        CreateBeneficiary("key_1", f"ben-{merchant}", gb_beneficiary(merchant)), render
    )
    assert created.result is not None
    new = NewPayout(merchant, created.result.id, EACH, "GBP", "Invoice", "INV-1")

    answers = await asyncio.gather(
        *(
            workers.payouts.create_payout(CreatePayout("key_1", f"po-{i}", new), render)
            for i in range(20)
        )
    )

    accepted = [a.result for a in answers if a.result is not None]
    refused = [a.error.reason for a in answers if a.error is not None]
    assert len(accepted) == BALANCE // EACH == 14
    assert refused == ["INSUFFICIENT_FUNDS"] * 6
    balance = await ledger.get_balance(payable)
    assert (balance.posted_minor, balance.available_minor) == (BALANCE, BALANCE - 14 * EACH)
    assert balance.available_minor >= 0
    sent = (await stack.services.sandbox.control.state("currencycloud"))["payments"].values()
    mine = [p for p in sent if p["beneficiary_id"] == created.result.provider_ref]
    assert len(mine) == 14
    [gbp] = await workers.payouts.get_balances(merchant)  # GetBalances reads the same
    assert (gbp.posted_minor, gbp.available_minor) == (BALANCE, BALANCE - 14 * EACH)


async def test_a_conversion_is_one_two_currency_hold_the_real_ledger_refuses_or_posts(
    real: RealLedgerFx,
) -> None:
    workers, ledger, rt = real.workers, real.ledger, real.runtime
    merchant = new_merchant()
    gbp = await _fund(ledger, rt, merchant)

    def sell(pounds_minor: int, key: str) -> CreateConversion:
        return CreateConversion(merchant, "key_1", key, buy_currency="EUR",
                                sell_currency="GBP", fixed_side=FixedSide.SELL,
                                amount_minor=pounds_minor)  # fmt: skip

    refused = await workers.fx.create_conversion(sell(BALANCE + 1, "conv-big"), render)
    booked = await workers.fx.create_conversion(sell(60_000, "conv-ok"), render)
    await real.relay.drain()

    assert refused.error is not None and refused.error.reason == "INSUFFICIENT_FUNDS"
    conversion = booked.result
    assert conversion is not None and conversion.status is ConversionState.AWAITING_FUNDS
    sold = await ledger.get_balance(gbp)
    assert (sold.posted_minor, sold.available_minor) == (BALANCE - 60_000, BALANCE - 60_000)
    eur = await ledger.get_balance(await ledger.account_id(f"gw/{merchant}/EUR/payable"))
    assert eur.posted_minor == conversion.buy_amount_minor > 0
