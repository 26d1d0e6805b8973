"""Routing rules read from settings: the compact form, JSON, and the errors an operator sees."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_svc.domain.capabilities import MethodKind
from gateway_svc.domain.providers import Provider
from gateway_svc.domain.routing import ANY, RoutingRule, RoutingTable, route
from gateway_svc.domain.routing import RouteRequest as Req
from gateway_svc.domain.routing_config import RoutingConfigError, format_rules, parse_rules


def test_the_compact_example_from_the_settings_docs_parses() -> None:
    rules = parse_rules("m_123:USD,EUR:card=stripe,authorizenet;*:INR:*=razorpay")
    assert rules == (
        RoutingRule(
            "rule1",
            (Provider.STRIPE, Provider.AUTHORIZENET),
            "m_123",
            frozenset({"USD", "EUR"}),
            MethodKind.CARD,
        ),
        RoutingRule("rule2", (Provider.RAZORPAY,), ANY, frozenset({"INR"}), ANY),
    )


def test_blanks_case_explicit_ids_and_a_trailing_separator_are_accepted() -> None:
    rules = parse_rules(" eu@ * : eur , gbp : CARD = Stripe , authorizenet ; ")
    assert rules == (
        RoutingRule(
            "eu",
            (Provider.STRIPE, Provider.AUTHORIZENET),
            ANY,
            frozenset({"EUR", "GBP"}),
            MethodKind.CARD,
        ),
    )


def test_parsed_rules_route_a_payment() -> None:
    table = RoutingTable(parse_rules("m_1:*:card=authorizenet,stripe;*:*:card=stripe"))
    assert route(table, Req("m_1", "USD", MethodKind.CARD)).candidates == (
        Provider.AUTHORIZENET,
        Provider.STRIPE,
    )
    assert route(table, Req("m_2", "USD", MethodKind.CARD)).rule_id == "rule2"


def test_the_json_form_parses_with_defaults() -> None:
    text = json.dumps(
        [
            {"id": "vip", "merchant": "m_9", "currencies": ["usd"], "providers": ["stripe"]},
            {"providers": ["paypal"], "method": "wallet"},
        ]
    )
    assert parse_rules(text) == (
        RoutingRule("vip", (Provider.STRIPE,), "m_9", frozenset({"USD"}), ANY),
        RoutingRule("rule2", (Provider.PAYPAL,), ANY, ANY, MethodKind.WALLET),
    )


def test_an_empty_setting_means_no_rules() -> None:
    assert parse_rules("  ") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("*:USD:card", r"rule 1 .*expected '<scope>=<providers>'"),
        ("*:USD=stripe", r"rule 1 .*'<merchant>:<currencies>:<method>'"),
        ("*:USD:card=strip", r"unknown provider 'strip' \(known: stripe, authorizenet"),
        ("*:USD:cash=stripe", r"unknown method 'cash'"),
        ("*:USD:card=stripe,,paypal", r"empty provider"),
        ("*:USD,:card=stripe", r"empty currency"),
        ("*:USDX:card=stripe", r"not ISO 4217 currencies: \['USDX'\]"),
        ("*:USD:card=stripe,stripe", r"provider twice"),
        ("m/1:USD:card=stripe", r"bad merchant id 'm/1'"),
        ("bad id@*:USD:card=stripe", r"bad rule id"),
        ("*:*:*=stripe;*:*:*=paypal", None),
    ],
)
def test_compact_errors_name_the_rule_and_the_problem(text: str, message: str | None) -> None:
    if message is None:
        # Two rules with one scope: the parser accepts them, the table refuses the dead one.
        with pytest.raises(ValueError, match="same scope"):
            RoutingTable(parse_rules(text))
        return
    with pytest.raises(RoutingConfigError, match=message):
        parse_rules(text)


def test_an_error_in_a_later_rule_gives_its_position() -> None:
    with pytest.raises(RoutingConfigError, match=r"^rule 2 \('\*:EUR:card=nope'\)"):
        parse_rules("*:USD:card=stripe; *:EUR:card=nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[", "not valid JSON"),
        ('[{"currencies": "*"}]', "'providers' is required"),
        ('[{"providers": "stripe"}]', "'providers' must be a list of strings"),
        ('[{"providers": ["stripe"], "colour": 1}]', r"unknown keys \['colour'\]"),
        ('[{"providers": ["stripe"], "merchant": 5}]', "'merchant' must be a string"),
        ('[{"providers": ["stripe"], "currencies": "USD"}]', "'currencies' must be a list"),
        ("[1]", "rule 1: expected an object"),
    ],
)
def test_json_errors_name_the_rule_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        parse_rules(text)


def test_a_json_document_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(RoutingConfigError, match="JSON must be a list"):
        parse_rules('{"providers": ["stripe"]}')


_rule = st.builds(
    RoutingRule,
    id=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    providers=st.lists(st.sampled_from(Provider), min_size=1, max_size=4, unique=True).map(tuple),
    merchant_id=st.one_of(st.just(ANY), st.from_regex(r"m_[a-z0-9]{1,6}", fullmatch=True)),
    currencies=st.one_of(
        st.just(ANY),
        st.frozensets(st.sampled_from(["USD", "EUR", "INR", "JPY", "KWD"]), min_size=1),
    ),
    method=st.sampled_from([ANY, *MethodKind]),
)


@given(st.lists(_rule, max_size=5))
def test_formatted_rules_parse_back_to_the_same_rules(rules: list[RoutingRule]) -> None:
    assert parse_rules(format_rules(rules)) == tuple(rules)
