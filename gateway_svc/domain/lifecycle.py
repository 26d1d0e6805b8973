"""A merchant's order status, derived from the payment's status and nothing else.

Merchants build order pages on four words, not on eight payment states; deriving them in one
function keeps every surface (API, webhooks, dashboards) saying the same thing.
"""

from __future__ import annotations

from enum import StrEnum

from .payments import Payment, PaymentStatus


class OrderStatus(StrEnum):
    """Where the merchant's order stands."""

    NEW = "NEW"
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


_ORDER_STATUS: dict[PaymentStatus, OrderStatus] = {
    PaymentStatus.CREATED: OrderStatus.NEW,
    PaymentStatus.REQUIRES_ACTION: OrderStatus.PROCESSING,
    PaymentStatus.AUTHORIZED: OrderStatus.PROCESSING,
    PaymentStatus.UNKNOWN: OrderStatus.PROCESSING,
    PaymentStatus.CAPTURED: OrderStatus.SUCCESS,
    PaymentStatus.PARTIALLY_CAPTURED: OrderStatus.SUCCESS,
    PaymentStatus.CANCELED: OrderStatus.FAILED,
    PaymentStatus.FAILED: OrderStatus.FAILED,
}


def order_status(payment: Payment) -> OrderStatus:
    """The order status a payment means.

    ==================== ============ =====================================================
    Payment status       Order status Why
    ==================== ============ =====================================================
    CREATED              NEW          no provider has been asked yet
    REQUIRES_ACTION      PROCESSING   the payer is authenticating (3DS)
    AUTHORIZED           PROCESSING   funds are held, not moved: a capture or a void follows
    UNKNOWN              PROCESSING   the provider may have charged; reconciliation decides
    CAPTURED             SUCCESS      the money moved
    PARTIALLY_CAPTURED   SUCCESS      the money the merchant asked to capture moved
    CANCELED             FAILED       the authorization was voided; nothing moved
    FAILED               FAILED       declined, or no provider could take the payment
    ==================== ============ =====================================================

    Refunds do not change the order status: a refunded order was paid, and its refunds are
    reported on their own.
    """
    return _ORDER_STATUS[payment.status]
