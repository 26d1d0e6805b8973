"""Which providers may serve a payment, in which order: rules, capabilities and breakers.

A ``RoutingTable`` holds ``RoutingRule`` s. Each rule matches a merchant (or ``"*"``), a set
of currencies (or ``"*"``) and a payment method kind (or ``"*"``), and lists providers in the
order they should be tried. ``route`` picks one rule, drops the providers that cannot serve
the payment, applies the circuit breakers and the caller's preference, and says why each
dropped provider was dropped, so an operator reading a log line never has to guess.

Precedence (most specific rule wins):

1. A rule naming the merchant beats any ``"*"`` merchant rule: a merchant's own contract
   overrides platform defaults.
2. Then a rule naming currencies beats a ``"*"`` currency rule: the currency decides which
   acquirers can settle at all (INR goes domestic first).
3. Then a rule naming the method kind beats a ``"*"`` method rule.
4. Between rules equally specific, the one listed first wins, so a table reads top-down like
   a firewall. Two rules with exactly the same scope are refused when the table is built:
   the second could never match.

Circuit breakers: a provider whose breaker is OPEN is skipped (``SkipReason.BREAKER_OPEN``)
while another eligible provider is not open. When every eligible provider is open, all are
returned, least recently opened first, with ``all_open`` set: that provider has waited
longest, so it is the best bet to have recovered, and the service layer lets it probe at once
(``CircuitBreaker.allow(now, force_probe=True)``) rather than refusing every payment until a
cool-down ends. HALF_OPEN providers are candidates; the breaker itself limits their probes.

Preference: ``RouteRequest.preferred`` moves that provider first when it is eligible (listed
by the rule, capable, and not open unless all are). Otherwise ``route`` raises
``ProviderNotEligible`` naming the provider and the ``SkipReason``, for the caller to see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Literal, NamedTuple

from svc_kit.currencies import is_currency

from .breaker import BreakerSnapshot, BreakerState
from .capabilities import DEFAULT_CAPABILITIES, Feature, MethodKind, ProviderCapabilities
from .errors import NoProviderAvailable, PreconditionFailed
from .providers import Provider

__all__ = [
    "ANY",
    "DEFAULT_RULES",
    "NoRoute",
    "ProviderNotEligible",
    "RouteRequest",
    "RoutingDecision",
    "RoutingRule",
    "RoutingTable",
    "Skip",
    "SkipReason",
    "default_table",
    "route",
]

ANY: Literal["*"] = "*"


class SkipReason(StrEnum):
    """Why a provider listed by the matched rule is not a candidate (values appear in logs).

    Values shared with ``attempts.SkipReason`` (the reasons an attempt record keeps) are
    spelled the same, so a decision's skips can be stored as they are."""

    DISABLED = "disabled"
    """The capability table has no entry for it: this deployment does not run it."""
    CURRENCY_UNSUPPORTED = "currency_unsupported"
    METHOD_UNSUPPORTED = "method_unsupported"
    PARTIAL_CAPTURE_UNSUPPORTED = "partial_capture_unsupported"
    VOID_UNSUPPORTED = "void_unsupported"
    RAW_CARDS_UNSUPPORTED = "raw_cards_unsupported"
    BREAKER_OPEN = "breaker_open"
    NOT_ROUTED = "not_routed"
    """Only for a preference: the matched rule does not list the provider."""


_FEATURE_REASON: Mapping[Feature, SkipReason] = {
    Feature.PARTIAL_CAPTURE: SkipReason.PARTIAL_CAPTURE_UNSUPPORTED,
    Feature.VOID: SkipReason.VOID_UNSUPPORTED,
    Feature.RAW_CARDS: SkipReason.RAW_CARDS_UNSUPPORTED,
}


class Skip(NamedTuple):
    """One provider left out of a decision, and why."""

    provider: Provider
    reason: SkipReason


class NoRoute(NoProviderAvailable):
    """Raised when no rule matches the payment, or every provider its rule lists was skipped.

    Nothing was sent to any provider. ``skipped`` says why each listed provider was left out.
    """

    reason: ClassVar[str] = "NO_ROUTE"

    def __init__(self, message: str, *, rule_id: str = "", skipped: tuple[Skip, ...] = ()):
        detail = {s.provider.value: s.reason.value for s in skipped}
        super().__init__(message, metadata={"rule_id": rule_id, **detail})
        self.rule_id = rule_id
        self.skipped = skipped


