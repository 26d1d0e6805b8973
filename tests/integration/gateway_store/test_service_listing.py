"""ListPayments and ListRefunds: filters, keyset pages, tokens bound to their filters, and
merchant scoping. Payments are written straight to the store (no provider is needed to list).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.domain.errors import InvalidPageToken
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import Provider
from gateway_svc.service_layer.commands import ListPayments
from gateway_svc.service_layer.queries import Queries
from gateway_svc.service_layer.runtime import GatewayRuntime
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.test_store_repositories import T0, attempt, payment

STATUSES = [PaymentStatus.CAPTURED, PaymentStatus.FAILED, PaymentStatus.AUTHORIZED]


async def seed(engine: AsyncEngine) -> list[Payment]:
    made = []
    async with GatewayUnitOfWork(engine) as uow:
        for i in range(9):
            p = payment(f"pay_{i}", at=T0 + timedelta(minutes=i))
            p.status = STATUSES[i % 3]
            p.provider = Provider.STRIPE if i < 6 else Provider.AUTHORIZENET
            p.merchant_reference = f"order-{i % 2}"
            await uow.payments.add(p)
            await uow.attempts.add(attempt(f"att_{i}", p.id), "m_1", f"k{i}")
            made.append(p)
        await uow.payments.add(payment("pay_other", merchant="m_2"))
        await uow.commit()
    return made


@pytest.fixture
def queries(engine: AsyncEngine) -> Queries:
    return Queries(GatewayRuntime(engine=engine, providers={}))


async def test_pages_run_newest_first_without_gaps_or_repeats(
    engine: AsyncEngine, queries: Queries
) -> None:
    await seed(engine)
    seen: list[str] = []
    token = ""
    while True:
        page = await queries.list_payments(ListPayments("m_1", page_size=4, page_token=token))
        seen += [v.payment.id for v in page.items]
        assert all(len(v.attempts) == 1 for v in page.items)
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"pay_{i}" for i in reversed(range(9))]


async def test_filters_combine(engine: AsyncEngine, queries: Queries) -> None:
    await seed(engine)

    async def ids(**f: object) -> list[str]:
        page = await queries.list_payments(ListPayments("m_1", **f))  # type: ignore[arg-type]
        return [v.payment.id for v in page.items]

    assert await ids(statuses=frozenset({PaymentStatus.FAILED})) == ["pay_7", "pay_4", "pay_1"]
    assert await ids(provider=Provider.AUTHORIZENET) == ["pay_8", "pay_7", "pay_6"]
    window = {
        "created_after": T0 + timedelta(minutes=2),
        "created_before": T0 + timedelta(minutes=4),
    }
    assert await ids(**window) == ["pay_3", "pay_2"]
    assert await ids(merchant_reference="order-1", provider=Provider.STRIPE) == [
        "pay_5",
        "pay_3",
        "pay_1",
    ]
    assert await ids(merchant_reference="nothing") == []


async def test_a_token_only_works_with_the_filters_it_was_issued_for(
    engine: AsyncEngine, queries: Queries
) -> None:
    await seed(engine)
    page = await queries.list_payments(ListPayments("m_1", page_size=2))
    with pytest.raises(InvalidPageToken):
        await queries.list_payments(
            ListPayments("m_1", provider=Provider.STRIPE, page_token=page.next_page_token)
        )
    with pytest.raises(InvalidPageToken):
        await queries.list_payments(ListPayments("m_1", page_token="garbage!"))
    with pytest.raises(InvalidPageToken):  # another merchant cannot page through m_1's list
        await queries.list_payments(ListPayments("m_2", page_token=page.next_page_token))


async def test_a_merchant_lists_only_its_own_payments(
    engine: AsyncEngine, queries: Queries
) -> None:
    await seed(engine)
    page = await queries.list_payments(ListPayments("m_2"))
    assert [v.payment.id for v in page.items] == ["pay_other"]
    assert (await queries.list_payments(ListPayments("m_3"))).items == []
