"""The simulated PayPal account's state: orders, authorizations, captures, refunds.

Amounts are integers of PayPal's smallest unit (see ``sandbox.paypal.wire``). Records are
slotted dataclasses kept in plain dicts keyed by id, and JSON is rendered from them on demand:
no copies per request, so the simulator keeps up with the gateway benchmark.

The fee PayPal reports on every completed capture (``seller_receivable_breakdown.paypal_fee``)
is simulated as PayPal's US standard rate, 3.49% of the gross plus a fixed 0.49 (in the
currency's own unit for 2-decimal currencies; 40 JPY, 90 HUF, 10 TWD for PayPal's
no-decimal currencies), the percentage rounded half up to the currency's smallest unit.
A refund gives back the percentage part in proportion, never the fixed part, as PayPal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.paypal.wire import link, money
from sandbox.webhooks.events import EventSink

FEE_BPS = 349
"""The percentage part of the simulated fee, in basis points of the gross."""

_FIXED_FEE_UNITS = {"JPY": 40, "HUF": 90, "TWD": 10}
_DEFAULT_FIXED_FEE_UNITS = 49


def percentage_fee(units: int) -> int:
    """``FEE_BPS`` of ``units``, rounded half up (integer arithmetic: no float in money)."""
    return (units * FEE_BPS * 2 + 10_000) // 20_000


def capture_fee(units: int, currency: str) -> int:
    """The simulated PayPal fee on a completed capture of ``units``."""
    return percentage_fee(units) + _FIXED_FEE_UNITS.get(currency, _DEFAULT_FIXED_FEE_UNITS)


@dataclass(slots=True)
class Processor:
    """What the card network answered (PayPal's ``processor_response``)."""

    response_code: str
    avs_code: str = "Y"
    cvv_code: str = "M"

    def as_json(self) -> dict[str, str]:
        return {
            "avs_code": self.avs_code,
            "cvv_code": self.cvv_code,
            "response_code": self.response_code,
        }


@dataclass(slots=True)
class Order:
    """A checkout order (one purchase unit: the simulator's documented limit)."""

    id: str
    intent: str
    status: str
    currency: str
    units: int
    reference_id: str
    custom_id: str
    invoice_id: str
    description: str
    source: dict[str, object]
    """``payment_source`` as PayPal echoes it back (never the card number or CVV)."""
    processor: Processor | None
    """The outcome the payment source will get once processed; None for a PayPal payer."""
    created: str
    updated: str
    authorization_id: str = ""
    capture_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Authorization:
    """An authorized payment: funds held until captured, voided or expired."""

    id: str
    order_id: str
    status: str
    currency: str
    units: int
    custom_id: str
    invoice_id: str
    processor: Processor | None
    created: str
    updated: str
    expires: str
    captured_units: int = 0
    capture_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Capture:
    """A captured (or declined) payment and the refunds against it."""

    id: str
    order_id: str
    authorization_id: str
    status: str
    currency: str
    units: int
    fee_units: int
    final_capture: bool
    custom_id: str
    invoice_id: str
    processor: Processor | None
    created: str
    updated: str
    refunded_units: int = 0
    refund_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Refund:
    """A refund of (part of) a capture."""

    id: str
    capture_id: str
    status: str
    currency: str
    units: int
    fee_units: int
    total_refunded_units: int
    custom_id: str
    created: str


@dataclass(slots=True)
class Store:
    """Everything the simulated account holds; ``reset`` is a new Store."""

    orders: dict[str, Order] = field(default_factory=dict)
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    captures: dict[str, Capture] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    by_custom_id: dict[str, list[str]] = field(default_factory=dict)
    """Order ids by ``custom_id``, for the sandbox-only order search (see ``orders``)."""


@dataclass(slots=True)
class Ctx:
    """What every handler needs: the state and where the simulator is reachable."""

    store: Store
    api: str
    """The simulated API's base URL (``<public_url>/paypal``), for HATEOAS links."""
    site: str
    """Where the payer's pages live (approval, 3-D Secure); the same server here."""
    webhooks: EventSink = field(default_factory=EventSink)
    """Where payment state changes are announced (sandbox.webhooks.paypal)."""


def render_authorization(auth: Authorization, api: str, related: bool) -> dict[str, object]:
    """An authorization as PayPal shows it (inside an order, or alone when ``related``)."""
    base = f"{api}/v2/payments/authorizations/{auth.id}"
    out: dict[str, object] = {
        "id": auth.id,
        "status": auth.status,
        "amount": money(auth.units, auth.currency),
        "custom_id": auth.custom_id,
        "seller_protection": {"status": "NOT_ELIGIBLE"},
        "expiration_time": auth.expires,
        "links": [
            link(base, "self"),
            link(f"{base}/capture", "capture", "POST"),
            link(f"{base}/void", "void", "POST"),
            link(f"{base}/reauthorize", "reauthorize", "POST"),
            link(f"{api}/v2/checkout/orders/{auth.order_id}", "up"),
        ],
        "create_time": auth.created,
        "update_time": auth.updated,
    }
    if auth.invoice_id:
        out["invoice_id"] = auth.invoice_id
    if auth.processor is not None:
        out["processor_response"] = auth.processor.as_json()
    if related:
        out["supplementary_data"] = {"related_ids": {"order_id": auth.order_id}}
    return out


def render_capture(cap: Capture, api: str, related: bool) -> dict[str, object]:
    """A capture as PayPal shows it, with the fee breakdown when it completed."""
    base = f"{api}/v2/payments/captures/{cap.id}"
    up = (
        f"{api}/v2/payments/authorizations/{cap.authorization_id}"
        if cap.authorization_id
        else f"{api}/v2/checkout/orders/{cap.order_id}"
    )
    links = [link(base, "self")]
    out: dict[str, object] = {
        "id": cap.id,
        "status": cap.status,
        "amount": money(cap.units, cap.currency),
        "final_capture": cap.final_capture,
        "disbursement_mode": "INSTANT",
        "seller_protection": {"status": "NOT_ELIGIBLE"},
        "custom_id": cap.custom_id,
        "links": links,
        "create_time": cap.created,
        "update_time": cap.updated,
    }
    if cap.status != "DECLINED":
        out["seller_receivable_breakdown"] = {
            "gross_amount": money(cap.units, cap.currency),
            "paypal_fee": money(cap.fee_units, cap.currency),
            "net_amount": money(cap.units - cap.fee_units, cap.currency),
        }
        links.append(link(f"{base}/refund", "refund", "POST"))
    links.append(link(up, "up"))
    if cap.invoice_id:
        out["invoice_id"] = cap.invoice_id
    if cap.processor is not None:
        out["processor_response"] = cap.processor.as_json()
    if related:
        ids = {"order_id": cap.order_id}
        if cap.authorization_id:
            ids["authorization_id"] = cap.authorization_id
        out["supplementary_data"] = {"related_ids": ids}
    return out


def render_refund(ref: Refund, api: str) -> dict[str, object]:
    """A refund as PayPal shows it."""
    base = f"{api}/v2/payments/refunds/{ref.id}"
    out: dict[str, object] = {
        "id": ref.id,
        "status": ref.status,
        "amount": money(ref.units, ref.currency),
        "seller_payable_breakdown": {
            "gross_amount": money(ref.units, ref.currency),
            "paypal_fee": money(ref.fee_units, ref.currency),
            "net_amount": money(ref.units - ref.fee_units, ref.currency),
            "total_refunded_amount": money(ref.total_refunded_units, ref.currency),
        },
        "links": [
            link(base, "self"),
            link(f"{api}/v2/payments/captures/{ref.capture_id}", "up"),
        ],
        "create_time": ref.created,
        "update_time": ref.created,
    }
    if ref.custom_id:
        out["custom_id"] = ref.custom_id
    return out


def render_order(order: Order, store: Store, api: str, site: str) -> dict[str, object]:
    """An order with its purchase unit's payments, as ``GET /v2/checkout/orders/{id}``."""
    unit: dict[str, object] = {
        "reference_id": order.reference_id,
        "amount": money(order.units, order.currency),
        "payee": {"email_address": "merchant@paymesh.example", "merchant_id": "PAYMESHSBX001"},
    }
    for key, value in (
        ("custom_id", order.custom_id),
        ("invoice_id", order.invoice_id),
        ("description", order.description),
    ):
        if value:
            unit[key] = value
    payments = _payments(order, store, api)
    if payments:
        unit["payments"] = payments
    out: dict[str, object] = {
        "id": order.id,
        "intent": order.intent,
        "status": order.status,
        "purchase_units": [unit],
        "create_time": order.created,
        "update_time": order.updated,
        "links": order_links(order, api, site),
    }
    if order.source:
        out["payment_source"] = order.source
    return out


def _payments(order: Order, store: Store, api: str) -> dict[str, object]:
    payments: dict[str, object] = {}
    if order.authorization_id:
        auth = store.authorizations[order.authorization_id]
        payments["authorizations"] = [render_authorization(auth, api, related=False)]
    if order.capture_ids:
        caps = [store.captures[c] for c in order.capture_ids]
        payments["captures"] = [render_capture(c, api, related=False) for c in caps]
        refunds = [store.refunds[r] for c in caps for r in c.refund_ids]
        if refunds:
            payments["refunds"] = [render_refund(r, api) for r in refunds]
    return payments


def order_links(order: Order, api: str, site: str) -> list[dict[str, str]]:
    """The HATEOAS links of an order in its current status."""
    base = f"{api}/v2/checkout/orders/{order.id}"
    links = [link(base, "self")]
    if order.status == "CREATED":
        links.append(link(f"{site}/checkoutnow?token={order.id}", "approve"))
    elif order.status == "PAYER_ACTION_REQUIRED":
        helios = f"{site}/webapps/helios?action=verify&flow=3ds&cart_id={order.id}"
        links.append(link(helios, "payer-action"))
    if order.status in ("CREATED", "APPROVED", "PAYER_ACTION_REQUIRED"):
        links.append(link(base, "update", "PATCH"))
        verb = "capture" if order.intent == "CAPTURE" else "authorize"
        links.append(link(f"{base}/{verb}", verb, "POST"))
    return links