class ProviderNotEligible(PreconditionFailed):
    """Raised when the caller prefers a provider that cannot take this payment now; ``skip``
    names the provider and the reason (not routed, a missing capability, an open circuit)."""

    reason: ClassVar[str] = "PROVIDER_NOT_ELIGIBLE"

    def __init__(self, skip: Skip, rule_id: str) -> None:
        super().__init__(
            f"provider {skip.provider.value} cannot take this payment: {skip.reason.value}",
            metadata={"provider": skip.provider.value, "skip_reason": skip.reason.value},
        )
        self.skip = skip
        self.rule_id = rule_id


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Providers to try, in order, for the payments this rule's scope matches."""

    id: str
    providers: tuple[Provider, ...]
    merchant_id: str = ANY
    currencies: frozenset[str] | Literal["*"] = ANY
    method: MethodKind | Literal["*"] = ANY

    def __post_init__(self) -> None:
        # Validated here as well as in the parser: a rule built in code is held to the same
        # rules as one read from settings.
        if not self.id:
            raise ValueError("a routing rule needs an id")
        if not self.providers:
            raise ValueError(f"rule {self.id!r} lists no provider")
        if len(set(self.providers)) != len(self.providers):
            raise ValueError(f"rule {self.id!r} lists a provider twice")
        if not self.merchant_id:
            raise ValueError(f"rule {self.id!r} has an empty merchant id (use '*')")
        if self.currencies != ANY:
            bad = sorted(c for c in self.currencies if not is_currency(c))
            if not self.currencies or bad:
                raise ValueError(f"rule {self.id!r}: not ISO 4217 currencies: {bad}")

    @property
    def scope(self) -> tuple[str, frozenset[str] | str, str]:
        """What the rule matches, for spotting two rules with the same scope."""
        return (self.merchant_id, self.currencies, str(self.method))

    @property
    def specificity(self) -> tuple[bool, bool, bool]:
        """Compared lexicographically: merchant, then currency, then method (module doc)."""
        return (self.merchant_id != ANY, self.currencies != ANY, self.method != ANY)

    def matches(self, merchant_id: str, currency: str, method: MethodKind) -> bool:
        """True when this rule's scope covers the payment."""
        return (
            self.merchant_id in (ANY, merchant_id)
            and (self.currencies == ANY or currency in self.currencies)
            and self.method in (ANY, method)
        )


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Rules plus the capability table they are checked against."""

    rules: tuple[RoutingRule, ...]
    capabilities: Mapping[Provider, ProviderCapabilities] = field(
        default_factory=lambda: DEFAULT_CAPABILITIES
    )

    def __post_init__(self) -> None:
        ids: set[str] = set()
        scopes: dict[object, str] = {}
        for rule in self.rules:
            if rule.id in ids:
                raise ValueError(f"two routing rules have the id {rule.id!r}")
            ids.add(rule.id)
            if rule.scope in scopes:
                raise ValueError(
                    f"rule {rule.id!r} has the same scope as {scopes[rule.scope]!r}"
                    " and could never match"
                )
            scopes[rule.scope] = rule.id

    def match(self, merchant_id: str, currency: str, method: MethodKind) -> RoutingRule | None:
        """The most specific matching rule; the first listed among equals (module doc)."""
        best: RoutingRule | None = None
        for rule in self.rules:
            if rule.matches(merchant_id, currency, method) and (
                best is None or rule.specificity > best.specificity
            ):
                best = rule
        return best


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What routing needs to know about a payment."""

    merchant_id: str
    currency: str
    method: MethodKind
    needs: frozenset[Feature] = frozenset()
    """Features the payment requires, e.g. RAW_CARDS for a sandbox test card, or VOID and
    PARTIAL_CAPTURE when the merchant's flow depends on them."""
    preferred: Provider | None = None


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """The providers to try, in order, and the ones left out with their reasons."""

    candidates: tuple[Provider, ...]
    skipped: tuple[Skip, ...]
    rule_id: str
    all_open: bool = False
    """Every candidate's breaker is open; the first may probe early (module doc)."""


