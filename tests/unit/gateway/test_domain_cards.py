"""Card numbers: Luhn, brands, the providers' test numbers, and what a payment may keep."""

from __future__ import annotations

from datetime import date

import pytest

from gateway_svc.domain.cards import (
    TEST_CARD_NUMBERS,
    CardBrand,
    CardSummary,
    brand_of,
    card_violations,
    ensure_allowed,
    is_test_card,
    luhn_ok,
    summarize,
)
from gateway_svc.domain.errors import TestCardNotAllowed
from gateway_svc.domain.providers import Card
from sandbox import cards as sandbox_cards

TODAY = date(2025, 3, 1)


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("4242424242424242", True),
        ("4242424242424241", False),
        ("79927398713", False),  # valid Luhn, but too short for a card
        ("424242424242424a", False),
        ("", False),
    ],
)
def test_luhn(number, ok):
    assert luhn_ok(number) is ok


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", CardBrand.VISA),
        ("5555555555554444", CardBrand.MASTERCARD),
        ("2223003122003222", CardBrand.MASTERCARD),
        ("378282246310005", CardBrand.AMEX),
        ("6011111111111117", CardBrand.DISCOVER),
        ("36227206271667", CardBrand.DINERS),
        ("3566002020360505", CardBrand.JCB),
        ("6200000000000005", CardBrand.UNIONPAY),
        ("9999999999999995", CardBrand.UNKNOWN),
    ],
)
def test_the_brand_comes_from_the_leading_digits(number, brand):
    assert brand_of(number) is brand


def test_every_published_test_number_is_a_valid_card_number():
    assert all(luhn_ok(n) for n in TEST_CARD_NUMBERS)


def test_the_numbers_the_brief_names_are_test_cards_with_spaces_or_without():
    for number in ("4111111111111111", "5424000000000015", "370000000000002", "4242424242424242"):
        assert is_test_card(number)
    assert is_test_card("4242 4242 4242 4242") and is_test_card("4000-0000-0000-0002")
    assert not is_test_card("4556737586899855")


def test_every_card_the_simulators_honour_is_a_test_card():
    assert {c.number for c in sandbox_cards.CARDS} <= TEST_CARD_NUMBERS


def test_a_summary_keeps_brand_last_four_and_expiry_only():
    card = Card("4242 4242 4242 4242", 12, 2030, "123")
    summary = summarize(card)
    assert summary == CardSummary(CardBrand.VISA, "4242", 12, 2030)
    assert "424242" not in repr(summary) and "123" not in repr(summary)


def paths(card: Card) -> list[str]:
    return [v.field for v in card_violations(card, TODAY, "payment_method.card")]


def test_a_good_card_has_no_violations():
    assert paths(Card("4242424242424242", 3, 2025, "123")) == []
    assert paths(Card("378282246310005", 1, 2030, "1234")) == []


@pytest.mark.parametrize(
    ("card", "field"),
    [
        (Card("4242424242424241", 12, 2030, "123"), "number"),
        (Card("4242", 12, 2030, "123"), "number"),
        (Card("4242424242424242", 13, 2030, "123"), "exp_month"),
        (Card("4242424242424242", 2, 2025, "123"), "exp_month"),
        (Card("4242424242424242", 12, 2024, "123"), "exp_year"),
        (Card("4242424242424242", 12, 2046, "123"), "exp_year"),
        (Card("4242424242424242", 12, 2030, "12"), "cvc"),
        (Card("4242424242424242", 12, 2030, "1234"), "cvc"),
        (Card("378282246310005", 12, 2030, "123"), "cvc"),
    ],
)
def test_each_bad_card_field_is_one_violation(card, field):
    assert paths(card) == [f"payment_method.card.{field}"]


def test_violations_never_quote_the_number_or_the_cvc():
    card = Card("4242424242424241", 0, 1999, "98")
    text = " ".join(v.description for v in card_violations(card, TODAY, "card"))
    assert "4242" not in text and "98" not in text
    assert len(card_violations(card, TODAY, "card")) == 4


def test_a_test_card_goes_only_to_a_sandbox_provider():
    test_card = Card("4111111111111111", 12, 2030, "123")
    ensure_allowed(test_card, sandbox=True)
    ensure_allowed(Card("4556737586899855", 12, 2030, "123"), sandbox=False)
    with pytest.raises(TestCardNotAllowed) as info:
        ensure_allowed(test_card, sandbox=False, provider="authorizenet")
    assert info.value.reason == "TEST_CARD_NOT_ALLOWED"
    assert [v.field for v in info.value.violations] == ["payment_method.card.number"]
    assert "4111111111111111" not in str(info.value) + repr(info.value.metadata)
