"""Routing: rule precedence, capability skips, breakers and the caller's preference."""

from __future__ import annotations

import dataclasses

import pytest

from gateway_svc.domain.breaker import BreakerSnapshot, BreakerState
from gateway_svc.domain.capabilities import DEFAULT_CAPABILITIES, Feature, MethodKind
from gateway_svc.domain.errors import NoProviderAvailable, PreconditionFailed
from gateway_svc.domain.providers import Provider
from gateway_svc.domain.routing import (
    ANY,
    NoRoute,
    ProviderNotEligible,
    RouteRequest,
    RoutingRule,
    RoutingTable,
    Skip,
    SkipReason,
    default_table,
    route,
)

CARD = MethodKind.CARD
WALLET = MethodKind.WALLET
S, A, R, P = Provider.STRIPE, Provider.AUTHORIZENET, Provider.RAZORPAY, Provider.PAYPAL


def card(currency: str = "USD", merchant: str = "m_1", **kw: object) -> RouteRequest:
    return RouteRequest(merchant, currency, CARD, **kw)  # type: ignore[arg-type]


def opened(at: float) -> BreakerSnapshot:
    return BreakerSnapshot(BreakerState.OPEN, at)


# -- the default table ---------------------------------------------------------------------


def test_usd_cards_go_to_stripe_then_authorizenet() -> None:
    decision = route(default_table(), card("USD"))
    assert decision.candidates == (S, A)
    assert decision.skipped == ()
    assert decision.rule_id == "cards"


def test_inr_cards_go_to_razorpay_then_stripe() -> None:
    decision = route(default_table(), card("INR"))
    assert decision.candidates == (R, S)
    assert decision.rule_id == "cards-inr"


def test_wallet_tokens_go_to_paypal_only() -> None:
    decision = route(default_table(), RouteRequest("m_1", "EUR", WALLET))
    assert decision.candidates == (P,)


def test_a_currency_authorizenet_does_not_settle_skips_it_with_the_reason() -> None:
    decision = route(default_table(), card("JPY"))
    assert decision.candidates == (S,)
    assert decision.skipped == (Skip(A, SkipReason.CURRENCY_UNSUPPORTED),)


def test_a_currency_nobody_settles_raises_no_route_listing_every_skip() -> None:
    with pytest.raises(NoRoute) as caught:
        route(default_table(), card("KWD"))
    assert caught.value.skipped == (
        Skip(S, SkipReason.CURRENCY_UNSUPPORTED),
        Skip(A, SkipReason.CURRENCY_UNSUPPORTED),
    )
    assert caught.value.metadata["stripe"] == "currency_unsupported"
    assert isinstance(caught.value, NoProviderAvailable)


# -- capabilities --------------------------------------------------------------------------


def test_partial_capture_need_skips_razorpay_for_inr() -> None:
    decision = route(default_table(), card("INR", needs=frozenset({Feature.PARTIAL_CAPTURE})))
    assert decision.candidates == (S,)
    assert decision.skipped == (Skip(R, SkipReason.PARTIAL_CAPTURE_UNSUPPORTED),)


def test_void_need_skips_razorpay() -> None:
    decision = route(default_table(), card("INR", needs=frozenset({Feature.VOID})))
    assert decision.skipped == (Skip(R, SkipReason.VOID_UNSUPPORTED),)


def test_raw_test_cards_go_to_providers_that_take_the_card_itself() -> None:
    # Razorpay's S2S JSON flow takes the card, so INR test cards stay on Razorpay.
    decision = route(default_table(), card("INR", needs=frozenset({Feature.RAW_CARDS})))
    assert decision.candidates == (R, S)
    assert decision.skipped == ()


def test_raw_test_cards_skip_token_only_providers() -> None:
    token_only = dataclasses.replace(DEFAULT_CAPABILITIES[R], features=frozenset())
    table = RoutingTable(default_table().rules, {**DEFAULT_CAPABILITIES, R: token_only})
    decision = route(table, card("INR", needs=frozenset({Feature.RAW_CARDS})))
    assert decision.candidates == (S,)
    assert decision.skipped == (Skip(R, SkipReason.RAW_CARDS_UNSUPPORTED),)


def test_a_rule_sending_cards_to_paypal_skips_it_as_method_unsupported() -> None:
    table = RoutingTable((RoutingRule("odd", (P, S)),))
    decision = route(table, card("USD"))
    assert decision.candidates == (S,)
    assert decision.skipped == (Skip(P, SkipReason.METHOD_UNSUPPORTED),)


def test_a_provider_missing_from_the_capability_table_is_disabled() -> None:
    caps = {p: c for p, c in DEFAULT_CAPABILITIES.items() if p != A}
    table = RoutingTable((RoutingRule("cards", (S, A)),), caps)
    assert route(table, card()).skipped == (Skip(A, SkipReason.DISABLED),)


# -- precedence ----------------------------------------------------------------------------


def precedence_table() -> RoutingTable:
    return RoutingTable(
        (
            RoutingRule("any", (S, A)),
            RoutingRule("method", (A, S), method=CARD),
            RoutingRule("currency", (S,), currencies=frozenset({"EUR"})),
            RoutingRule("merchant", (A,), merchant_id="m_vip"),
            RoutingRule("merchant-eur", (S, A), "m_vip", frozenset({"EUR"})),
        ),
        DEFAULT_CAPABILITIES,
    )