def _capability_skip(
    caps: ProviderCapabilities | None, provider: Provider, request: RouteRequest
) -> Skip | None:
    if caps is None:
        return Skip(provider, SkipReason.DISABLED)
    if request.currency not in caps.currencies:
        return Skip(provider, SkipReason.CURRENCY_UNSUPPORTED)
    if request.method not in caps.methods:
        return Skip(provider, SkipReason.METHOD_UNSUPPORTED)
    for feature in sorted(request.needs):
        if not caps.supports(feature):
            return Skip(provider, _FEATURE_REASON[feature])
    return None


def _split_open(
    eligible: list[Provider], breakers: Mapping[Provider, BreakerSnapshot]
) -> tuple[list[Provider], list[Provider]]:
    closed = [p for p in eligible if p not in breakers or breakers[p].state != BreakerState.OPEN]
    opened = [p for p in eligible if p not in closed]
    return closed, opened


def _prefer(
    candidates: list[Provider], skipped: Iterable[Skip], request: RouteRequest, rule: RoutingRule
) -> list[Provider]:
    preferred = request.preferred
    if preferred is None:
        return candidates
    if preferred in candidates:
        return [preferred, *(p for p in candidates if p != preferred)]
    reason = next((s for s in skipped if s.provider == preferred), None)
    raise ProviderNotEligible(reason or Skip(preferred, SkipReason.NOT_ROUTED), rule.id)


def route(
    table: RoutingTable,
    request: RouteRequest,
    breakers: Mapping[Provider, BreakerSnapshot] | None = None,
) -> RoutingDecision:
    """Pick the providers for ``request``; raise ``NoRoute`` or ``ProviderNotEligible``.

    ``breakers`` maps a provider to its breaker's snapshot at the routing instant; a provider
    missing from it counts as CLOSED.
    """
    breakers = breakers or {}
    rule = table.match(request.merchant_id, request.currency, request.method)
    if rule is None:
        raise NoRoute(
            f"no routing rule matches merchant {request.merchant_id!r},"
            f" {request.currency}, {request.method.value}"
        )
    skipped: list[Skip] = []
    eligible: list[Provider] = []
    for provider in rule.providers:
        skip = _capability_skip(table.capabilities.get(provider), provider, request)
        if skip is None:
            eligible.append(provider)
        else:
            skipped.append(skip)
    closed, opened = _split_open(eligible, breakers)
    all_open = not closed and bool(opened)
    if all_open:
        candidates = sorted(opened, key=lambda p: breakers[p].opened_at or 0.0)
    else:
        candidates = closed
        skipped.extend(Skip(p, SkipReason.BREAKER_OPEN) for p in opened)
    candidates = _prefer(candidates, skipped, request, rule)
    if not candidates:
        raise NoRoute(
            f"rule {rule.id!r} lists no provider that can take this payment",
            rule_id=rule.id,
            skipped=tuple(skipped),
        )
    return RoutingDecision(tuple(candidates), tuple(skipped), rule.id, all_open)


DEFAULT_RULES: tuple[RoutingRule, ...] = (
    # INR settles domestically through Razorpay; Stripe is the international fallback.
    RoutingRule("cards-inr", (Provider.RAZORPAY, Provider.STRIPE), ANY, frozenset({"INR"}),
                MethodKind.CARD),
    # Every other card currency: Stripe first, Authorize.Net where it settles the currency
    # (USD, EUR, GBP, CAD, AUD, NZD); capabilities skip it elsewhere.
    RoutingRule("cards", (Provider.STRIPE, Provider.AUTHORIZENET), ANY, ANY, MethodKind.CARD),
    # PayPal wallet tokens can only go to PayPal.
    RoutingRule("wallets", (Provider.PAYPAL,), ANY, ANY, MethodKind.WALLET),
)  # fmt: skip


def default_table() -> RoutingTable:
    """The platform's default routing: ``DEFAULT_RULES`` over ``DEFAULT_CAPABILITIES``."""
    return RoutingTable(DEFAULT_RULES, DEFAULT_CAPABILITIES)
