"""Razorpay (api.razorpay.com) behind ``PaymentProvider``: Orders plus S2S JSON card payments.

Wire: HTTP Basic ``key_id:key_secret``, JSON bodies, amounts in the smallest currency unit
(``razorpay_wire``), errors as in ``razorpay_errors``. Pointing at the real Razorpay is
``HttpConfig(base_url="https://api.razorpay.com", sandbox=False)`` and live keys; the S2S
JSON flow is an on-demand Razorpay feature for PCI-certified merchants.

Authorize is three or four calls, because Razorpay binds every payment to an order:

1. ``GET /v1/orders?receipt=<receipt>``: was this authorization already started?
2. ``POST /v1/orders {amount, currency, receipt, notes, payment_capture}`` if not.
3. ``POST /v1/payments/create/json {amount, currency, order_id, email, contact, method:
   "card", card | token+customer_id}``: answers ``razorpay_payment_id``, and ``next[]`` with
   a redirect URL when the payer must pass 3DS (-> REQUIRES_ACTION); a failed card answers
   400 with the reason and the failed payment's id (-> DECLINED).
4. ``GET /v1/payments/{id}`` for the status and fee, when no 3DS step is pending.

Idempotency without an idempotency header. Razorpay has one only for refunds
(``X-Refund-Idempotency``), so:

- The order's ``receipt`` is derived from the idempotency key, and step 1 looks for it
  before anything is created. Razorpay does not enforce unique receipts (a second order
  with the same receipt is accepted), so the look-up is what makes a repeat safe: a repeat
  finds the order; if a payment exists on it, that payment is the answer (whatever its state,
  declines included) and nothing new is created; if not, the payment is created on the same
  order. Razorpay also refuses any payment on an order that is already paid, so one order
  can never be captured twice. A repeat that finds a payment still waiting for 3DS returns
  REQUIRES_ACTION without the URL (Razorpay gives it only once; the caller kept it).
- ``lookup()`` is steps 1 and the order's payments, read only.
- Two concurrent calls with the same key could both miss in step 1 and create two orders;
  the gateway never runs the same key concurrently (its own idempotency lock), which is the
  contract this relies on.
- Capture has no key: a repeated capture is refused by Razorpay ("already captured"), and
  the adapter then reads the payment and returns it if it is captured for the same amount.
- A refund sends ``X-Refund-Idempotency`` derived from the key: a repeat gets the first
  refund back.

What Razorpay cannot do is refused (INVALID, PROVIDER_REJECTED, sent=False: no request that
changes anything is sent) so routing, which knows these capabilities, can prefer another
provider:

- Partial capture: Razorpay captures exactly the authorized amount (checked before I/O).
- Void: Razorpay has no void API and refuses to refund an uncaptured payment; an
  authorization left uncaptured is refunded to the payer automatically when the capture
  window (about five days) ends. ``cancel()`` therefore reads the payment: if Razorpay has
  already released it (status ``refunded`` without capture) or it failed, that state is
  returned; otherwise it raises, saying so.
- Raw card numbers to a live (non-sandbox) account, and tokens that are not Razorpay saved
  cards (``token_...``, which also need ``metadata["razorpay_customer_id"]``), both before
  any I/O.

The payer's ``email`` and ``contact``, which the S2S API requires, come from
``metadata["customer_email"]`` / ``metadata["customer_contact"]``, else from the config's
defaults. Other metadata, our attempt id and the merchant reference go into ``notes``.

Nothing retries here; every failure is one ``ProviderError`` for the caller to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from gateway_svc.adapters.providers import razorpay_wire as wire
from gateway_svc.adapters.providers.http import HttpConfig, make_client, send
from gateway_svc.adapters.providers.razorpay_errors import decline_of, error_of, parse_error
from gateway_svc.domain.providers import (
    AuthorizeCall,
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderCharge,
    ProviderError,
    ProviderRefund,
)

REFUND_IDEMPOTENCY_HEADER = "X-Refund-Idempotency"
_MAX_DESCRIPTION_CHARS = 255
_ORDER_PAGE = 100
_OWN_METADATA = ("customer_email", "customer_contact", "razorpay_customer_id")


@dataclass(frozen=True, slots=True)
class RazorpayConfig:
    """Where Razorpay is and the API key pair; the secret never appears in ``repr``."""

    http: HttpConfig
    key_id: str
    key_secret: str = field(repr=False)
    customer_email: str = "payer@paymesh.example"
    """Used when an authorization's metadata has no ``customer_email``."""
    customer_contact: str = "+919000090000"
    """Used when an authorization's metadata has no ``customer_contact``."""


