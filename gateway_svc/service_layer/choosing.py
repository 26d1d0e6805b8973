"""Routing as a request sees it: the domain's ``route`` plus what only the runtime knows.

``route`` (domain) applies rules, capabilities, breakers and the merchant's preference. On
top of it this module drops the providers this process has no adapter for, and, for a raw
card that is a published test number, the providers that are live (PCI and providers.md:
test numbers only in sandbox mode). The result keeps every skip with its reason, and is
stored with each attempt (``attempts.RoutingRecord``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_svc.domain import cards
from gateway_svc.domain.attempts import SkipReason as AttemptSkip
from gateway_svc.domain.capabilities import Feature, MethodKind
from gateway_svc.domain.errors import NoProviderAvailable
from gateway_svc.domain.providers import PaymentMethod, Provider
from gateway_svc.domain.routing import (
    ProviderNotEligible,
    RouteRequest,
    Skip,
    SkipReason,
    route,
)

from .runtime import GatewayRuntime

# Card-network tokens by prefix (Stripe pm_/tok_/card_/src_, Razorpay token_); any other
# token is taken for a wallet's vault id (PayPal's are opaque), which routes to wallets.
_CARD_TOKEN_KINDS = frozenset({"pm", "tok", "card", "src", "token"})


def method_kind(method: PaymentMethod) -> MethodKind:
    """CARD for a raw card or a card-network token, WALLET for any other token."""
    if method.card is not None:
        return MethodKind.CARD
    head, sep, _ = (method.token or "").partition("_")
    return MethodKind.CARD if sep and head in _CARD_TOKEN_KINDS else MethodKind.WALLET


@dataclass(frozen=True, slots=True)
class Choice:
    """The providers a payment may try, in order, and why others were left out.

    Shaped like ``routing.RoutingDecision`` (candidates, skipped, rule_id, all_open), so
    ``attempts.RoutingRecord.of`` stores it as it is."""

    candidates: tuple[Provider, ...]
    skipped: tuple[tuple[Provider, str], ...]
    rule_id: str
    all_open: bool


def choose(
    rt: GatewayRuntime,
    merchant_id: str,
    currency: str,
    method: PaymentMethod,
    preferred: Provider | None,
) -> Choice:
    """The candidates for a new payment; raises NoRoute, ProviderNotEligible,
    TestCardNotAllowed or NoProviderAvailable (nothing is stored by then)."""
    card = method.card
    needs = frozenset({Feature.RAW_CARDS}) if card is not None else frozenset()
    request = RouteRequest(merchant_id, currency, method_kind(method), needs, preferred)
    decision = route(rt.routing, request, rt.breakers.snapshots(rt.monotonic()))
    test_card = card is not None and cards.is_test_card(card.number)
    kept: list[Provider] = []
    skipped = [(s.provider, s.reason.value) for s in decision.skipped]
    for provider in decision.candidates:
        adapter = rt.providers.get(provider)
        if adapter is None:
            skipped.append((provider, AttemptSkip.DISABLED.value))
        elif test_card and not adapter.sandbox:
            skipped.append((provider, AttemptSkip.TEST_CARD_LIVE_MODE.value))
        else:
            kept.append(provider)
    if preferred is not None and preferred not in kept:
        if test_card and card is not None:
            cards.ensure_allowed(card, sandbox=False, provider=preferred.value)
        raise ProviderNotEligible(Skip(preferred, SkipReason.DISABLED), decision.rule_id)
    if not kept:
        if test_card and card is not None:
            cards.ensure_allowed(card, sandbox=False, provider=decision.candidates[0].value)
        raise NoProviderAvailable(
            f"no configured provider can take this payment (rule {decision.rule_id})",
            metadata={"rule_id": decision.rule_id, **{p.value: r for p, r in skipped}},
        )
    return Choice(tuple(kept), tuple(skipped), decision.rule_id, decision.all_open)
