"""Refunds (``POST /v1/refunds``, ``GET /v1/refunds/{id}``, ``GET /v1/refunds``) and
``GET /v1/charges/{id}``.

Several partial refunds may follow a capture until the captured amount is used up; asking for
more is refused with Stripe's ``amount_too_large`` ("Refund amount ... is greater than
unrefunded amount on charge ..."), and a charge with nothing left with
``charge_already_refunded``. Card refunds in test mode succeed at once (status ``succeeded``).

Choice where Stripe differs by case: the sandbox refunds only captured charges; an uncaptured
authorization is released by canceling its PaymentIntent (``charge_not_refundable``
otherwise), which is what the gateway does.

Callbacks (sandbox.webhooks.stripe): a refund emits ``charge.refunded`` with the Charge. A
charge paid with Stripe's refundFail test card (``pm_card_refundFail``, 4000000000005126) gets
refunds that start ``succeeded`` and then fail, as Stripe documents; Stripe fails them "some
time later", the sandbox right after building the reply, so the create answers ``succeeded``
and a later retrieve ``failed`` (``failure_reason: expired_or_canceled_card``, the amount
refundable again), with ``refund.updated`` and ``refund.failed`` emitted.
"""

from __future__ import annotations

from sandbox.stripe import money
from sandbox.stripe.errors import invalid, no_such
from sandbox.stripe.methods import REFUND_FAILS
from sandbox.stripe.model import Charge, Refund, Store, new_id, now
from sandbox.stripe.params import (
    Params,
    check_known,
    get_enum,
    get_expand,
    get_int,
    get_metadata,
    get_str,
)
from sandbox.stripe.render import Json, charge_json, check_expand, expand, refund_json
from sandbox.webhooks import stripe as events
from sandbox.webhooks.events import EventSink

Reply = tuple[int, Json]

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
_CREATE_FIELDS = frozenset(
    {
        "payment_intent",
        "charge",
        "amount",
        "reason",
        "metadata",
        "expand",
        "instructions_email",
        "refund_application_fee",
        "reverse_transfer",
    }
)
_LIST_FIELDS = frozenset({"payment_intent", "charge", "limit", "expand"})
_LIST_MAX = 100