class RazorpayProvider:
    """``PaymentProvider`` for Razorpay (see the module docstring)."""

    def __init__(
        self, config: RazorpayConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._client = make_client(
            config.http, auth=(config.key_id, config.key_secret), transport=transport
        )

    @property
    def name(self) -> Provider:
        """Provider.RAZORPAY."""
        return Provider.RAZORPAY

    @property
    def sandbox(self) -> bool:
        """True when pointed at a test environment (raw test cards allowed)."""
        return self._config.http.sandbox

    async def authorize(self, call: AuthorizeCall) -> ProviderCharge:
        """Find or create the order for this key, then the card payment on it."""
        instrument = self._instrument(call)
        amount = wire.razorpay_amount(call.amount_minor, call.currency)
        receipt = wire.receipt_for(call.idempotency_key)
        orders = await self._orders_with_receipt(receipt)
        for order in orders:
            if order.get("amount") != amount or order.get("currency") != call.currency:
                raise ProviderError(
                    ErrorKind.INVALID,
                    DeclineCode.PROVIDER_REJECTED,
                    "this idempotency key already names a Razorpay order for another amount",
                    sent=False,
                )
        prior, order_id = await self._prior_payment(orders)
        if prior is not None:
            return wire.charge_from_payment(
                prior, wire.refs_of(str(prior.get("order_id", "")), receipt)
            )
        if order_id is None:
            order = _read_ok(
                await self._send("POST", "/v1/orders", json=wire.order_body(call, amount, receipt))
            )
            order_id = str(order.get("id", ""))
        return await self._create_payment(call, amount, order_id, receipt, instrument)

    def _instrument(self, call: AuthorizeCall) -> dict[str, object]:
        """The card or saved-card fields of the payment; refusals happen before any I/O."""
        card, token = call.method.card, call.method.token
        if card is not None:
            if not self.sandbox:
                raise _refusal("raw card numbers go only to a sandbox Razorpay account")
            return {"card": wire.card_body(card)}
        customer = call.metadata.get("razorpay_customer_id", "")
        if not token or not token.startswith("token_"):
            raise _refusal("Razorpay takes raw cards (sandbox) or its own token_... saved cards")
        if not customer.startswith("cust_"):
            raise _refusal("a Razorpay token needs metadata razorpay_customer_id (cust_...)")
        return {"token": token, "customer_id": customer}

    async def _create_payment(
        self,
        call: AuthorizeCall,
        amount: int,
        order_id: str,
        receipt: str,
        instrument: Mapping[str, object],
    ) -> ProviderCharge:
        refs = wire.refs_of(order_id, receipt)
        body: dict[str, object] = {
            "amount": amount,
            "currency": call.currency,
            "order_id": order_id,
            "email": call.metadata.get("customer_email") or self._config.customer_email,
            "contact": call.metadata.get("customer_contact") or self._config.customer_contact,
            "method": "card",
            **instrument,
            "notes": wire.notes_for(call, _OWN_METADATA),
        }
        if call.description:
            body["description"] = call.description[:_MAX_DESCRIPTION_CHARS]
        response = await self._send("POST", "/v1/payments/create/json", json=body)
        if response.status_code != 200:
            error = parse_error(_json_or_none(response))
            decline = decline_of(error) if response.status_code == 400 else None
            if decline is None:
                raise error_of(response, error)
            return ProviderCharge(
                provider_ref=error.payment_id or order_id,
                status=ChargeStatus.DECLINED,
                decline=decline,
                raw_status="failed",
                refs=refs,
            )
        created = _read_ok(response)
        payment_id = str(created.get("razorpay_payment_id", ""))
        action_url = _redirect_url(created.get("next"))
        if action_url:
            return ProviderCharge(
                provider_ref=payment_id,
                status=ChargeStatus.REQUIRES_ACTION,
                action_url=action_url,
                raw_status="created",
                refs=refs,
            )
        return wire.charge_from_payment(await self._payment(payment_id), refs)

    async def capture(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderCharge:
        """Capture the whole authorization (Razorpay has no partial capture)."""
        amount = wire.razorpay_amount(amount_minor, currency)
        if charge.authorized_minor and amount != charge.authorized_minor:
            raise _refusal(
                f"Razorpay captures only the full authorized amount ({charge.authorized_minor});"
                f" a partial capture of {amount} is not supported"
            )
        path = f"/v1/payments/{_segment(charge.provider_ref)}/capture"
        response = await self._send("POST", path, json={"amount": amount, "currency": currency})
        if response.status_code == 200:
            return wire.charge_from_payment(_read_ok(response), charge.refs)
        error = error_of(response)
        if error.kind is ErrorKind.INVALID and response.status_code == 400:
            # A repeat of a capture that already happened: Razorpay refuses it, the payment
            # tells whether it was this same capture.
            payment = await self._payment(charge.provider_ref)
            if payment.get("captured") is True and payment.get("amount") == amount:
                return wire.charge_from_payment(payment, charge.refs)
        raise error

    async def cancel(self, charge: ProviderCharge, idempotency_key: str) -> ProviderCharge:
        """Report a released authorization; Razorpay has no void to ask for one."""
        current = wire.charge_from_payment(await self._payment(charge.provider_ref), charge.refs)
        if current.status in (ChargeStatus.CANCELED, ChargeStatus.DECLINED):
            return current
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            "Razorpay has no void: an uncaptured authorization is refunded to the payer when"
            f" its capture window ends (payment is {current.raw_status})",
            raw_code=current.raw_status,
            sent=False,
        )

    async def refund(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderRefund:
        """Refund part or all of a captured payment, idempotently by header."""
        amount = wire.razorpay_amount(amount_minor, currency)
        response = await self._send(
            "POST",
            f"/v1/payments/{_segment(charge.provider_ref)}/refund",
            json={"amount": amount},
            headers={REFUND_IDEMPOTENCY_HEADER: wire.refund_key_for(idempotency_key)},
        )
        return wire.refund_from_entity(_read_ok(response))

    async def lookup(self, call: AuthorizeCall) -> ProviderCharge | None:
        """The payment made for this key, found by the order's receipt; None if there is none."""
        receipt = wire.receipt_for(call.idempotency_key)
        payment, _ = await self._prior_payment(await self._orders_with_receipt(receipt))
        if payment is None:
            return None
        return wire.charge_from_payment(
            payment, wire.refs_of(str(payment.get("order_id", "")), receipt)
        )

    async def fetch(self, charge: ProviderCharge) -> ProviderCharge:
        """The payment as Razorpay has it now."""
        payment = await self._payment(charge.provider_ref)
        return wire.charge_from_payment(payment, charge.refs, action_url=charge.action_url)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _orders_with_receipt(self, receipt: str) -> list[Mapping[str, Any]]:
        params = {"receipt": receipt, "count": str(_ORDER_PAGE)}
        listed = _read_ok(await self._send("GET", "/v1/orders", params=params))
        return _items(listed)

    async def _prior_payment(
        self, orders: list[Mapping[str, Any]]
    ) -> tuple[Mapping[str, Any] | None, str | None]:
        """(the payment that speaks for these orders, the oldest order's id), either None."""
        payments: list[Mapping[str, Any]] = []
        for order in orders:
            path = f"/v1/orders/{_segment(str(order.get('id', '')))}/payments"
            payments.extend(_items(_read_ok(await self._send("GET", path))))
        oldest = min(orders, key=lambda o: wire.int_of(o.get("created_at")), default=None)
        return wire.best_payment(payments), None if oldest is None else str(oldest.get("id"))

    async def _payment(self, payment_id: str) -> Mapping[str, Any]:
        response = await self._send("GET", f"/v1/payments/{_segment(payment_id)}")
        return _read_ok(response)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        request = self._client.build_request(
            method, path, json=json, params=params, headers=headers
        )
        return await send(self._client, request)


def _read_ok(response: httpx.Response) -> Mapping[str, Any]:
    """The JSON object of a 200, else the error the reply stands for."""
    if response.status_code != 200:
        raise error_of(response)
    body = _json_or_none(response)
    if not isinstance(body, Mapping):
        raise ProviderError(
            ErrorKind.UNKNOWN,
            DeclineCode.UNKNOWN_OUTCOME,
            "Razorpay answered 200 with a body that is not a JSON object",
            http_status=200,
        )
    return body


def _refusal(message: str) -> ProviderError:
    return ProviderError(ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, message, sent=False)


def _segment(provider_id: str) -> str:
    """An id as one URL path segment, whatever it contains."""
    return quote(provider_id, safe="")


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _items(collection: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = collection.get("items")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _redirect_url(next_actions: object) -> str:
    """The ``redirect`` action's URL from a create reply's ``next`` list, or ""."""
    if not isinstance(next_actions, list):
        return ""
    for action in next_actions:
        if isinstance(action, Mapping) and action.get("action") == "redirect":
            url = action.get("url")
            if isinstance(url, str):
                return url
    return ""
