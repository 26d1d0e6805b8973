"""Shared set-up for the FX, beneficiary and payout service tests (no tests here).

``fx`` is one gateway process as the tests drive it: the FX use cases (``build_fx``) on a
migrated database (SQLite and PostgreSQL), the real Currencycloud adapter against the TLS
sandbox (only Currencycloud mounted), an in-memory ledger that keeps TigerBeetle-style totals
and the no-overdraft flag (``FxLedgerRecorder``: the payments' recorder plus reverse and
balances), the outbox relay, the payments' reconciler (whose completer resumes FX keys), a
clock the test moves, and helpers: fund a merchant, move the sandbox's statuses, poll.

Each test module declares its two fixtures in four lines: ``sandbox_providers`` (only
Currencycloud) and ``fx`` (``async with fx_gateway(engine, sandbox_server)``).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.ledger_client import LedgerBalance, LedgerRefused
from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient
from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import Beneficiary, NewBeneficiary
from gateway_svc.domain.conversions import Conversion
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.fx_postings import fx_accounts
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.ledger_accounts import AccountRole, AccountSpec, Books, chart_of_accounts
from gateway_svc.domain.ledger_expected import AccountTotals
from gateway_svc.domain.payouts import NewPayout, Payout
from gateway_svc.service_layer.fx_commands import CreateBeneficiary, CreatePayout
from gateway_svc.service_layer.fx_poller import FxPollReport
from gateway_svc.service_layer.payments import PaymentService
from gateway_svc.service_layer.reconciler import Reconciler
from gateway_svc.service_layer.relay import OutboxRelay, RelayPolicy
from gateway_svc.service_layer.runtime import GatewayRuntime
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.service_layer.wiring import FxWorkers, build_fx
from sandbox.testing import SandboxHandle
from tests.integration.gateway_store.gateway_support import (
    FAST_RETRY,
    AuditRecorder,
    Clock,
    LedgerRecorder,
)
from tests.integration.sandbox.test_currencycloud_adapter_support import (
    NAME,
    client_for,
    control,
    state,
)

__all__ = [
    "NAME",
    "Fx",
    "body",
    "client_for",
    "fx_gateway",
    "gb_beneficiary",
    "new_merchant",
    "render",
]

_NORMAL_DEBIT = {"ASSET", "EXPENSE"}


@dataclass
class FxLedgerRecorder(LedgerRecorder):
    """The payments' in-memory ledger, plus ReverseTransaction and GetBalance."""

    types: dict[str, str] = field(default_factory=dict)

    async def ensure_accounts(self, chart: Iterable[AccountSpec]) -> Mapping[str, str]:
        specs = list(chart)
        for spec in specs:
            self.types[spec.code] = spec.type.value
        return await super().ensure_accounts(specs)

    async def reverse(self, transaction_id: str, *, request_id: str) -> str:
        self._gate("reverse", request_id)
        if request_id in self.by_request:
            return self.by_request[request_id]
        tx = self.txs[transaction_id]
        if tx.status not in ("POSTED", "POSTED_FROM_HOLD"):
            raise LedgerRefused("not posted", code=grpc.StatusCode.FAILED_PRECONDITION,
                                reason="TRANSACTION_NOT_REVERSIBLE")  # fmt: skip
        mirrored = [(c, "CREDIT" if s == "DEBIT" else "DEBIT", a, cur)
                    for c, s, a, cur in tx.entries]  # fmt: skip
        return await self.create_transaction(mirrored, request_id=request_id)

    async def get_balance(self, account_id: str) -> LedgerBalance:
        code = next(c for c, a in self.accounts.items() if a == account_id)
        t = self.totals.get(code, AccountTotals())
        sign = 1 if self.types.get(code) in _NORMAL_DEBIT else -1
        posted = sign * (t.debits_posted - t.credits_posted)
        pending = posted + sign * (t.debits_pending - t.credits_pending)
        against = t.credits_pending if sign == 1 else t.debits_pending
        return LedgerBalance(account_id, code.split("/")[2], posted, pending, posted - against)

    def account(self, code: str) -> AccountTotals:
        """An account's four totals (zero when untouched)."""
        return self.totals.get(code, AccountTotals())


def render(value: object) -> StoredResponse:
    """A stand-in for the servicers' serializers: JSON, a gRPC-like code for errors."""
    if isinstance(value, GatewayError):
        error = {
            "reason": value.reason,
            "message": str(value),
            "fields": [v.field for v in value.violations],
        }
        return StoredResponse(9, json.dumps(error, sort_keys=True).encode())
    shown: dict[str, Any] = {"id": getattr(value, "id", ""), "type": type(value).__name__}
    if isinstance(value, Conversion | Payout):
        shown["status"] = value.status.value
    if isinstance(value, Beneficiary):
        shown["account"] = value.masked_account
    return StoredResponse(0, json.dumps(shown, sort_keys=True).encode())


def body(response: StoredResponse) -> dict[str, Any]:
    """A rendered response's JSON."""
    loaded: dict[str, Any] = json.loads(response.body)
    return loaded


