"""ReceiveProviderWebhook: a provider's callback, verified, deduplicated, recorded, applied.

    receive(provider, headers, raw body)
      1. the provider: one of the five, configured here       else WebhookProviderNotFound 404
      2. its signature over the raw bytes                       else WebhookSignature* 401
         (PayPal: PayPal's verification call, 503 when it cannot be made); nothing is
         written for a callback that does not verify, not even its inbound record
      3. the event (``provider_event_parsing``)                  else WebhookPayloadInvalid 400
      4. seen before and not failed: a duplicate, 200, no effect
      5. applied, in the transaction that records it (``provider_callbacks_record``):
         payments and refunds (``provider_callbacks_payments``), conversions and payouts
         (``provider_callbacks_fx``); a type we do not act on, or an object that is not ours,
         is recorded as IGNORED and answered 200 (a provider retries anything else for days)
      6. when applying fails (the provider cannot be asked, the payment stays busy): the
         callback is kept as FAILED, and the error answers 503 (or 409), so the provider
         retries, and its retry takes the FAILED record over

The raw bytes and the headers that signed them are kept for audit in the inbound table;
every callback that changed something is also audited in identity's log, through the
outbox, with the gateway as the actor (``gateway.provider_event.apply``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway_svc.adapters.webhook_records import InboundOutcome
from gateway_svc.domain.errors import (
    GatewayError,
    ProviderUnavailable,
    WebhookProviderNotFound,
    WebhookSignatureInvalid,
)
from gateway_svc.domain.provider_event_parsing import (
    RAZORPAY_EVENT_ID_HEADER,
    StripeUnits,
    parse_event,
)
from gateway_svc.domain.provider_signatures import (
    AUTHORIZENET_HEADER,
    CURRENCYCLOUD_HEADER,
    PAYPAL_HEADERS,
    RAZORPAY_HEADER,
    STRIPE_HEADER,
    VERIFIERS,
    PayPalTransmission,
    paypal_transmission,
)
from gateway_svc.domain.provider_webhooks import EventKind, WebhookProvider, webhook_provider
from gateway_svc.domain.provider_webhooks_paypal_currencycloud import CC_NOTIFICATION_ID_HEADER
from gateway_svc.domain.providers import ErrorKind, ProviderError

from .executor import Executor
from .fx_calls import FxCaller
from .provider_callbacks_fx import FxCallbacks
from .provider_callbacks_payments import PaymentCallbacks
from .provider_callbacks_record import Inbound, ignore, record_failure
from .provider_callbacks_views import PAYMENT_KINDS, REFUND_KINDS
from .runtime import GatewayRuntime
from .unit_of_work import GatewayUnitOfWork

_log = logging.getLogger(__name__)
Headers = Mapping[str, str]

KEPT_HEADERS: Mapping[WebhookProvider, tuple[str, ...]] = {
    WebhookProvider.STRIPE: (STRIPE_HEADER,),
    WebhookProvider.AUTHORIZENET: (AUTHORIZENET_HEADER,),
    WebhookProvider.RAZORPAY: (RAZORPAY_HEADER, RAZORPAY_EVENT_ID_HEADER),
    WebhookProvider.PAYPAL: PAYPAL_HEADERS,
    WebhookProvider.CURRENCYCLOUD: (CURRENCYCLOUD_HEADER, CC_NOTIFICATION_ID_HEADER),
}
"""The headers kept with a callback: those that signed and identified it, and nothing else
a request carries (addresses, tracing, the edge's own headers)."""
CONTENT_TYPE = "content-type"
_FX_KINDS = frozenset(
    {EventKind.CONVERSION_COMPLETED, EventKind.PAYOUT_COMPLETED, EventKind.PAYOUT_FAILED}
)
NOT_ACTED_ON = "a type of event the gateway does not act on"


class PayPalVerifier(Protocol):
    """PayPal's verify-webhook-signature (``adapters.providers.paypal_webhooks``)."""

    async def verify(self, transmission: PayPalTransmission, event: bytes) -> bool:
        """True for SUCCESS, False for FAILURE; ``ProviderError`` without an answer."""
        ...

    async def aclose(self) -> None:
        """Close the verifier's connections."""
        ...


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the provider is answered (200): the event's id, and whether it was a replay."""

    event_id: str
    duplicate: bool


@dataclass(frozen=True)
class CallbackSecrets:
    """How each provider's callbacks are verified: a shared secret per provider (Stripe,
    Authorize.net, Razorpay, Currencycloud), PayPal's verification call. A provider left out
    is not configured here: its route answers 404."""

    secrets: Mapping[WebhookProvider, str]
    paypal: PayPalVerifier | None = None


class ProviderCallbacks:
    """The use case behind ProviderWebhookService (see the module docstring)."""

    def __init__(
        self,
        rt: GatewayRuntime,
        secrets: CallbackSecrets,
        *,
        stripe_units: StripeUnits,
        fx: FxCaller | None = None,
    ) -> None:
        """``stripe_units`` turns Stripe's amounts into ISO minor units (``stripe_amounts.
        from_stripe``); ``fx`` is the FX caller, None without an FX provider."""
        self._rt = rt
        self._secrets = secrets
        self._stripe_units = stripe_units
        self._payments = PaymentCallbacks(rt, Executor(rt))
        self._fx = FxCallbacks(rt, fx) if fx is not None else None

    @property
    def providers(self) -> frozenset[WebhookProvider]:
        """The providers whose callbacks are received here."""
        found = set(self._secrets.secrets)
        if self._secrets.paypal is not None:
            found.add(WebhookProvider.PAYPAL)
        if self._fx is None:
            found.discard(WebhookProvider.CURRENCYCLOUD)
        return frozenset(found)

    async def receive(self, provider: str, headers: Headers, body: bytes) -> Receipt:
        """Verify, parse, deduplicate, record and apply one callback (module docstring)."""
        which = webhook_provider(provider)
        if which not in self.providers:
            raise WebhookProviderNotFound(
                f"the gateway takes no {which.value} callbacks: the provider is not configured",
                metadata={"provider": which.value},
            )
        await self._verify(which, headers, body)
        event = parse_event(which, headers, body, from_stripe_units=self._stripe_units)
        kept = {
            name: headers[name] for name in (*KEPT_HEADERS[which], CONTENT_TYPE) if name in headers
        }
        inbound = Inbound(event, body, kept, self._rt.clock())
        if await self._seen(inbound):
            return Receipt(event.event_id, True)
        apply = self._route(inbound)
        try:
            duplicate = await apply(inbound)
        except Exception as exc:
            await self._keep_failed(inbound, exc)
            raise
        return Receipt(event.event_id, duplicate)

    async def aclose(self) -> None:
        """Close PayPal's verifier (the other providers need no connection to verify)."""
        if self._secrets.paypal is not None:
            await self._secrets.paypal.aclose()

    async def _verify(self, provider: WebhookProvider, headers: Headers, body: bytes) -> None:
        if provider is not WebhookProvider.PAYPAL:
            secret = self._secrets.secrets[provider]
            VERIFIERS[provider](secret, headers, body, self._rt.clock())
            return
        assert self._secrets.paypal is not None  # checked by ``providers``
        transmission = paypal_transmission(headers)
        try:
            genuine = await self._secrets.paypal.verify(transmission, body)
        except ProviderError as exc:
            if exc.kind is ErrorKind.INVALID and not exc.sent:
                # Refused before asking: the body is not an event PayPal could have signed.
                raise _paypal_refused(exc.message) from None
            raise ProviderUnavailable(
                f"PayPal's webhook verification could not be made: {exc.message}",
                metadata={"provider": provider.value},
            ) from exc
        if not genuine:
            raise _paypal_refused("PayPal did not verify the callback's transmission signature")

    async def _seen(self, inbound: Inbound) -> bool:
        """True when the event was received before and not failed: nothing more to do."""
        e = inbound.event
        async with GatewayUnitOfWork(self._rt.engine, read_only=True) as uow:
            outcome = await uow.provider_events.outcome(e.provider.value, e.event_id)
        return outcome is not None and outcome is not InboundOutcome.FAILED

    def _route(self, inbound: Inbound) -> Callable[[Inbound], Awaitable[bool]]:
        kind = inbound.event.kind
        if kind in PAYMENT_KINDS or kind in REFUND_KINDS:
            return self._payments.apply
        if kind in _FX_KINDS and self._fx is not None:
            return self._fx.apply
        return self._ignored

    async def _ignored(self, inbound: Inbound) -> bool:
        return await ignore(self._rt, inbound, NOT_ACTED_ON)

    async def _keep_failed(self, inbound: Inbound, exc: Exception) -> None:
        """Keep the callback as FAILED for the provider's retry; the error still answers."""
        e = inbound.event
        why = f"{exc.reason}: {exc}" if isinstance(exc, GatewayError) else repr(exc)
        _log.warning("provider callback %s %s failed: %s", e.provider.value, e.event_id, why)
        try:
            await record_failure(self._rt, inbound, why)
        except Exception:  # noqa: BLE001 - the first error is the one to answer with
            _log.exception("could not keep failed provider callback %s", e.event_id)


def _paypal_refused(why: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(
        f"the paypal callback is not genuine: {why}", metadata={"provider": "paypal"}
    )
