"""Builders shared by the gateway domain tests: payments in any status, with coherent amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway_svc.domain.cards import CardBrand, CardSummary
from gateway_svc.domain.payments import CaptureMethod, MethodSummary, Payment, PaymentStatus
from gateway_svc.domain.providers import ChargeStatus, Provider, ProviderCharge

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)
AMOUNT = 10_000
S = PaymentStatus

# The amounts a payment in each status has: (authorized, captured).
_AMOUNTS = {
    S.AUTHORIZED: (AMOUNT, 0),
    S.CAPTURED: (AMOUNT, AMOUNT),
    S.PARTIALLY_CAPTURED: (AMOUNT, AMOUNT // 4),
}


def payment(
    status: PaymentStatus = S.CREATED,
    *,
    capture_method: CaptureMethod = CaptureMethod.MANUAL,
    provider: Provider | None = Provider.STRIPE,
    authorized_minor: int | None = None,
) -> Payment:
    """A payment as it would be stored in ``status`` (bound to Stripe's ``pi_1`` past CREATED)."""
    authorized, captured = _AMOUNTS.get(status, (0, 0))
    bound = status is not S.CREATED
    return Payment(
        id="pay_1",
        merchant_id="mer_1",
        amount_minor=AMOUNT,
        currency="USD",
        capture_method=capture_method,
        method=MethodSummary(card=CardSummary(CardBrand.VISA, "4242", 12, 2030)),
        create_time=T0,
        update_time=T0,
        status=status,
        authorized_minor=authorized if authorized_minor is None else authorized_minor,
        captured_minor=captured,
        provider=provider if bound else None,
        provider_ref="pi_1" if bound else "",
    )


def view(status: ChargeStatus, **kwargs: object) -> ProviderCharge:
    """Stripe's view of ``pi_1`` in ``status``."""
    return ProviderCharge("pi_1", status, **kwargs)  # type: ignore[arg-type]
