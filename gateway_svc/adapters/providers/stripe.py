"""Stripe behind ``PaymentProvider``: PaymentIntents, Refunds and the Search API.

Pointing this adapter at the real Stripe is configuration only (``HttpConfig.base_url =
"https://api.stripe.com"``, a live or test secret key, ``sandbox`` as appropriate). On the wire:

- ``Authorization: Bearer <secret key>``, ``Stripe-Version`` pinned (``StripeConfig.api_version``)
  so Stripe's behaviour cannot change under us, form-encoded bodies;
- authorize = ``POST /v1/payment_intents`` with ``confirm=true``,
  ``capture_method=automatic|manual``, ``payment_method_types[]=card`` (card only, so no
  redirect-based method needs a ``return_url``), ``metadata[paymesh_attempt_id]`` (what
  ``lookup`` searches for) and ``expand[]=latest_charge.balance_transaction`` (the fee and
  refunds arrive with the intent). The method is a token (``payment_method=pm_...``) or, in
  sandbox mode only, raw card data (``payment_method_data[card][...]``, which real Stripe
  accepts only from accounts with raw card data access);
- capture / cancel = ``POST /v1/payment_intents/{id}/capture|cancel``; refund = ``POST
  /v1/refunds``; fetch = ``GET /v1/payment_intents/{id}``;
- every POST carries ``Idempotency-Key: paymesh-<operation>-<key>`` (a SHA-256 form when the key
  is too long or not printable ASCII), so the caller's retries replay instead of re-charging.

``lookup`` uses ``GET /v1/payment_intents/search`` (metadata query); it creates nothing.
Caveat of the real API: Stripe's search index lags writes ("data is typically searchable
within a minute", longer during outages), so a None from real Stripe proves nothing about a
request sent less than a minute or so ago. The reconciler asks after minutes (Kill Bill's
schedule), which is what makes None meaningful; the sandbox's index has no lag.

Nothing retries here. Error translation is in ``stripe_errors`` (one table), amounts in
``stripe_amounts``, reading Stripe's objects in ``stripe_wire``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway_svc.adapters.providers.http import HttpConfig, make_client, send
from gateway_svc.adapters.providers.stripe_amounts import to_stripe
from gateway_svc.adapters.providers.stripe_errors import error_of
from gateway_svc.adapters.providers.stripe_wire import (
    ATTEMPT_KEY,
    EXPAND_CHARGE,
    FORM,
    Pairs,
    charge_of,
    declined_without_intent,
    encode,
    is_object_id,
    provider_key,
    refund_of,
    search_query,
)
from gateway_svc.domain.providers import (
    AuthorizeCall,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderCharge,
    ProviderError,
    ProviderRefund,
)

DEFAULT_API_VERSION = "2024-06-20"
_LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
_RESERVED_METADATA = "paymesh_"


@dataclass(frozen=True, slots=True)
class StripeConfig:
    """How to reach one Stripe account; the key never appears in ``repr``."""

    http: HttpConfig
    secret_key: str = field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    """The ``Stripe-Version`` every call pins."""
    return_url: str = ""
    """Where Stripe sends the payer after 3DS; empty lets the payer's client decide."""


