"""PaymentIntents: create (and confirm), confirm, capture, cancel, retrieve, 3DS completion.

Status machine, as Stripe's (https://stripe.com/docs/payments/paymentintents/lifecycle)::

    requires_payment_method --confirm--> requires_action (3DS) --authenticated--> (below)
             ^       |                         | failed authentication
             |       +--declined (402)---------+--> requires_payment_method + last_payment_error
             |       +--authorized--> requires_capture (manual) --capture--> succeeded
             |                    \\-> succeeded (automatic: captured at once)
    any of requires_* --cancel--> canceled

A partial capture captures ``amount_to_capture`` and releases the rest (reported in the
charge's ``amount_refunded``, as Stripe does). Every operation returns ``(status, body)``;
refusals that change nothing raise ``StripeError`` (see sandbox.stripe.errors). Each change of
status above emits its ``payment_intent.*`` Event (sandbox.webhooks.stripe).
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.stripe import money
from sandbox.stripe.errors import (
    AUTHENTICATION_FAILURE,
    DECLINES,
    DeclineSpec,
    card_error,
    invalid,
    no_such,
    unexpected_state,
)
from sandbox.stripe.intent_params import (
    CANCEL_FIELDS,
    CAPTURE_FIELDS,
    CONFIRM_FIELDS,
    CREATE_FIELDS,
    RETRIEVE_FIELDS,
    confirm_options,
    descriptor,
)
from sandbox.stripe.methods import from_card_data, from_token
from sandbox.stripe.model import CardMethod, Charge, Intent, Store, new_id, now
from sandbox.stripe.params import (
    Params,
    check_known,
    get_bool,
    get_enum,
    get_expand,
    get_int,
    get_metadata,
    get_str,
)
from sandbox.stripe.render import Json, check_expand, expand, intent_json, method_json
from sandbox.webhooks import stripe as events
from sandbox.webhooks.events import EventSink

Reply = tuple[int, Json]

CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCEL_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
CONFIRMABLE = ("requires_payment_method", "requires_confirmation")


class Intents:
    """The PaymentIntent endpoints over one store; ``auth_url`` builds a 3DS page's URL."""

    def __init__(
        self, store: Store, auth_url: Callable[[Intent], str], webhooks: EventSink
    ) -> None:
        self._store = store
        self._auth_url = auth_url
        self._webhooks = webhooks

    def get(self, intent_id: str) -> Intent:
        """The intent the URL names, or Stripe's 404."""
        intent = self._store.intents.get(intent_id)
        if intent is None:
            raise no_such("payment_intent", intent_id)
        return intent

    def reply(self, intent: Intent, paths: list[str], status: int = 200) -> Reply:
        """An intent as the reply body, expanded as asked."""
        return status, expand(intent_json(intent, self._store), paths, self._store)

    def create(self, params: Params) -> Reply:
        """``POST /v1/payment_intents``."""
        check_known(params, CREATE_FIELDS)
        amount = get_int(params, "amount", required=True)
        currency = money.check_currency((get_str(params, "currency", required=True) or "").lower())
        assert amount is not None
        money.check_amount(amount, currency)
        capture_method = get_enum(params, "capture_method", CAPTURE_METHODS) or "automatic"
        confirmation = get_enum(params, "confirmation_method", ("automatic", "manual"))
        confirm = bool(get_bool(params, "confirm"))
        metadata = get_metadata(params)
        paths = get_expand(params)
        check_expand(paths, "payment_intent")
        types = params.get("payment_method_types")
        if types is not None and types != ["card"]:
            raise invalid(
                "The sandbox supports only payment_method_types[]=card.",
                param="payment_method_types",
            )
        statement = descriptor(params, "statement_descriptor")
        suffix = descriptor(params, "statement_descriptor_suffix")
        options = confirm_options(params)
        method = self._method(params, required=confirm)
        intent = Intent(
            id=new_id("pi"),
            amount=amount,
            currency=currency,
            capture_method=capture_method,
            created=now(),
            client_secret="",
            metadata=metadata,
            description=get_str(params, "description"),
            confirmation_method=confirmation or "automatic",
            statement_descriptor=statement,
            statement_descriptor_suffix=suffix,
            receipt_email=get_str(params, "receipt_email"),
            return_url=options.return_url,
        )
        intent.client_secret = f"{intent.id}_secret_{new_id('cs')[3:]}"
        self._store.add_intent(intent)
        if method is not None:
            intent.payment_method = method.id
            intent.status = "requires_confirmation"
        if confirm and method is not None:
            return self._confirm(intent, method, options.error_on_requires_action, paths)
        return self.reply(intent, paths)

    def confirm(self, intent_id: str, params: Params) -> Reply:
        """``POST /v1/payment_intents/{id}/confirm``."""
        check_known(params, CONFIRM_FIELDS)
        intent = self.get(intent_id)
        paths = get_expand(params)
        check_expand(paths, "payment_intent")
        options = confirm_options(params)
        capture_method = get_enum(params, "capture_method", CAPTURE_METHODS)
        if intent.status not in CONFIRMABLE:
            raise unexpected_state("confirm", "confirmed", intent.status, CONFIRMABLE)
        method = self._method(params, required=intent.payment_method is None)
        if method is None:
            assert intent.payment_method is not None
            method = self._store.methods[intent.payment_method]
        if capture_method is not None:
            intent.capture_method = capture_method
        if options.return_url is not None:
            intent.return_url = options.return_url
        return self._confirm(intent, method, options.error_on_requires_action, paths)

    def capture(self, intent_id: str, params: Params) -> Reply:
        """``POST /v1/payment_intents/{id}/capture`` (partial capture releases the rest)."""
        check_known(params, CAPTURE_FIELDS)
        intent = self.get(intent_id)
        paths = get_expand(params)
        check_expand(paths, "payment_intent")
        amount = get_int(params, "amount_to_capture")
        metadata = get_metadata(params, keep_empty=True)
        get_bool(params, "final_capture")
        if intent.status != "requires_capture":
            raise unexpected_state("capture", "captured", intent.status, ("requires_capture",))
        if amount is None:
            amount = intent.amount_capturable
        if amount < 1:
            raise invalid(
                "Invalid positive integer", param="amount_to_capture", code="amount_too_small"
            )
        if amount > intent.amount_capturable:
            raise invalid(
                f"The amount_to_capture ({amount}) cannot be greater than the "
                f"amount_capturable ({intent.amount_capturable}) on the PaymentIntent.",
                param="amount_to_capture",
                code="amount_too_large",
            )
        money.check_granularity(amount, intent.currency, param="amount_to_capture")
        self._store.update_metadata(intent, metadata)
        assert intent.latest_charge is not None
        self._capture_charge(intent, self._store.charges[intent.latest_charge], amount)
        return self.reply(intent, paths)

    def cancel(self, intent_id: str, params: Params) -> Reply:
        """``POST /v1/payment_intents/{id}/cancel`` (an authorization is released in full)."""
        check_known(params, CANCEL_FIELDS)
        intent = self.get(intent_id)
        paths = get_expand(params)
        check_expand(paths, "payment_intent")
        reason = get_enum(params, "cancellation_reason", CANCEL_REASONS)
        if intent.status not in CANCELABLE:
            raise unexpected_state("cancel", "canceled", intent.status, CANCELABLE)
        if intent.status == "requires_capture" and intent.latest_charge is not None:
            charge = self._store.charges[intent.latest_charge]
            charge.released = charge.amount
            charge.check()
        intent.status = "canceled"
        intent.canceled_at = now()
        intent.cancellation_reason = reason
        intent.amount_capturable = 0
        intent.next_action = None
        self._emit(events.CANCELED, intent)
        return self.reply(intent, paths)

    def retrieve(self, intent_id: str, params: Params) -> Reply:
        """``GET /v1/payment_intents/{id}``."""
        check_known(params, RETRIEVE_FIELDS)
        intent = self.get(intent_id)
        paths = get_expand(params)
        check_expand(paths, "payment_intent")
        return self.reply(intent, paths)

    def authenticate(self, intent: Intent, passed: bool) -> None:
        """The payer finished 3D Secure on the action page: authorize, or fail the attempt."""
        if intent.status != "requires_action" or intent.payment_method is None:
            raise unexpected_state(
                "authenticate", "authenticated", intent.status, ("requires_action",)
            )
        method = self._store.methods[intent.payment_method]
        intent.next_action = None
        if passed:
            self._authorize(intent, method, three_d_secure=True)
            return
        intent.status = "requires_payment_method"
        intent.payment_method = None
        intent.last_payment_error = {**AUTHENTICATION_FAILURE, "payment_method": method.id}
        self._emit(events.PAYMENT_FAILED, intent)

    def _method(self, params: Params, *, required: bool) -> CardMethod | None:
        token = get_str(params, "payment_method")
        has_data = params.get("payment_method_data") is not None
        if token is not None and has_data:
            raise invalid(
                "You cannot provide both payment_method and payment_method_data.",
                param="payment_method_data",
                code="parameters_exclusive",
            )
        if token is not None:
            return from_token(token, self._store)
        if has_data:
            return from_card_data(params, self._store)
        if required:
            raise invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm the PaymentIntent, pass a payment_method or payment_method_data.",
                param="payment_method",
                code="parameter_missing",
            )
        return None

    def _confirm(
        self, intent: Intent, method: CardMethod, error_on_action: bool, paths: list[str]
    ) -> Reply:
        intent.payment_method = method.id
        intent.last_payment_error = None
        intent.next_action = None
        behaviour = method.behaviour
        if behaviour == "3ds" and error_on_action:
            behaviour = "authentication_required"
        if behaviour == "3ds":
            intent.status = "requires_action"
            intent.next_action = self._next_action(intent)
            return self.reply(intent, paths)
        spec = DECLINES.get(behaviour)
        if spec is not None:
            return self._decline(intent, method, spec, paths)
        self._authorize(intent, method, three_d_secure=False)
        return self.reply(intent, paths)

    def _decline(
        self, intent: Intent, method: CardMethod, spec: DeclineSpec, paths: list[str]
    ) -> Reply:
        error = card_error(spec)
        if spec.outcome_type != "invalid":  # a card error before any network: no charge
            charge = Charge(
                id=new_id("ch"),
                intent_id=intent.id,
                amount=intent.amount,
                currency=intent.currency,
                payment_method=method.id,
                created=now(),
                status="failed",
                description=intent.description,
                failure=spec,
            )
            self._store.charges[charge.id] = charge
            intent.latest_charge = charge.id
            error["charge"] = charge.id
        intent.status = "requires_payment_method"
        intent.payment_method = None
        intent.last_payment_error = {**error, "payment_method": method.id}
        self._emit(events.PAYMENT_FAILED, intent)
        _, body = self.reply(intent, paths)
        return 402, {
            "error": {**error, "payment_intent": body, "payment_method": method_json(method)}
        }

    def _authorize(self, intent: Intent, method: CardMethod, *, three_d_secure: bool) -> None:
        charge = Charge(
            id=new_id("ch"),
            intent_id=intent.id,
            amount=intent.amount,
            currency=intent.currency,
            payment_method=method.id,
            created=now(),
            status="succeeded",
            description=intent.description,
            three_d_secure=three_d_secure,
        )
        self._store.charges[charge.id] = charge
        intent.latest_charge = charge.id
        intent.payment_method = method.id
        if intent.capture_method == "manual":
            intent.status = "requires_capture"
            intent.amount_capturable = intent.amount
            self._emit(events.AMOUNT_CAPTURABLE_UPDATED, intent)
        else:
            self._capture_charge(intent, charge, intent.amount)

    def _capture_charge(self, intent: Intent, charge: Charge, amount: int) -> None:
        charge.captured = True
        charge.amount_captured = amount
        charge.released = charge.amount - amount
        txn = self._store.add_balance(
            amount, charge.currency, money.fee_of(amount), "charge", charge.id
        )
        charge.balance_transaction = txn.id
        charge.check()
        intent.amount_received = amount
        intent.amount_capturable = 0
        intent.status = "succeeded"
        self._emit(events.SUCCEEDED, intent)

    def _emit(self, kind: str, intent: Intent) -> None:
        """The Event for ``intent`` as it stands now (rendered only when sending is on)."""
        self._webhooks.emit(lambda: events.stripe_event(kind, intent_json(intent, self._store)))

    def _next_action(self, intent: Intent) -> dict[str, object]:
        url = self._auth_url(intent)
        if intent.return_url:
            return {
                "type": "redirect_to_url",
                "redirect_to_url": {"return_url": intent.return_url, "url": url},
            }
        return {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": url,
                "source": new_id("src"),
            },
        }
