"""Conversions: the status table, transitions with their times, and the locked amounts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway_svc.adapters.providers.currencycloud_wire import CONVERSION_STATUSES
from gateway_svc.domain import errors
from gateway_svc.domain.conversions import (
    PROVIDER_STATES,
    Conversion,
    ConversionState,
    ConversionTransition,
    open_conversion,
)
from gateway_svc.domain.fx import Quote
from gateway_svc.domain.fx_provider import ConversionStatus, ConversionView, FixedSide

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
C = ConversionState
QUOTE = Quote(
    id="quo_1",
    merchant_id="mer_1",
    buy_currency="USD",
    sell_currency="GBP",
    fixed_side=FixedSide.SELL,
    buy_amount_minor=12_345,
    sell_amount_minor=10_000,
    client_rate="1.2345",
    provider_rate="1.2345",
    mid_market_rate="1.2350",
    currency_pair="GBPUSD",
    markup_bps=0,
    created_at=T0,
    expires_at=T0 + timedelta(seconds=30),
)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def view(raw: str, **changes: object) -> ConversionView:
    base = ConversionView(
        provider_ref="cc_conv_1",
        status=ConversionStatus(raw),
        raw_status=raw,
        buy_currency="USD",
        sell_currency="GBP",
        fixed_side=FixedSide.SELL,
        buy_amount_minor=12_346,
        sell_amount_minor=10_000,
        client_rate="1.2346",
        mid_market_rate="1.2350",
        currency_pair="GBPUSD",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def conversion() -> Conversion:
    return open_conversion("conv_1", QUOTE, T0)


# -- the status table ---------------------------------------------------------------------------

CURRENCYCLOUD_TO_OURS = {
    "awaiting_funds": C.AWAITING_FUNDS,
    "funds_sent": C.AWAITING_FUNDS,
    "funds_arrived": C.FUNDS_ARRIVED,
    "trade_settled": C.COMPLETED,
    "closed": C.FAILED,
}


@pytest.mark.parametrize(("raw", "ours"), sorted(CURRENCYCLOUD_TO_OURS.items()))
def test_each_currencycloud_status_maps_to_ours(raw, ours):
    assert PROVIDER_STATES[CONVERSION_STATUSES[raw]] is ours


def test_the_table_covers_every_provider_status_and_every_word_the_adapter_reads():
    assert set(PROVIDER_STATES) == set(ConversionStatus)
    assert set(CONVERSION_STATUSES) == set(CURRENCYCLOUD_TO_OURS)
    assert set(PROVIDER_STATES.values()) == set(C) - {C.PENDING}


# -- opening at a quote ---------------------------------------------------------------------------


def test_a_conversion_starts_pending_at_the_quotes_amounts():
    c = conversion()
    assert (c.status, c.quote_id, c.merchant_id) == (C.PENDING, "quo_1", "mer_1")
    assert (c.buy_amount_minor, c.sell_amount_minor, c.client_rate) == (12_345, 10_000, "1.2345")
    assert c.history == [ConversionTransition(None, C.PENDING, T0, "created")]
    terms = c.terms()
    assert (terms.fixed_side, terms.amount_minor, terms.amount_currency) == (
        FixedSide.SELL,
        10_000,
        "GBP",
    )


# -- following the provider -----------------------------------------------------------------------


def test_every_transition_is_kept_with_its_time():
    c = conversion()
    assert c.apply_provider_view(view("awaiting_funds"), at(1)) == [
        ConversionTransition(C.PENDING, C.AWAITING_FUNDS, at(1), "awaiting_funds")
    ]
    c.apply_provider_view(view("funds_sent"), at(2))  # same status for us: no change
    c.apply_provider_view(view("funds_arrived"), at(3))
    c.apply_provider_view(view("trade_settled"), at(4))
    assert [(t.from_status, t.to_status, t.at) for t in c.history] == [
        (None, C.PENDING, T0),
        (C.PENDING, C.AWAITING_FUNDS, at(1)),
        (C.AWAITING_FUNDS, C.FUNDS_ARRIVED, at(3)),
        (C.FUNDS_ARRIVED, C.COMPLETED, at(4)),
    ]
    assert (c.status, c.is_final, c.updated_at, c.version) == (C.COMPLETED, True, at(4), 3)


def test_the_rate_stays_locked_whatever_the_provider_reports():
    c = conversion()
    c.apply_provider_view(view("awaiting_funds"), at(1))
    assert (c.buy_amount_minor, c.provider_buy_amount_minor) == (12_345, 12_346)
    assert c.provider_ref == "cc_conv_1" and c.was_booked


def test_a_provider_may_report_a_later_status_first():
    c = conversion()
    assert [t.to_status for t in c.apply_provider_view(view("trade_settled"), at(1))] == [
        C.COMPLETED
    ]


def test_repeated_and_late_views_change_nothing():
    c = conversion()
    c.apply_provider_view(view("funds_arrived"), at(1))
    assert c.apply_provider_view(view("funds_arrived"), at(2)) == []
    assert c.apply_provider_view(view("awaiting_funds"), at(3)) == []
    c.apply_provider_view(view("trade_settled"), at(4))
    assert c.apply_provider_view(view("funds_arrived"), at(5)) == []
    assert c.status is C.COMPLETED and len(c.history) == 3


def test_a_closed_trade_fails_with_a_reason():
    c = conversion()
    c.apply_provider_view(view("awaiting_funds"), at(1))
    c.apply_provider_view(view("closed"), at(2))
    assert c.status is C.FAILED and "closed" in c.failure_reason


def test_a_view_contradicting_a_final_status_needs_a_human():
    c = conversion()
    c.apply_provider_view(view("trade_settled"), at(1))
    with pytest.raises(errors.ProviderViewConflict):
        c.apply_provider_view(view("closed"), at(2))


def test_a_refused_create_fails_the_pending_conversion():
    c = conversion()
    assert c.fail("insufficient_funds", at(1))[0].to_status is C.FAILED
    assert c.failure_reason == "insufficient_funds" and not c.was_booked
    # The provider booked it after all: money may have moved, so nobody may ignore it.
    with pytest.raises(errors.ProviderViewConflict):
        c.apply_provider_view(view("awaiting_funds"), at(2))


def test_only_a_pending_conversion_can_fail_before_booking():
    c = conversion()
    c.apply_provider_view(view("awaiting_funds"), at(1))
    with pytest.raises(errors.ProviderViewConflict):
        c.fail("late refusal", at(2))


@pytest.mark.parametrize(
    "changes",
    [
        {"buy_currency": "EUR"},
        {"sell_currency": "EUR"},
        {"fixed_side": FixedSide.BUY},
        {"sell_amount_minor": 9_999},
    ],
)
def test_a_view_with_other_terms_is_refused(changes):
    with pytest.raises(errors.ProviderViewConflict):
        conversion().apply_provider_view(view("awaiting_funds", **changes), at(1))


def test_a_view_of_another_provider_object_is_refused():
    c = conversion()
    c.apply_provider_view(view("awaiting_funds"), at(1))
    with pytest.raises(errors.ProviderViewConflict):
        c.apply_provider_view(view("funds_arrived", provider_ref="cc_conv_2"), at(2))
