"""Card PaymentMethods: Stripe's ``pm_card_*`` test tokens and raw card data.

A PaymentIntent is paid by ``payment_method=<id>`` (a ``pm_card_*`` test token, or a ``pm_``
this sandbox created earlier) or by ``payment_method_data[type]=card`` with
``payment_method_data[card][number|exp_month|exp_year|cvc]``. Real Stripe accepts raw numbers
only on accounts with raw-card-data access (and refuses them otherwise); the sandbox always
accepts them, so the gateway's sandbox mode can send the shared test cards.

What a card does comes from sandbox/cards.py (the table every simulator shares) plus a few of
Stripe's own documented test values that table lacks (EXTRA_TOKENS). Problems with the card
itself (a number failing Luhn, a bad or past expiry, a malformed CVC) are card errors, as at
Stripe. Unconfirmed: whether real Stripe still creates the PaymentIntent when the card data
given inline is refused; the sandbox creates it and leaves it declined (no charge, a
``last_payment_error``), like any other decline, so the gateway handles one shape.

Only brand, last 4, expiry and a fingerprint (a hash) are kept: never the number or the CVC.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sandbox.cards import BY_TOKEN, Outcome, brand_of, luhn_ok, outcome_of
from sandbox.stripe.errors import invalid, missing, no_such
from sandbox.stripe.model import CardMethod, Store, new_id, now
from sandbox.stripe.params import Params, check_known, get_hash, get_int, get_str

REFUND_FAILS = "refund_fail"
"""Authorizes like a good card; its refunds succeed, then fail (sandbox.stripe.refunds)."""

EXTRA_TOKENS: dict[str, tuple[str, str]] = {
    "pm_card_amex": ("378282246310005", "success"),
    "pm_card_visa_debit": ("4000056655665556", "success"),
    "pm_card_mastercard_debit": ("5200828282828210", "success"),
    "pm_card_radarBlock": ("4100000000000019", "fraudulent"),
    "pm_card_authenticationRequired": ("4000002760003184", "3ds"),
    "pm_card_refundFail": ("4000000000005126", REFUND_FAILS),
}
"""Stripe test tokens beyond sandbox/cards.py: token -> (card number, behaviour)."""

EXTRA_NUMBERS: dict[str, str] = dict(EXTRA_TOKENS.values())

_BEHAVIOUR = {Outcome.SUCCESS: "success", Outcome.REQUIRES_3DS: "3ds"}
_PMD_FIELDS = frozenset({"type", "card", "billing_details", "metadata"})
_CARD_FIELDS = frozenset({"number", "exp_month", "exp_year", "cvc"})
_PMD = "payment_method_data"


def behaviour_of(number: str) -> str:
    """What authorizing this number does: ``success``, ``3ds`` or a decline key."""
    extra = EXTRA_NUMBERS.get(number)
    if extra is not None:
        return extra
    outcome = outcome_of(number)
    return _BEHAVIOUR.get(outcome, outcome.value)


def from_token(token: str, store: Store) -> CardMethod:
    """The PaymentMethod ``payment_method=token`` names; a test token makes a fresh one."""
    existing = store.methods.get(token)
    if existing is not None:
        return existing
    card = BY_TOKEN.get(token)
    if card is not None:
        number, behaviour = card.number, behaviour_of(card.number)
    elif token in EXTRA_TOKENS:
        number, behaviour = EXTRA_TOKENS[token]
    else:
        raise no_such("PaymentMethod", token, param="payment_method")
    year = dt.datetime.now(dt.UTC).year + 5
    return _keep(store, number, 12, year, behaviour)


def from_card_data(params: Params, store: Store) -> CardMethod:
    """A PaymentMethod from ``payment_method_data`` (raw card), shape-checked first."""
    data = get_hash(params, _PMD)
    assert data is not None
    check_known(data, _PMD_FIELDS, _PMD)
    kind = get_str(data, "type", required=True, label=f"{_PMD}[type]")
    if kind != "card":
        raise invalid(f"Invalid {_PMD}[type]: the sandbox accepts only card", param=f"{_PMD}[type]")
    card = get_hash(data, "card")
    if card is None:
        raise missing(f"{_PMD}[card]")
    check_known(card, _CARD_FIELDS, f"{_PMD}[card]")
    label = f"{_PMD}[card]"
    number = get_str(card, "number", required=True, label=f"{label}[number]") or ""
    month = get_int(card, "exp_month", required=True, label=f"{label}[exp_month]") or 0
    year = get_int(card, "exp_year", required=True, label=f"{label}[exp_year]") or 0
    cvc = get_str(card, "cvc", label=f"{label}[cvc]")
    year = year + 2000 if 0 <= year < 100 else year
    return _keep(store, number, month, year, _card_behaviour(number, month, year, cvc))


def _card_behaviour(number: str, month: int, year: int, cvc: str | None) -> str:
    if not luhn_ok(number):
        return "incorrect_number"
    if not 1 <= month <= 12:
        return "invalid_expiry_month"
    today = dt.datetime.now(dt.UTC)
    if (year, month) < (today.year, today.month) or year > today.year + 50:
        return "invalid_expiry_year"
    if cvc is not None and not (cvc.isdigit() and cvc.isascii() and len(cvc) in (3, 4)):
        return "invalid_cvc"
    return behaviour_of(number)


def _keep(store: Store, number: str, month: int, year: int, behaviour: str) -> CardMethod:
    digest = hashlib.sha256(b"paymesh-sandbox-card:" + number.encode()).hexdigest()
    method = CardMethod(
        id=new_id("pm"),
        brand=brand_of(number),
        last4=number[-4:],
        exp_month=month,
        exp_year=year,
        behaviour=behaviour,
        created=now(),
        fingerprint=digest[:16],
    )
    store.methods[method.id] = method
    return method