@pytest.mark.parametrize(
    ("merchant", "currency", "method", "rule_id"),
    [
        ("m_1", "GBP", WALLET, "any"),
        ("m_1", "GBP", CARD, "method"),
        ("m_1", "EUR", CARD, "currency"),  # currency beats method
        ("m_vip", "GBP", CARD, "merchant"),  # merchant beats currency and method
        ("m_vip", "EUR", CARD, "merchant-eur"),  # merchant + currency beats merchant alone
    ],
)
def test_the_most_specific_rule_wins(
    merchant: str, currency: str, method: MethodKind, rule_id: str
) -> None:
    rule = precedence_table().match(merchant, currency, method)
    assert rule is not None and rule.id == rule_id


def test_among_equally_specific_rules_the_first_listed_wins() -> None:
    table = RoutingTable(
        (
            RoutingRule("eu", (S,), currencies=frozenset({"EUR", "GBP"})),
            RoutingRule("gbp", (A,), currencies=frozenset({"GBP"})),
        )
    )
    rule = table.match("m_1", "GBP", CARD)
    assert rule is not None and rule.id == "eu"


def test_no_matching_rule_raises_no_route() -> None:
    table = RoutingTable((RoutingRule("wallets", (P,), method=WALLET),))
    with pytest.raises(NoRoute, match="no routing rule"):
        route(table, card())


def test_a_rule_with_the_same_scope_as_an_earlier_one_is_refused() -> None:
    with pytest.raises(ValueError, match="same scope"):
        RoutingTable((RoutingRule("a", (S,), "m_1"), RoutingRule("b", (A,), "m_1")))


def test_duplicate_rule_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="two routing rules"):
        RoutingTable((RoutingRule("a", (S,), "m_1"), RoutingRule("a", (A,), "m_2")))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"providers": ()}, "no provider"),
        ({"providers": (S, S)}, "twice"),
        ({"currencies": frozenset({"XYZ"})}, "ISO 4217"),
        ({"currencies": frozenset()}, "ISO 4217"),
        ({"merchant_id": ""}, "empty merchant"),
        ({"id": ""}, "needs an id"),
    ],
)
def test_malformed_rules_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"id": "r", "providers": (S,), "merchant_id": ANY, **kwargs}
    with pytest.raises(ValueError, match=message):
        RoutingRule(**fields)  # type: ignore[arg-type]


# -- breakers ------------------------------------------------------------------------------


def test_an_open_provider_is_skipped_while_another_is_closed() -> None:
    decision = route(default_table(), card(), {S: opened(10.0)})
    assert decision.candidates == (A,)
    assert decision.skipped == (Skip(S, SkipReason.BREAKER_OPEN),)
    assert not decision.all_open


def test_a_half_open_provider_stays_a_candidate() -> None:
    snapshot = BreakerSnapshot(BreakerState.HALF_OPEN, 10.0)
    assert route(default_table(), card(), {S: snapshot}).candidates == (S, A)


def test_when_every_candidate_is_open_the_least_recently_opened_comes_first() -> None:
    decision = route(default_table(), card(), {S: opened(50.0), A: opened(20.0)})
    assert decision.candidates == (A, S)
    assert decision.all_open
    assert decision.skipped == ()


def test_capability_skips_are_applied_before_the_all_open_rule() -> None:
    # JPY: authorizenet is not eligible at all, so stripe alone decides "all open".
    decision = route(
        default_table(),
        card("JPY"),
        {S: opened(5.0), A: BreakerSnapshot(BreakerState.CLOSED, None)},
    )
    assert decision.candidates == (S,)
    assert decision.all_open


# -- preference ----------------------------------------------------------------------------


def test_an_eligible_preference_moves_first() -> None:
    decision = route(default_table(), card(preferred=A))
    assert decision.candidates == (A, S)


def test_a_preference_the_rule_does_not_list_is_refused_as_not_routed() -> None:
    with pytest.raises(ProviderNotEligible) as caught:
        route(default_table(), card(preferred=R))
    assert caught.value.skip == Skip(R, SkipReason.NOT_ROUTED)
    assert caught.value.metadata == {"provider": "razorpay", "skip_reason": "not_routed"}
    assert isinstance(caught.value, PreconditionFailed)


def test_a_preference_lacking_the_currency_is_refused_with_that_reason() -> None:
    with pytest.raises(ProviderNotEligible) as caught:
        route(default_table(), card("JPY", preferred=A))
    assert caught.value.skip.reason is SkipReason.CURRENCY_UNSUPPORTED


def test_a_preference_whose_circuit_is_open_is_refused_while_others_are_closed() -> None:
    with pytest.raises(ProviderNotEligible) as caught:
        route(default_table(), card(preferred=A), {A: opened(1.0)})
    assert caught.value.skip.reason is SkipReason.BREAKER_OPEN


def test_a_preference_among_all_open_providers_still_moves_first() -> None:
    decision = route(default_table(), card(preferred=S), {S: opened(50.0), A: opened(20.0)})
    assert decision.candidates == (S, A)
    assert decision.all_open
