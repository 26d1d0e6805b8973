"""The payment use cases and their background workers, built from settings at start-up.

``build_payments`` is what the app calls once it has an engine, the provider adapters and
the ledger and audit clients: it returns the ``PaymentService`` the servicer calls, the
outbox relay (kicked by every commit that enqueues work) and the reconciler, with
``start``/``stop`` for the host's lifecycle.

``build_fx`` adds the FX, beneficiary and payout use cases on the same runtime (engine,
clock, outbox relay, idempotency keys) once there is an FX provider adapter: their services,
and the status poller, with the same lifecycle. Their abandoned keys are resumed by the
payments' reconciler, whose completer scans every key (``Reconciler.register_resumer``).

``build_webhooks`` adds WebhookService's use cases (endpoints and events) on the same runtime,
with the key that seals endpoint secrets and the resolver the SSRF guard checks hosts with.

``build_provider_callbacks`` adds ProviderWebhookService's use case on the same runtime: each
configured provider's callbacks, verified with its webhook secret from settings (PayPal's by
PayPal's verification call, whose adapter the app builds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.secret_box import SecretBox
from gateway_svc.domain.breaker import Breakers, Transition
from gateway_svc.domain.fx import QuotePolicy
from gateway_svc.domain.postings import FeeSchedule
from gateway_svc.domain.provider_event_parsing import StripeUnits
from gateway_svc.domain.provider_webhooks import WebhookProvider
from gateway_svc.domain.providers import Provider
from gateway_svc.domain.retry import ReconcileSchedule, RetryPolicy
from gateway_svc.domain.routing import RoutingTable, default_table
from gateway_svc.domain.routing_config import parse_rules
from gateway_svc.domain.webhook_endpoints import DestinationPolicy
from gateway_svc.settings import GatewaySettings
from svc_kit.tasks import cancel_and_wait

from . import beneficiary_flow, fx_conversions, keys, payout_cancel, payout_flow, webhook_endpoints
from .balances import Balances
from .beneficiary_service import BeneficiaryService
from .fx_calls import FxCaller
from .fx_effects import PollPolicy
from .fx_poller import FxStatusPoller
from .fx_quotes import QuoteDesk
from .fx_service import FxService
from .keyed_once import drop_started
from .payments import PaymentService
from .payout_cancel import PayoutCancel
from .payout_flow import PayoutFlow
from .payout_service import PayoutService
from .ports import AuditPort, FxLedgerPort, FxProvider, LedgerPort, PaymentProvider
from .provider_callbacks import CallbackSecrets, PayPalVerifier, ProviderCallbacks
from .reconciler import Reconciler
from .relay import OutboxRelay
from .runtime import GatewayRuntime
from .webhook_commands import HostResolver
from .webhook_endpoints import WebhookEndpoints
from .webhook_events_query import WebhookEvents

_log = logging.getLogger(__name__)


def _log_transition(t: Transition) -> None:
    level = logging.WARNING if t.to_state.value == "open" else logging.INFO
    _log.log(level, "circuit breaker %s: %s -> %s (%s)", t.provider.value,
             t.from_state.value, t.to_state.value, t.reason)  # fmt: skip


@dataclass
class PaymentWorkers:
    """The service and its two background loops."""

    service: PaymentService
    relay: OutboxRelay
    reconciler: Reconciler
    reconcile_interval_s: float
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the relay and the reconciler on the running loop."""
        self.relay.start()
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self.reconciler.run_forever(self.reconcile_interval_s))

    async def stop(self) -> None:
        """Stop both loops; work in flight is picked up again after a restart."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.relay.stop()


def routing_table(settings: GatewaySettings) -> RoutingTable:
    """The configured routing rules over the default capabilities, or the built-in table."""
    if not settings.routing_rules.strip():
        return default_table()
    return RoutingTable(parse_rules(settings.routing_rules))


def not_found_grace_s(settings: GatewaySettings, providers: Mapping[str, PaymentProvider]) -> float:
    """The configured grace; else long enough that a request the provider is still working
    on is never taken for one that never arrived: at least as long as an attempt can keep
    calls outstanding (every try of the retry policy at the slowest configured provider's
    timeout plus connect timeout, and the backoff between them: the attempt's clock starts
    at its first try), and 300 s when any provider is live (Stripe's search lags writes by
    up to a minute; failing a charged payment would be far worse than settling it later)."""
    if settings.reconciler_not_found_grace_s is not None:
        return settings.reconciler_not_found_grace_s
    configured = [p for p in settings.providers().values() if p.configured]
    per_try_s = max((p.timeout_s + p.connect_timeout_s for p in configured), default=0.0)
    policy = RetryPolicy()
    in_flight_s = policy.max_attempts * per_try_s + policy.max_wait_s * (policy.max_attempts - 1)
    live = not all(p.sandbox for p in providers.values())
    return max(in_flight_s, 300.0 if live else 0.0)


def build_payments(
    settings: GatewaySettings,
    engine: AsyncEngine,
    providers: Mapping[str, PaymentProvider],
    ledger: LedgerPort,
    audit: AuditPort,
) -> PaymentWorkers:
    """Everything the payment RPCs run on (``providers`` by name, as the app builds them)."""
    relay = OutboxRelay(engine, ledger, audit)
    runtime = GatewayRuntime(
        engine=engine,
        providers={Provider(name): adapter for name, adapter in providers.items()},
        routing=routing_table(settings),
        breakers=Breakers(on_transition=_log_transition),
        fees=FeeSchedule(settings.platform_fee_bps, settings.platform_fee_fixed_minor),
        lock_timeout=timedelta(seconds=settings.idempotency_lock_timeout_s),
        retention=timedelta(hours=settings.idempotency_retention_h),
        reconcile=ReconcileSchedule(first_s=settings.reconciler_first_check_s),
        not_found_grace=timedelta(seconds=not_found_grace_s(settings, providers)),
        on_commit=relay.kick,
    )
    service = PaymentService(runtime)
    return PaymentWorkers(service, relay, Reconciler(service), settings.reconciler_interval_s)


@dataclass
class FxWorkers:
    """The FX, beneficiary and payout services, and the status poller's loop."""

    fx: FxService
    beneficiaries: BeneficiaryService
    payouts: PayoutService
    poller: FxStatusPoller
    provider: FxProvider
    poll_interval_s: float
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the status poller on the running loop (the payments' relay and reconciler
        deliver and complete the FX work too)."""
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self.poller.run_forever(self.poll_interval_s))

    async def stop(self) -> None:
        """Stop the poller; a pass cut short is simply done again after a restart."""
        await cancel_and_wait(self._task)
        self._task = None


def build_fx(
    runtime: GatewayRuntime,
    reconciler: Reconciler,
    provider: FxProvider,
    ledger: FxLedgerPort,
    *,
    quotes: QuotePolicy | None = None,
    poll: PollPolicy | None = None,
    poll_interval_s: float = 5.0,
) -> FxWorkers:
    """The FX use cases on ``runtime`` (the payments' one: ``PaymentWorkers.service.runtime``),
    their abandoned keys registered with ``reconciler``. ``provider`` is the FX adapter
    (``CurrencycloudClient``), ``ledger`` the ledger client; ``quotes`` the quote window and
    markup (default 30 s, no markup)."""
    caller = FxCaller(runtime, provider)
    poll = poll or PollPolicy()
    desk = QuoteDesk(runtime, caller, quotes or QuotePolicy())
    converting = fx_conversions.ConversionFlow(runtime, caller, ledger, desk, poll)
    beneficiaries = BeneficiaryService(runtime, caller)
    creating = PayoutFlow(runtime, caller, ledger, poll)
    canceling = PayoutCancel(runtime, caller, poll)

    async def forget_cancel(hold: keys.KeyHold) -> None:
        # Nothing is recorded before the provider answers a cancel: the poller reconciles.
        await keys.drop(runtime, hold)

    reconciler.register_resumer(fx_conversions.CONVERT, converting.resume)
    reconciler.register_resumer(beneficiary_flow.CREATE, beneficiaries.creating.resume)
    reconciler.register_resumer(payout_flow.CREATE, creating.resume)
    reconciler.register_resumer(payout_cancel.CANCEL, forget_cancel)
    return FxWorkers(
        fx=FxService(runtime, desk, converting),
        beneficiaries=beneficiaries,
        payouts=PayoutService(runtime, creating, canceling, Balances(runtime, ledger)),
        poller=FxStatusPoller(runtime, caller, poll),
        provider=provider,
        poll_interval_s=poll_interval_s,
    )


@dataclass(frozen=True)
class WebhookApi:
    """WebhookService's use cases: the merchant's endpoints, and its events."""

    endpoints: WebhookEndpoints
    events: WebhookEvents


def destination_policy(settings: GatewaySettings) -> DestinationPolicy:
    """Where webhook endpoints may point: the two development settings (both off by
    default: https only, public addresses only)."""
    return DestinationPolicy(
        allow_insecure_http=settings.webhook_allow_insecure_http,
        allow_private=settings.webhook_allow_private_destinations,
    )


def build_webhooks(
    settings: GatewaySettings,
    runtime: GatewayRuntime,
    reconciler: Reconciler,
    box: SecretBox,
    resolver: HostResolver,
) -> WebhookApi:
    """The webhook use cases on ``runtime`` (the payments' one), their abandoned keys
    registered with ``reconciler``; ``box`` seals endpoint secrets (``SecretBox``, from
    ``webhook_secret_key``), ``resolver`` resolves endpoint hosts."""

    async def forget(hold: keys.KeyHold) -> None:
        await drop_started(runtime, hold)

    for operation in (webhook_endpoints.CREATE, webhook_endpoints.ROTATE):
        reconciler.register_resumer(operation, forget)
    endpoints = WebhookEndpoints(runtime, box, resolver, destination_policy(settings))
    return WebhookApi(endpoints=endpoints, events=WebhookEvents(runtime))


def callback_secrets(
    settings: GatewaySettings, runtime: GatewayRuntime
) -> dict[WebhookProvider, str]:
    """The webhook secrets of the configured providers that sign with one (a card provider
    with an adapter on ``runtime``, Currencycloud once configured); PayPal has none (PayPal
    verifies its own callbacks)."""
    secrets = {
        WebhookProvider.STRIPE: settings.stripe.webhook_secret,
        WebhookProvider.AUTHORIZENET: settings.authorizenet.signature_key,
        WebhookProvider.RAZORPAY: settings.razorpay.webhook_secret,
    }
    found = {
        provider: secret.get_secret_value()
        for provider, secret in secrets.items()
        if Provider(provider.value) in runtime.providers
    }
    if settings.currencycloud.configured:
        found[WebhookProvider.CURRENCYCLOUD] = (
            settings.currencycloud.webhook_secret.get_secret_value()
        )
    return found


def build_provider_callbacks(
    settings: GatewaySettings,
    runtime: GatewayRuntime,
    *,
    stripe_units: StripeUnits,
    paypal: PayPalVerifier | None = None,
    fx: FxProvider | None = None,
) -> ProviderCallbacks:
    """ProviderWebhookService's use case on ``runtime`` (the payments' one): ``paypal`` is
    PayPal's verifier (None: PayPal not configured), ``fx`` the FX provider adapter (None:
    none, Currencycloud's callbacks refused), ``stripe_units`` Stripe's amount conversion
    (``stripe_amounts.from_stripe``)."""
    secrets = CallbackSecrets(callback_secrets(settings, runtime), paypal)
    caller = FxCaller(runtime, fx) if fx is not None else None
    return ProviderCallbacks(runtime, secrets, stripe_units=stripe_units, fx=caller)
