"""The read use cases: one payment, a merchant's payments, a payment's refunds.

Every read is scoped by the caller's merchant: another merchant's payment id answers
PAYMENT_NOT_FOUND, exactly like an id that does not exist. Listings are keyset-paginated
(AIP-158): the token is the last item's (create_time, id), bound to the filters.
"""

from __future__ import annotations

from datetime import datetime

from gateway_svc.adapters.store import PaymentFilter
from gateway_svc.domain.errors import InvalidPageToken, ValidationFailed
from gateway_svc.domain.refunds import Refund
from svc_kit.pagination import Page, PageTokens

from .commands import ListPayments, PaymentView
from .leases import not_found
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

pagination = PageTokens(invalid=InvalidPageToken, validation=ValidationFailed)
PAYMENTS_PAGE = (50, 100)
"""Default and maximum page size of ListPayments (the proto's numbers)."""
REFUNDS_PAGE = (50, 100)


def _key(when: datetime, item_id: str) -> list[str]:
    return [when.isoformat(), item_id]


def _after(token_key: object) -> tuple[datetime, str] | None:
    if token_key is None:
        return None
    if not (isinstance(token_key, list) and len(token_key) == 2):
        raise InvalidPageToken("page_token is not a token this service issued")
    try:
        return datetime.fromisoformat(str(token_key[0])), str(token_key[1])
    except ValueError as exc:
        raise InvalidPageToken("page_token is not a token this service issued") from exc


class Queries:
    """GetPayment, ListPayments, ListRefunds."""

    def __init__(self, rt: GatewayRuntime) -> None:
        self._rt = rt

    async def get_payment(self, merchant_id: str, payment_id: str) -> PaymentView:
        """The merchant's payment with its attempts; PaymentNotFound otherwise."""
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            payment = await uow.payments.get(merchant_id, payment_id)
            if payment is None:
                raise not_found(payment_id)
            return PaymentView(payment, tuple(await uow.attempts.for_payment(payment_id)))

    async def list_payments(self, query: ListPayments) -> Page[PaymentView]:
        """A page of the merchant's payments, newest first, each with its attempts."""
        limit = pagination.page_size(
            query.page_size, default=PAYMENTS_PAGE[0], maximum=PAYMENTS_PAGE[1]
        )
        f = PaymentFilter(
            statuses=query.statuses,
            provider=query.provider,
            created_after=query.created_after,
            created_before=query.created_before,
            merchant_reference=query.merchant_reference,
        )
        filters = {
            "merchant": query.merchant_id,
            "statuses": sorted(s.value for s in f.statuses),
            "provider": f.provider.value if f.provider else "",
            "after": f.created_after.isoformat() if f.created_after else "",
            "before": f.created_before.isoformat() if f.created_before else "",
            "reference": f.merchant_reference,
        }
        after = _after(pagination.decode(query.page_token, filters))
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            payments = await uow.payments.list(query.merchant_id, f, after, limit + 1)
            attempts = await uow.attempts.for_payments([p.id for p in payments[:limit]])
        views = [PaymentView(p, tuple(attempts.get(p.id, ()))) for p in payments]
        return pagination.page(
            views, limit, lambda v: _key(v.payment.create_time, v.payment.id), filters
        )

    async def list_refunds(
        self, merchant_id: str, payment_id: str, page_size: int = 0, page_token: str = ""
    ) -> Page[Refund]:
        """A page of a payment's refunds, oldest first; PaymentNotFound for another
        merchant's payment (never an empty list, which would confirm that it exists)."""
        limit = pagination.page_size(page_size, default=REFUNDS_PAGE[0], maximum=REFUNDS_PAGE[1])
        filters = {"merchant": merchant_id, "payment": payment_id}
        after = _after(pagination.decode(page_token, filters))
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            if await uow.payments.get(merchant_id, payment_id) is None:
                raise not_found(payment_id)
            refunds = await uow.refunds.list(merchant_id, payment_id, after, limit + 1)
        return pagination.page(refunds, limit, lambda r: _key(r.create_time, r.id), filters)