def gb_beneficiary(merchant_id: str, **changes: Any) -> NewBeneficiary:
    """A GBP beneficiary at a UK bank (sort code and account number), regular payouts."""
    fields: dict[str, Any] = {
        "merchant_id": merchant_id,
        "name": "Acme Supplies",
        "bank_account_holder_name": "Acme Supplies Ltd",
        "bank_country": "GB",
        "currency": "GBP",
        "bank_details": BankDetailsInput(
            account_number="31926819", routing_code_type="sort_code", routing_code_value="40-47-84"
        ),
        "entity_type": "company",
    }
    return NewBeneficiary(**(fields | changes))


def new_merchant() -> str:
    return f"mer_{uuid.uuid4().hex[:10]}"


@dataclass
class Fx:
    """One gateway process with the FX use cases, as the tests drive it."""

    workers: FxWorkers
    runtime: GatewayRuntime
    relay: OutboxRelay
    reconciler: Reconciler
    ledger: FxLedgerRecorder
    audit: AuditRecorder
    clock: Clock
    sandbox: SandboxHandle
    cc: CurrencycloudClient

    async def fund(self, merchant_id: str, currency: str, amount_minor: int) -> None:
        """Credit the merchant's balance as a capture would (Dr clearing / Cr payable), and
        record its accounts as the relay does (0: open the books only)."""
        books = Books(merchant_id, currency)
        ids = await self.ledger.ensure_accounts((*chart_of_accounts(books), *fx_accounts(books)))
        if amount_minor:
            await self.ledger.create_transaction(
                [(books.code(AccountRole.CLEARING), "DEBIT", amount_minor, currency),
                 (books.code(AccountRole.PAYABLE), "CREDIT", amount_minor, currency)],
                request_id=f"fund:{uuid.uuid4().hex}",
            )  # fmt: skip
        async with GatewayUnitOfWork(self.runtime.engine) as uow:
            await uow.ledger_refs.remember_accounts(ids, currency, self.clock())
            await uow.commit()

    def payable(self, merchant_id: str, currency: str) -> AccountTotals:
        """The merchant's balance account's totals."""
        return self.ledger.account(Books(merchant_id, currency).code(AccountRole.PAYABLE))

    async def beneficiary(self, merchant_id: str, **changes: Any) -> Beneficiary:
        """A registered GBP beneficiary."""
        cmd = CreateBeneficiary("key_1", f"ben-{uuid.uuid4().hex}",
                                gb_beneficiary(merchant_id, **changes))  # fmt: skip
        answer = await self.workers.beneficiaries.create_beneficiary(cmd, render)
        assert answer.result is not None, body(answer.response)
        return answer.result

    def payout(
        self, merchant_id: str, beneficiary_id: str, amount_minor: int, **more: Any
    ) -> CreatePayout:
        """A CreatePayout of ``amount_minor`` GBP (request_id ``more.pop("request_id")``)."""
        request_id = more.pop("request_id", f"po-{uuid.uuid4().hex}")
        fields: dict[str, Any] = {"reason": "Invoice 42", "reference": "INV-42"} | more
        new = NewPayout(merchant_id, beneficiary_id, amount_minor, "GBP", **fields)
        return CreatePayout("key_1", request_id, new)

    async def advance(self, kind: str, provider_ref: str, status: str = "") -> dict[str, Any]:
        """Move the sandbox's conversion or payment (``kind``) to its next status."""
        query = {"status": status} if status else {}
        moved: dict[str, Any] = await control(self.sandbox, f"{kind}/{provider_ref}/advance",
                                              **query)  # fmt: skip
        return moved

    async def poll(self) -> FxPollReport:
        """A poller pass once every check is due (an hour on), then the relay drained."""
        self.clock.advance(3600)
        report = await self.workers.poller.run_once()
        await self.relay.drain()
        return report

    async def provider_state(self) -> dict[str, Any]:
        """The Currencycloud simulator's snapshot."""
        return await state(self.sandbox)

    async def provider_calls(self, path: str = "") -> int:
        """Requests the simulator received (on paths containing ``path``)."""
        stats = (await self.sandbox.control.stats())["requests"].get(NAME, {"paths": {}})
        return sum(n for p, n in stats["paths"].items() if path in p)


@asynccontextmanager
async def fx_gateway(engine: AsyncEngine, sandbox: SandboxHandle) -> AsyncIterator[Fx]:
    """The FX gateway on ``engine`` and ``sandbox`` (its Currencycloud adapter closed after)."""
    clock = Clock()
    ledger, audit = FxLedgerRecorder(), AuditRecorder()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)  # recorded, not slept

    policy = RelayPolicy(backoff_base_s=0.001, backoff_cap_s=0.01)
    relay = OutboxRelay(engine, ledger, audit, policy, clock=clock)
    rt = GatewayRuntime(engine=engine, providers={}, retry_policy=FAST_RETRY, clock=clock,
                        monotonic=clock.monotonic, sleep=sleep, rng=random.Random(7),
                        on_commit=relay.kick)  # fmt: skip
    reconciler = Reconciler(PaymentService(rt))
    cc = client_for(sandbox)
    workers = build_fx(rt, reconciler, cc, ledger)
    try:
        yield Fx(workers, rt, relay, reconciler, ledger, audit, clock, sandbox, cc)
    finally:
        await cc.aclose()
