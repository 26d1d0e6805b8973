"""The issue-6 storage on SQLite and PostgreSQL: migration 0002 against the tables module
(down and up again), the rules the database enforces a second time, quote redemption by
compare-and-set, version checks, and beneficiary details redacted once registered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

import gateway_svc.adapters.migrate as migrate_module
from gateway_svc.adapters.migrate import migrate
from gateway_svc.adapters.tables import beneficiaries
from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import NewBeneficiary, open_beneficiary
from gateway_svc.domain.conversions import open_conversion
from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.fx import Quote
from gateway_svc.domain.fx_provider import FixedSide
from gateway_svc.domain.payouts import NewPayout, open_payout
from gateway_svc.service_layer.fx_uow import FxUnitOfWork
from tests.integration.gateway_store.schema_support import schema_diff

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
FX_TABLES = {"quotes", "conversions", "beneficiaries", "payouts"}
SCRIPTS = Path(migrate_module.__file__).parent / "migrations"


def quote(qid: str = "quo_1", merchant: str = "m_1", at: datetime = T0) -> Quote:
    return Quote(qid, merchant, "EUR", "GBP", FixedSide.BUY, 100_000, 86_000, "0.86", "0.86",
                 "0.8587", "EURGBP", 0, at, at + timedelta(seconds=30))  # fmt: skip


def beneficiary(bid: str = "ben_1", merchant: str = "m_1") -> NewBeneficiary:
    details = BankDetailsInput(account_number="31926819", routing_code_type="sort_code",
                               routing_code_value="404784")  # fmt: skip
    return NewBeneficiary(merchant, "Acme", "Acme Ltd", "GB", "GBP", details)


def _alembic(conn: Connection, revision: str, *, down: bool) -> None:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = conn
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_migration_0002_matches_the_tables_module_down_and_up_again(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        head = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        diff = await conn.run_sync(schema_diff)
    assert (head, diff) == ("0004", [])  # 0003 (webhooks) and 0004 (indexes) sit on top of 0002
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: _alembic(c, "0001", down=True))
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not names & FX_TABLES and "payments" in names
    finally:
        await migrate(engine)
    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert names >= FX_TABLES


async def test_a_quote_is_redeemed_by_one_conversion_and_the_database_agrees(
    engine: AsyncEngine,
) -> None:
    q = quote()
    async with FxUnitOfWork(engine) as uow:
        await uow.quotes.add(q)
        assert await uow.quotes.redeem(q.id, "cnv_1")
        assert await uow.quotes.redeem(q.id, "cnv_1")  # a resumed request: its own again
        assert not await uow.quotes.redeem(q.id, "cnv_2")
        await uow.conversions.add(open_conversion("cnv_1", q, T0))
        await uow.commit()
    async with FxUnitOfWork(engine) as uow:
        stored = await uow.quotes.get("m_1", q.id)
        assert stored is not None and stored.used_by == "cnv_1"
        assert await uow.quotes.get("m_2", q.id) is None
        with pytest.raises(IntegrityError):
            await uow.conversions.add(open_conversion("cnv_2", q, T0))


async def test_unused_quotes_are_reaped_once_expired_and_used_ones_are_kept(
    engine: AsyncEngine,
) -> None:
    async with FxUnitOfWork(engine) as uow:
        await uow.quotes.add(quote("quo_old"))
        await uow.quotes.add(quote("quo_used"))
        await uow.quotes.add(quote("quo_new", at=T0 + timedelta(hours=2)))
        await uow.quotes.redeem("quo_used", "cnv_1")
        reaped = await uow.quotes.reap(T0 + timedelta(hours=1), 10)
        await uow.commit()
    async with FxUnitOfWork(engine) as uow:
        left = {
            qid for qid in ("quo_old", "quo_used", "quo_new") if await uow.quotes.get("m_1", qid)
        }
    assert (reaped, left) == (1, {"quo_used", "quo_new"})


async def test_amounts_and_statuses_are_checked_by_the_database_too(engine: AsyncEngine) -> None:
    bad_status = "UPDATE conversions SET status = 'lost'"
    bad_amount = "UPDATE payouts SET amount_minor = 0"
    b = open_beneficiary(beneficiary(), "ben_1", T0)
    b.bind("3f0c8e2a-0000-4000-8000-000000000001")
    async with FxUnitOfWork(engine) as uow:
        await uow.quotes.add(quote())
        await uow.conversions.add(open_conversion("cnv_1", quote(), T0))
        await uow.beneficiaries.add(b)
        new = NewPayout("m_1", "ben_1", 1_000, "GBP", "Invoice", "INV-1")
        await uow.payouts.add(open_payout(new, b, "po_1", T0))
        await uow.commit()
    for statement in (bad_status, bad_amount):
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(statement))


async def test_a_stale_version_is_refused_and_every_write_bumps_it(engine: AsyncEngine) -> None:
    c = open_conversion("cnv_1", quote(), T0)
    async with FxUnitOfWork(engine) as uow:
        await uow.quotes.add(quote())
        await uow.conversions.add(c)
        await uow.commit()
    async with FxUnitOfWork(engine) as uow:
        loaded = await uow.conversions.get("m_1", "cnv_1")
        assert loaded is not None and loaded == c
        loaded.provider_ref = "prov_1"  # learned without a change of status
        await uow.conversions.update(loaded, 0)
        assert loaded.version == 1
        with pytest.raises(ConcurrentModification):
            await uow.conversions.update(loaded, 0)
        await uow.commit()


async def test_bank_details_are_stored_in_full_only_until_the_provider_has_them(
    engine: AsyncEngine,
) -> None:
    b = open_beneficiary(beneficiary(), "ben_1", T0)
    async with FxUnitOfWork(engine) as uow:
        await uow.beneficiaries.add(b)
        await uow.commit()
        full = await _doc(engine)
    async with FxUnitOfWork(engine) as uow:
        read = b.version
        b.bind("3f0c8e2a-0000-4000-8000-000000000001", "Barclays")
        await uow.beneficiaries.update(b, read)
        await uow.commit()
    redacted = await _doc(engine)
    async with FxUnitOfWork(engine) as uow:
        loaded = await uow.beneficiaries.get("m_1", "ben_1")
    assert "31926819" in full and "31926819" not in redacted
    assert loaded is not None and (loaded.masked_account, loaded.bank_name) == (
        "...6819",
        "Barclays",
    )
    assert loaded.details.routing_codes == b.details.routing_codes  # a sort code names a bank


async def _doc(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(select(beneficiaries.c.doc))).scalar_one())