class StripeProvider:
    """``PaymentProvider`` over Stripe's REST API (see the module docstring)."""

    def __init__(
        self, config: StripeConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._client = make_client(
            config.http,
            headers={
                "authorization": f"Bearer {config.secret_key}",
                "stripe-version": config.api_version,
            },
            transport=transport,
        )

    @property
    def name(self) -> Provider:
        """Stripe."""
        return Provider.STRIPE

    @property
    def sandbox(self) -> bool:
        """True for a test environment (the sandbox or Stripe's test mode)."""
        return self._config.http.sandbox

    async def authorize(self, call: AuthorizeCall) -> ProviderCharge:
        """Create and confirm a PaymentIntent; a decline is a DECLINED charge."""
        pairs = self._authorize_pairs(call)
        response = await self._post(
            "/v1/payment_intents", pairs, provider_key("authorize", call.idempotency_key)
        )
        return self._charge_reply(response)

    async def capture(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderCharge:
        """Capture ``amount_minor``; Stripe releases the rest of the authorization."""
        pairs = [
            ("amount_to_capture", str(to_stripe(amount_minor, currency))),
            ("expand[]", EXPAND_CHARGE),
        ]
        path = f"/v1/payment_intents/{_intent_id(charge)}/capture"
        response = await self._post(path, pairs, provider_key("capture", idempotency_key))
        return self._charge_reply(response)

    async def cancel(self, charge: ProviderCharge, idempotency_key: str) -> ProviderCharge:
        """Cancel the PaymentIntent, releasing its authorization."""
        path = f"/v1/payment_intents/{_intent_id(charge)}/cancel"
        pairs = [("expand[]", EXPAND_CHARGE)]
        response = await self._post(path, pairs, provider_key("cancel", idempotency_key))
        return self._charge_reply(response)

    async def refund(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderRefund:
        """Refund part or all of what was captured."""
        pairs = [
            ("payment_intent", _intent_id(charge)),
            ("amount", str(to_stripe(amount_minor, currency))),
        ]
        response = await self._post("/v1/refunds", pairs, provider_key("refund", idempotency_key))
        return refund_of(self._body(response))

    async def lookup(self, call: AuthorizeCall) -> ProviderCharge | None:
        """The intent ``authorize`` created for ``call``, found by its attempt id, or None."""
        params = [
            ("query", search_query(call.attempt_id)),
            ("limit", "10"),
            ("expand[]", f"data.{EXPAND_CHARGE}"),
        ]
        response = await self._get("/v1/payment_intents/search", params)
        found = self._body(response).get("data")
        if not isinstance(found, list):
            return None
        # Newest first; one attempt has one key, so more than one intent means a key was
        # pruned and reused: the newest is the one a retry would have made.
        for intent in found:
            if isinstance(intent, dict):
                return charge_of(intent)
        return None

    async def fetch(self, charge: ProviderCharge) -> ProviderCharge:
        """The PaymentIntent's current state."""
        path = f"/v1/payment_intents/{_intent_id(charge)}"
        response = await self._get(path, [("expand[]", EXPAND_CHARGE)])
        return self._charge_reply(response)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _authorize_pairs(self, call: AuthorizeCall) -> Pairs:
        pairs: Pairs = [
            ("amount", str(to_stripe(call.amount_minor, call.currency))),
            ("currency", call.currency.lower()),
            ("confirm", "true"),
            ("capture_method", "automatic" if call.capture else "manual"),
            ("payment_method_types[]", "card"),
            *self._method_pairs(call),
            *(
                (f"metadata[{key}]", value)
                for key, value in call.metadata.items()
                if not key.startswith(_RESERVED_METADATA)  # ours below must not be shadowed
            ),
            (f"metadata[{ATTEMPT_KEY}]", call.attempt_id),
            ("expand[]", EXPAND_CHARGE),
        ]
        if call.reference:
            pairs.append(("metadata[paymesh_reference]", call.reference))
        if call.description:
            pairs.append(("description", call.description))
        if self._config.return_url:
            pairs.append(("return_url", self._config.return_url))
        return pairs

    def _method_pairs(self, call: AuthorizeCall) -> Pairs:
        method = call.method
        if (method.token is None) == (method.card is None):
            raise _refused("a payment method needs exactly one of a token or a card")
        if method.token is not None:
            return [("payment_method", method.token)]
        card = method.card
        assert card is not None
        live_key = self._config.secret_key.startswith(_LIVE_KEY_PREFIXES)
        if not self._config.http.sandbox or live_key:
            raise _refused("raw card numbers are sent only to a sandbox-mode Stripe")
        pairs = [
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][number]", card.number),
            ("payment_method_data[card][exp_month]", str(card.exp_month)),
            ("payment_method_data[card][exp_year]", str(card.exp_year)),
        ]
        if card.cvc:  # Stripe treats an empty cvc as a malformed one, an absent one as unchecked
            pairs.append(("payment_method_data[card][cvc]", card.cvc))
        return pairs

    async def _post(self, path: str, pairs: Pairs, key: str) -> httpx.Response:
        request = self._client.build_request(
            "POST",
            path,
            content=encode(pairs),
            headers={"content-type": FORM, "idempotency-key": key},
        )
        return await send(self._client, request)

    async def _get(self, path: str, params: Pairs) -> httpx.Response:
        request = self._client.build_request("GET", path, params=tuple(params))
        return await send(self._client, request)

    def _charge_reply(self, response: httpx.Response) -> ProviderCharge:
        if response.status_code == 402:
            error = _error(_parse(response))
            intent = error.get("payment_intent")
            if isinstance(intent, dict):
                return charge_of(intent, error)
            return declined_without_intent(error)
        return charge_of(self._body(response))

    def _body(self, response: httpx.Response) -> dict[str, Any]:
        """A 2xx reply's object, or the error it carries raised as ``ProviderError``."""
        body = _parse(response)
        if not response.is_success:
            raise error_of(response, _error(body))
        if not body:
            raise ProviderError(
                ErrorKind.UNKNOWN,
                DeclineCode.UNKNOWN_OUTCOME,
                f"Stripe answered HTTP {response.status_code} with a body that is not an object",
                http_status=response.status_code,
            )
        return body


def _parse(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _error(body: dict[str, Any]) -> dict[str, Any]:
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def _intent_id(charge: ProviderCharge) -> str:
    if not is_object_id(charge.provider_ref) or not charge.provider_ref.startswith("pi_"):
        raise _refused("the charge has no Stripe PaymentIntent id")
    return charge.provider_ref


def _refused(message: str) -> ProviderError:
    return ProviderError(ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, message, sent=False)
