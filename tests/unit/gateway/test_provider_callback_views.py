"""What a provider callback means for a payment, without I/O: the view an event stands for,
staleness, when the provider must be asked, which refund an event is about, and the
servicer's reading of gRPC metadata as HTTP headers."""

from __future__ import annotations

import pytest

from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.domain.provider_webhooks import EventKind, ProviderEvent, WebhookProvider
from gateway_svc.domain.providers import ChargeStatus
from gateway_svc.domain.refunds import Refund, RefundStatus
from gateway_svc.entrypoints.provider_webhook_servicer import callback_headers
from gateway_svc.service_layer.provider_callbacks_views import (
    captured_view,
    charge_refs,
    is_stale,
    match_refund,
    needs_truth,
    payment_view,
    provider_refund_id,
    unrecorded_amount,
)
from tests.unit.gateway.domain_support import AMOUNT, T0, payment, view

S = PaymentStatus


def event(kind: EventKind, **fields: object) -> ProviderEvent:
    """A Stripe event about ``pi_1`` (Authorize.net's when ``provider`` says so)."""
    provider = fields.pop("provider", WebhookProvider.STRIPE)
    return ProviderEvent(provider, "evt_1", kind, "t", "pi_1", T0, **fields)  # type: ignore[arg-type]


def refund(refund_id: str, amount: int, status: RefundStatus, provider_ref: str = "") -> Refund:
    return Refund(refund_id, "pay_1", "mer_1", amount, "USD", T0, T0, status,
                  provider_ref=provider_ref)  # fmt: skip


def test_a_capture_event_is_a_captured_view_with_the_providers_total_and_its_ids() -> None:
    captured = event(EventKind.CAPTURED, amount_minor=6_000, currency="USD",
                     captured_minor=6_000, refs={"charge": "ch_1"})  # fmt: skip

    found = payment_view(captured, payment(S.AUTHORIZED))

    assert found is not None
    assert (found.status, found.captured_minor, found.authorized_minor) == (
        ChargeStatus.CAPTURED,
        6_000,
        0,
    )
    assert found.refs == {"latest_charge": "ch_1"}  # the name the Stripe adapter keeps it by


def test_an_authorize_net_amount_is_read_in_the_payments_currency() -> None:
    authorized = event(EventKind.AUTHORIZED, provider=WebhookProvider.AUTHORIZENET,
                       amount_decimal="100.00")  # fmt: skip

    found = payment_view(authorized, payment(S.UNKNOWN))

    assert found is not None and (found.status, found.authorized_minor) == (
        ChargeStatus.AUTHORIZED,
        AMOUNT,
    )


def test_a_failure_event_carries_the_providers_code_and_no_amount_is_needed() -> None:
    failed = payment_view(event(EventKind.FAILED, failure_reason="insufficient_funds"), payment())

    assert failed is not None and failed.status is ChargeStatus.DECLINED
    assert failed.decline is not None and failed.decline.raw_code == "insufficient_funds"


def test_an_event_without_the_amount_its_view_needs_asks_for_the_providers_truth() -> None:
    bare = event(EventKind.CAPTURED)

    assert payment_view(bare, payment(S.AUTHORIZED)) is None
    assert needs_truth(bare, payment(S.AUTHORIZED))


@pytest.mark.parametrize(
    ("status", "charge", "stale"),
    [
        (S.CAPTURED, ChargeStatus.AUTHORIZED, True),  # authorized after captured: late
        (S.AUTHORIZED, ChargeStatus.REQUIRES_ACTION, True),
        (S.AUTHORIZED, ChargeStatus.CAPTURED, False),
        (S.UNKNOWN, ChargeStatus.AUTHORIZED, False),
        (S.CAPTURED, ChargeStatus.CANCELED, False),  # not behind: a conflict, for the domain
    ],
)
def test_a_view_behind_the_payment_is_stale(
    status: PaymentStatus, charge: ChargeStatus, stale: bool
) -> None:
    assert is_stale(payment(status), view(charge)) is stale


def test_a_refund_before_the_capture_asks_the_provider_unless_it_carries_the_total() -> None:
    bare = event(EventKind.REFUND_SUCCEEDED, amount_minor=1_000, currency="USD")
    with_total = event(EventKind.REFUND_SUCCEEDED, amount_minor=1_000, currency="USD",
                       captured_minor=AMOUNT)  # fmt: skip

    assert needs_truth(bare, payment(S.AUTHORIZED))
    assert not needs_truth(bare, payment(S.CAPTURED))
    assert not needs_truth(with_total, payment(S.AUTHORIZED))
    found = captured_view(with_total)
    assert found is not None and found.captured_minor == AMOUNT


def test_a_refund_is_matched_by_its_provider_id_else_by_an_unanswered_pending_one() -> None:
    done = refund("re_a", 1_000, RefundStatus.SUCCEEDED, "re_p1")
    lost = refund("re_b", 2_000, RefundStatus.PENDING)
    refunds = [done, lost]
    named = event(EventKind.REFUND_SUCCEEDED, refund_reference="re_p1")
    other = event(EventKind.REFUND_SUCCEEDED, refund_reference="re_p2")

    assert match_refund(refunds, named, 1_000) is done
    assert match_refund(refunds, other, 2_000) is lost
    assert match_refund(refunds, other, 3_000) is None


def test_a_refund_made_at_the_provider_has_one_id_and_the_amount_no_refund_of_ours_covers() -> None:
    made = event(EventKind.REFUND_SUCCEEDED, refund_reference="re_p9", refunded_minor=5_000)
    again = event(EventKind.REFUND_SUCCEEDED, refund_reference="re_p9")
    elsewhere = event(EventKind.REFUND_SUCCEEDED, provider=WebhookProvider.RAZORPAY,
                      refund_reference="re_p9")  # fmt: skip
    ours = [refund("re_a", 1_000, RefundStatus.SUCCEEDED), refund("re_b", 9, RefundStatus.FAILED)]

    assert provider_refund_id(made) == provider_refund_id(again)
    assert provider_refund_id(made) != provider_refund_id(elsewhere)
    assert len(provider_refund_id(made)) <= 40
    assert unrecorded_amount(made, None, ours) == 4_000
    assert unrecorded_amount(made, 700, ours) == 700
    assert unrecorded_amount(again, None, ours) == 0


def test_charge_refs_keep_other_ids_under_their_own_names() -> None:
    refs = charge_refs(event(EventKind.CAPTURED, refs={"capture_id": "C1", "order_id": ""}))

    assert refs == {"capture_id": "C1"}


def test_metadata_becomes_headers_with_the_first_of_a_repeated_one_and_no_binary() -> None:
    metadata: list[tuple[str, str | bytes]] = [
        ("stripe-signature", "t=1,v1=a"),
        ("Stripe-Signature", "t=2,v1=b"),
        ("x-trace-bin", b"\x00\x01"),
    ]

    assert callback_headers(metadata) == {"stripe-signature": "t=1,v1=a"}