class Refunds:
    """The refund endpoints over one store."""

    def __init__(self, store: Store, webhooks: EventSink) -> None:
        self._store = store
        self._webhooks = webhooks

    def create(self, params: Params) -> Reply:
        """``POST /v1/refunds`` for ``payment_intent`` or ``charge``."""
        check_known(params, _CREATE_FIELDS)
        amount = get_int(params, "amount")
        reason = get_enum(params, "reason", REASONS)
        metadata = get_metadata(params)
        paths = get_expand(params)
        check_expand(paths, "refund")
        charge = self._charge_to_refund(params)
        remaining = charge.refundable
        if remaining == 0:
            raise invalid(
                f"Charge {charge.id} has already been refunded.", code="charge_already_refunded"
            )
        if amount is None:
            amount = remaining
        if amount < 1:
            raise invalid(
                "Invalid positive integer", param="amount", code="parameter_invalid_integer"
            )
        if amount > remaining:
            raise invalid(
                f"Refund amount ({amount} {charge.currency}) is greater than unrefunded amount "
                f"on charge ({remaining} {charge.currency})",
                param="amount",
                code="amount_too_large",
            )
        money.check_granularity(amount, charge.currency)
        refund_id = new_id("re")
        txn = self._store.add_balance(-amount, charge.currency, 0, "refund", refund_id)
        refund = Refund(
            id=refund_id,
            charge_id=charge.id,
            intent_id=charge.intent_id,
            amount=amount,
            currency=charge.currency,
            reason=reason,
            status="succeeded",
            created=now(),
            metadata=metadata,
            balance_transaction=txn.id,
        )
        charge.refunded += amount
        charge.refund_ids.append(refund.id)
        charge.check()
        self._store.refunds[refund.id] = refund
        store = self._store
        self._webhooks.emit(
            lambda: events.stripe_event(events.CHARGE_REFUNDED, charge_json(charge, store))
        )
        reply = 200, expand(refund_json(refund), paths, store)
        if store.methods[charge.payment_method].behaviour == REFUND_FAILS:
            self._fail(refund, charge)
        return reply

    def retrieve(self, refund_id: str, params: Params) -> Reply:
        """``GET /v1/refunds/{id}``."""
        check_known(params, frozenset({"expand"}))
        refund = self._store.refunds.get(refund_id)
        if refund is None:
            raise no_such("refund", refund_id)
        paths = get_expand(params)
        check_expand(paths, "refund")
        return 200, expand(refund_json(refund), paths, self._store)

    def list(self, params: Params) -> Reply:
        """``GET /v1/refunds`` filtered by ``payment_intent`` or ``charge``, newest first."""
        check_known(params, _LIST_FIELDS)
        limit = get_int(params, "limit") or 10
        if not 1 <= limit <= _LIST_MAX:
            raise invalid(f"Invalid limit: must be between 1 and {_LIST_MAX}", param="limit")
        paths = get_expand(params)
        check_expand(paths, "refund", listed=True)
        wanted_intent = get_str(params, "payment_intent")
        wanted_charge = get_str(params, "charge")
        found = [
            refund
            for refund in reversed(self._store.refunds.values())
            if wanted_intent in (None, refund.intent_id)
            and wanted_charge in (None, refund.charge_id)
        ]
        page = {
            "object": "list",
            "data": [refund_json(refund) for refund in found[:limit]],
            "has_more": len(found) > limit,
            "url": "/v1/refunds",
        }
        return 200, expand(page, paths, self._store)

    def charge(self, charge_id: str, params: Params) -> Reply:
        """``GET /v1/charges/{id}``."""
        check_known(params, frozenset({"expand"}))
        charge = self._store.charges.get(charge_id)
        if charge is None:
            raise no_such("charge", charge_id)
        paths = get_expand(params)
        check_expand(paths, "charge")
        return 200, expand(charge_json(charge, self._store), paths, self._store)

    def _fail(self, refund: Refund, charge: Charge) -> None:
        """The refundFail card's refund fails after succeeding (module docstring)."""
        refund.status = "failed"
        refund.failure_reason = "expired_or_canceled_card"
        charge.refunded -= refund.amount
        charge.check()
        self._store.add_balance(refund.amount, refund.currency, 0, "refund_failure", refund.id)
        self._webhooks.emit(lambda: events.stripe_event(events.REFUND_UPDATED, refund_json(refund)))
        self._webhooks.emit(lambda: events.stripe_event(events.REFUND_FAILED, refund_json(refund)))

    def _charge_to_refund(self, params: Params) -> Charge:
        intent_id = get_str(params, "payment_intent")
        charge_id = get_str(params, "charge")
        if intent_id is None and charge_id is None:
            raise invalid(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        if intent_id is not None and charge_id is not None:
            raise invalid(
                "You may only specify one of these parameters: charge, payment_intent.",
                code="parameters_exclusive",
            )
        if intent_id is not None:
            intent = self._store.intents.get(intent_id)
            if intent is None:
                raise no_such("payment_intent", intent_id, param="payment_intent")
            charge = self._store.charges.get(intent.latest_charge or "")
            param, named = "payment_intent", f"PaymentIntent {intent_id}"
        else:
            assert charge_id is not None
            charge = self._store.charges.get(charge_id)
            if charge is None:
                raise no_such("charge", charge_id, param="charge")
            param, named = "charge", f"Charge {charge_id}"
        if charge is None or charge.status != "succeeded" or not charge.captured:
            raise invalid(
                f"{named} has no captured charge to refund; cancel an uncaptured "
                "PaymentIntent to release its authorization.",
                param=param,
                code="charge_not_refundable",
            )
        return charge
