"""Which balance accounts a merchant has in the ledger, from the gateway's own record.

A merchant's balance in a currency is its payable account (``fx_postings``). Every account
the gateway opens in the ledger is remembered in ``ledger_accounts`` (the relay's openings
and the FX holds' alike), so the merchant's currencies are found here, by the code prefix
``gw/<merchant>/``, without asking the ledger to list accounts; the balances themselves are
then read from the ledger, which alone knows them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.ledger_accounts import AccountRole

from .tables import ledger_accounts

_SUFFIX = f"/{AccountRole.PAYABLE.value}"


class BalanceAccountRepository:
    """Reads ``ledger_accounts`` on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def payables(self, merchant_id: str) -> dict[str, str]:
        """The merchant's payable (balance) accounts: ledger account id by currency."""
        a = ledger_accounts.c
        # autoescape: merchant ids contain "_", which LIKE would take for a wildcard.
        prefix = f"gw/{merchant_id}/"
        stmt = select(a.code, a.account_id, a.currency).where(
            a.code.startswith(prefix, autoescape=True)
        )
        rows = (await self._conn.execute(stmt)).all()
        return {
            str(currency): str(account_id)
            for code, account_id, currency in rows
            if str(code) == f"{prefix}{currency}{_SUFFIX}"
        }
