"""What each provider can do, so routing skips a provider that cannot serve a payment.

Routing rules say which providers a merchant *wants*; this table says which ones *can*. A rule
may list a provider that does not take the payment's currency or lacks a feature the payment
needs; ``gateway_svc.domain.routing.route`` then skips it with a reason instead of sending a
request that the provider would refuse as INVALID (a wasted round trip and a failover).

The default table reflects the providers' public documentation (see the comments per entry);
a deployment may pass its own table, for example to restrict currencies a contract covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from .providers import Provider

__all__ = [
    "DEFAULT_CAPABILITIES",
    "Feature",
    "MethodKind",
    "ProviderCapabilities",
]

DAY_S = 24 * 3600.0


class MethodKind(StrEnum):
    """How the payer pays; rules and capabilities are keyed on it (values are config names)."""

    CARD = "card"
    WALLET = "wallet"


class Feature(StrEnum):
    """Something a payment may need beyond currency and method (values are config names)."""

    PARTIAL_CAPTURE = "partial_capture"
    """Capture less than the authorized amount (the rest is released)."""
    VOID = "void"
    """Cancel an authorization before capture."""
    RAW_CARDS = "raw_cards"
    """Accept raw card numbers (sandbox test cards); token-only providers do not."""


@dataclass(frozen=True, slots=True)
class ProviderCapabilities:
    """One provider's reach: currencies, payment methods, features, authorization window."""

    provider: Provider
    currencies: frozenset[str]
    methods: frozenset[MethodKind]
    features: frozenset[Feature]
    auth_window_s: float
    """How long the provider honours an uncaptured authorization. The ledger hold for it
    must outlive this window (``postings.hold_timeout_s``), never expire before it."""

    def supports(self, feature: Feature) -> bool:
        """True when this provider offers ``feature``."""
        return feature in self.features


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ALL_FEATURES = frozenset(Feature)

DEFAULT_CAPABILITIES: Mapping[Provider, ProviderCapabilities] = MappingProxyType(
    {
        # Stripe settles 135+ currencies; these are the ones paymesh merchants use. Raw card
        # numbers are accepted by the test-mode API (and the sandbox) only.
        Provider.STRIPE: ProviderCapabilities(
            Provider.STRIPE,
            _set("USD EUR GBP CAD AUD NZD CHF SEK NOK DKK PLN CZK JPY SGD HKD INR MXN BRL"),
            frozenset({MethodKind.CARD}),
            _ALL_FEATURES,
            auth_window_s=7 * DAY_S,
        ),
        # Authorize.Net's createTransactionRequest carries the card itself; it processes the
        # currencies of its supported merchant regions.
        Provider.AUTHORIZENET: ProviderCapabilities(
            Provider.AUTHORIZENET,
            _set("USD CAD GBP EUR AUD NZD"),
            frozenset({MethodKind.CARD}),
            _ALL_FEATURES,
            auth_window_s=30 * DAY_S,
        ),
        # Razorpay captures only the full authorized amount and has no void: an uncaptured
        # authorization is refunded automatically after about five days. Its S2S JSON flow
        # (POST /v1/payments/create/json) takes the card itself.
        Provider.RAZORPAY: ProviderCapabilities(
            Provider.RAZORPAY,
            _set("INR USD EUR GBP SGD AED"),
            frozenset({MethodKind.CARD}),
            frozenset({Feature.RAW_CARDS}),
            auth_window_s=5 * DAY_S,
        ),
        # PayPal takes vaulted wallet tokens, never card numbers; an authorization is valid
        # for 29 days (honoured for 3).
        Provider.PAYPAL: ProviderCapabilities(
            Provider.PAYPAL,
            _set(
                "AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP"
                " SGD SEK CHF THB USD"
            ),
            frozenset({MethodKind.WALLET}),
            frozenset({Feature.PARTIAL_CAPTURE, Feature.VOID}),
            auth_window_s=29 * DAY_S,
        ),
    }
)
