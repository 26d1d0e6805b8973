"""GetBalances: a merchant's balance in each currency it has books in, read from the ledger.

The balance in a currency is the merchant's payable account (``fx_postings``): captures
credit it, refunds, conversions out, payouts and fees debit it, conversions in credit it.
Which currencies the merchant has is the gateway's own record of the accounts it opened
(``balance_store``); the amounts are the ledger's, read now, one GetBalance per currency,
concurrently. ``available`` is what a payout or conversion may take (posted minus holds),
which the ledger's no-overdraft flag keeps from ever going negative.
"""

from __future__ import annotations

import asyncio

from gateway_svc.adapters.internal_rpc import UpstreamError
from gateway_svc.domain.errors import LedgerUnavailable

from .fx_commands import CurrencyBalance
from .fx_uow import FxUnitOfWork
from .ports import FxLedgerPort
from .runtime import GatewayRuntime


class Balances:
    """GetBalances; one per process."""

    def __init__(self, rt: GatewayRuntime, ledger: FxLedgerPort) -> None:
        self._rt = rt
        self._ledger = ledger

    async def get_balances(self, merchant_id: str) -> list[CurrencyBalance]:
        """The merchant's balances by currency code (zero ones included), sorted by code.
        Raises LedgerUnavailable when the ledger does not answer."""
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            accounts = await uow.balance_accounts.payables(merchant_id)
        currencies = sorted(accounts)
        try:
            found = await asyncio.gather(
                *(self._ledger.get_balance(accounts[c]) for c in currencies)
            )
        except UpstreamError as exc:
            raise LedgerUnavailable(
                f"the ledger could not be read: {exc.message}",
                metadata={"merchant_id": merchant_id, "ledger_reason": exc.reason},
            ) from exc
        return [
            CurrencyBalance(c, b.posted_minor, b.available_minor, b.pending_minor)
            for c, b in zip(currencies, found, strict=True)
        ]
