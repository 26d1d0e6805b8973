"""The Authorize.net adapter: ``PaymentProvider`` over its JSON API (``/xml/v1/request.api``).

Operations and the Authorize.net calls behind them:

- authorize: createTransactionRequest, authOnlyTransaction or authCaptureTransaction;
- capture: priorAuthCaptureTransaction (less than authorized releases the rest);
- cancel: voidTransaction;
- refund: refundTransaction, naming the card by its last four digits (kept in
  ``ProviderCharge.refs["last4"]``) and the original by refTransId;
- fetch: getTransactionDetailsRequest;
- lookup: getUnsettledTransactionListRequest, newest first, matched on the invoice number the
  authorization carried (see below).

Idempotency without an idempotency header. Authorize.net has none; what it has is the
duplicate-transaction window: a transaction identical to one submitted within
``duplicateWindow`` seconds (same type, card, amount, invoice number ...) is refused with
response code 3, reason 11. So authorize and refund send ``order.invoiceNumber`` derived from
the caller's idempotency key (authorizenet_wire.reference_for) and set ``duplicateWindow`` to
``AuthorizeNetConfig.duplicate_window_s`` (default: Authorize.net's maximum, 8 hours). A repeat
with the same key inside the window therefore cannot charge twice, and its reason 11 proves the
first attempt exists: the adapter finds it (lookup by invoice number) and answers with it, as
Stripe would replay its first reply. A capture or void repeated after it took effect gets 311 or
310 (already captured / voided); the adapter fetches the transaction and returns it when it is
in the state asked for. Limits, stated rather than hidden: a key reused with different
parameters (another amount) is not refused, because Authorize.net compares parameters, not
keys; and lookup searches the unsettled list only, so it can prove a transaction absent only
until the daily settlement batch has run (reconcile UNKNOWN attempts within the day).

Other decisions: amounts are decimal strings in major units (authorizenet_wire); a token is
sent as an Accept.js nonce (``opaqueData``), a raw card only in sandbox mode; billing ZIP comes
from ``call.metadata["billing_zip"]`` when present; the merchant reference and metadata go to
``userFields`` (at most 20); Authorize.net reports no fee per transaction, so ``fee_minor`` is
None. Nothing here retries, and nothing here logs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Final

import httpx

from gateway_svc.adapters.providers import authorizenet_errors as errors
from gateway_svc.adapters.providers import authorizenet_wire as wire
from gateway_svc.adapters.providers.authorizenet_results import (
    APPROVED,
    DECLINED,
    HELD,
    PAYER_CONSENT,
    TransactionResult,
    charge_from_details,
    decline_of,
    failure,
    raise_api_error,
    read_transaction,
    refs,
)
from gateway_svc.adapters.providers.http import HttpConfig, make_client, send
from gateway_svc.domain.providers import (
    AuthorizeCall,
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderCharge,
    ProviderError,
    ProviderRefund,
    RefundStatus,
)
from svc_kit.currencies import UnknownCurrencyError

AUTH_ONLY: Final = "authOnlyTransaction"
AUTH_CAPTURE: Final = "authCaptureTransaction"
PRIOR_AUTH_CAPTURE: Final = "priorAuthCaptureTransaction"
VOID: Final = "voidTransaction"
REFUND: Final = "refundTransaction"
LIST_PAGE: Final = 1000
"""The largest page getUnsettledTransactionList serves."""
MAX_USER_FIELDS: Final = 20
_REFUND_SUCCEEDED: Final = frozenset({"refundPendingSettlement", "refundSettledSuccessfully"})


@dataclass(frozen=True, slots=True)
class AuthorizeNetConfig:
    """How to reach one Authorize.net merchant account."""

    http: HttpConfig
    login_id: str
    transaction_key: str = field(repr=False)
    duplicate_window_s: int = 28800
    """Seconds within which a repeated authorization or refund is refused as a duplicate
    (and so cannot double-charge); 28800 is Authorize.net's maximum."""
    currency: str = "USD"
    """The merchant account's currency, for fetching a charge this adapter did not create."""
    lookup_max_pages: int = 100
    """How many pages of 1000 unsettled transactions lookup reads before giving up (UNKNOWN)."""


class AuthorizeNetProvider:
    """Authorize.net behind ``PaymentProvider``; see the module docstring."""

    def __init__(
        self, config: AuthorizeNetConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._client = make_client(
            config.http, headers={"content-type": "application/json"}, transport=transport
        )

    @property
    def name(self) -> Provider:
        """Provider.AUTHORIZENET."""
        return Provider.AUTHORIZENET

    @property
    def sandbox(self) -> bool:
        """Whether raw test cards may be sent (apitest.authorize.net or the sandbox)."""
        return self._config.http.sandbox

    async def authorize(self, call: AuthorizeCall) -> ProviderCharge:
        """authOnly / authCapture; a duplicate of an earlier attempt answers with that one."""
        payment = self._payment(call)
        reference = wire.reference_for(call.idempotency_key)
        request = wire.transaction_request(
            AUTH_CAPTURE if call.capture else AUTH_ONLY,
            amount=_amount(call.amount_minor, call.currency),
            currency=call.currency,
            payment=payment,
            invoice_number=reference,
            description=call.description or call.reference,
            zip_code=call.metadata.get("billing_zip", ""),
            duplicate_window_s=self._config.duplicate_window_s,
            user_fields=_user_fields(call),
        )
        result = await self._create(request, reference)
        code = result.response_code
        if code in (APPROVED, HELD, PAYER_CONSENT):
            return _new_charge(call, result, reference)
        if result.reason == errors.DUPLICATE:
            earlier = await self.lookup(call)
            if earlier is not None:
                return earlier
        decline = decline_of(result.reason, code)
        if decline is None:
            raise failure(result)
        return ProviderCharge(
            provider_ref=_trans_id(result),
            status=ChargeStatus.DECLINED,
            decline=decline,
            raw_status=result.raw_status,
            refs=refs(result.last4, result.card_type, call.currency) | {"invoice": reference},
        )

    async def capture(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderCharge:
        """priorAuthCapture of ``amount_minor``; a repeat after success returns the capture."""
        request = wire.transaction_request(
            PRIOR_AUTH_CAPTURE,
            amount=_amount(amount_minor, currency),
            ref_trans_id=charge.provider_ref,
        )
        result = await self._create(request, wire.reference_for(idempotency_key))
        if result.response_code == APPROVED:
            return dataclasses.replace(
                charge,
                status=ChargeStatus.CAPTURED,
                captured_minor=amount_minor,
                raw_status=result.raw_status,
            )
        if result.reason == errors.ALREADY_CAPTURED:
            current = await self.fetch(charge)
            if current.status is ChargeStatus.CAPTURED and current.captured_minor == amount_minor:
                return current
        raise failure(result)

    async def cancel(self, charge: ProviderCharge, idempotency_key: str) -> ProviderCharge:
        """voidTransaction; a repeat after success returns the voided charge."""
        request = wire.transaction_request(VOID, ref_trans_id=charge.provider_ref)
        result = await self._create(request, wire.reference_for(idempotency_key))
        if result.response_code == APPROVED:
            return dataclasses.replace(
                charge, status=ChargeStatus.CANCELED, captured_minor=0, raw_status=result.raw_status
            )
        if result.reason == errors.ALREADY_VOIDED:
            current = await self.fetch(charge)
            if current.status is ChargeStatus.CANCELED:
                return current
        raise failure(result)

    async def refund(
        self, charge: ProviderCharge, amount_minor: int, currency: str, idempotency_key: str
    ) -> ProviderRefund:
        """refundTransaction against the charge's card; a repeat answers with the first."""
        last4 = charge.refs.get("last4") or (await self.fetch(charge)).refs.get("last4", "")
        reference = wire.reference_for(idempotency_key)
        request = wire.transaction_request(
            REFUND,
            amount=_amount(amount_minor, currency),
            currency=currency,
            payment=wire.masked_card_payment(last4),
            ref_trans_id=charge.provider_ref,
            invoice_number=reference,
            duplicate_window_s=self._config.duplicate_window_s,
        )
        result = await self._create(request, reference)
        if result.response_code == APPROVED:
            return ProviderRefund(
                result.trans_id, RefundStatus.SUCCEEDED, amount_minor, raw_status=result.raw_status
            )
        if result.reason == errors.DUPLICATE:
            earlier = await self._find_unsettled(reference)
            if earlier is not None:
                return _refund_from_summary(earlier, amount_minor)
        decline = decline_of(result.reason, result.response_code)
        if result.response_code == DECLINED and decline is not None:
            return ProviderRefund(
                _trans_id(result), RefundStatus.FAILED, amount_minor, decline, result.raw_status
            )
        raise failure(result)

    async def lookup(self, call: AuthorizeCall) -> ProviderCharge | None:
        """The transaction whose invoice number is this call's reference, or None."""
        summary = await self._find_unsettled(wire.reference_for(call.idempotency_key))
        if summary is None:
            return None
        return await self._details(str(summary["transId"]), call.currency)

    async def fetch(self, charge: ProviderCharge) -> ProviderCharge:
        """getTransactionDetails; keeps the approval URL only the first reply carried."""
        current = await self._details(
            charge.provider_ref, charge.refs.get("currency", self._config.currency)
        )
        if current.status is ChargeStatus.REQUIRES_ACTION and charge.action_url:
            return dataclasses.replace(current, action_url=charge.action_url)
        return current

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _payment(self, call: AuthorizeCall) -> wire.Json:
        """The ``payment`` element; refuses a raw card outside sandbox mode before any I/O."""
        card, token = call.method.card, call.method.token
        if card is not None:
            if not self.sandbox:
                raise ProviderError(
                    ErrorKind.INVALID,
                    DeclineCode.PROVIDER_REJECTED,
                    "raw card numbers may be sent to Authorize.net only in sandbox mode",
                    sent=False,
                )
            return wire.card_payment(card)
        if token:
            return wire.token_payment(token)
        raise ProviderError(
            ErrorKind.INVALID, DeclineCode.PROVIDER_REJECTED, "no payment method given", sent=False
        )

    async def _create(self, transaction: wire.Json, ref_id: str) -> TransactionResult:
        body = self._envelope("createTransactionRequest", ref_id)
        body["createTransactionRequest"]["transactionRequest"] = transaction
        return read_transaction(await self._post(body, mutation=True))

    async def _details(self, trans_id: str, currency: str) -> ProviderCharge:
        body = self._envelope("getTransactionDetailsRequest", None)
        body["getTransactionDetailsRequest"]["transId"] = trans_id
        reply = await self._post(body, mutation=False)
        raise_api_error(reply)
        transaction = reply.get("transaction")
        if not isinstance(transaction, dict):
            raise ProviderError(
                ErrorKind.RETRIABLE,
                DeclineCode.PROVIDER_UNAVAILABLE,
                "Authorize.net's transaction details had no transaction",
                http_status=200,
            )
        return charge_from_details(transaction, currency)

    async def _find_unsettled(self, invoice_number: str) -> wire.Json | None:
        """The newest unsettled transaction carrying ``invoice_number``, paging as needed."""
        for page in range(1, self._config.lookup_max_pages + 1):
            body = self._envelope("getUnsettledTransactionListRequest", None)
            inner = body["getUnsettledTransactionListRequest"]
            inner["sorting"] = {"orderBy": "submitTimeUTC", "orderDescending": True}
            inner["paging"] = {"limit": LIST_PAGE, "offset": page}
            reply = await self._post(body, mutation=False)
            raise_api_error(reply)
            listed = reply.get("transactions")
            items = listed if isinstance(listed, list) else []
            for item in items:
                if isinstance(item, dict) and item.get("invoiceNumber") == invoice_number:
                    return item
            if len(items) < LIST_PAGE:
                return None
        raise ProviderError(
            ErrorKind.UNKNOWN,
            DeclineCode.UNKNOWN_OUTCOME,
            "too many unsettled transactions to prove the attempt absent",
        )

    def _envelope(self, method: str, ref_id: str | None) -> wire.Json:
        return wire.envelope(method, self._config.login_id, self._config.transaction_key, ref_id)

    async def _post(self, body: wire.Json, *, mutation: bool) -> wire.Json:
        request = self._client.build_request("POST", wire.API_PATH, content=wire.encode(body))
        response = await send(self._client, request)
        return wire.read_reply(response, mutation=mutation)


def _amount(amount_minor: int, currency: str) -> str:
    """The amount string, or an INVALID error (before any I/O) for an unknown currency."""
    try:
        return wire.to_amount(amount_minor, currency)
    except UnknownCurrencyError:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.CURRENCY_NOT_SUPPORTED,
            f"{currency!r} is not an ISO 4217 currency",
            sent=False,
        ) from None


def _trans_id(result: TransactionResult) -> str:
    """The transaction id, or "" where Authorize.net created none (it answers "0")."""
    return "" if result.trans_id in ("", "0") else result.trans_id


def _user_fields(call: AuthorizeCall) -> dict[str, str]:
    """The merchant reference and metadata as Authorize.net's merchant-defined fields."""
    fields = {"reference": call.reference} if call.reference else {}
    fields |= {key: value for key, value in call.metadata.items() if key != "billing_zip"}
    return dict(list(fields.items())[:MAX_USER_FIELDS])


def _refund_from_summary(summary: wire.Json, amount_minor: int) -> ProviderRefund:
    """The refund an earlier identical request made, as the unsettled list reports it."""
    word = str(summary.get("transactionStatus", ""))
    status = RefundStatus.SUCCEEDED if word in _REFUND_SUCCEEDED else RefundStatus.FAILED
    return ProviderRefund(str(summary["transId"]), status, amount_minor, raw_status=word)


def _new_charge(call: AuthorizeCall, result: TransactionResult, reference: str) -> ProviderCharge:
    """The charge an approved, held or payer-pending authorization created."""
    code = result.response_code
    if code == APPROVED:
        status = ChargeStatus.CAPTURED if call.capture else ChargeStatus.AUTHORIZED
    else:
        status = ChargeStatus.PENDING if code == HELD else ChargeStatus.REQUIRES_ACTION
    approved = code == APPROVED
    return ProviderCharge(
        provider_ref=result.trans_id,
        status=status,
        authorized_minor=call.amount_minor if approved else 0,
        captured_minor=call.amount_minor if approved and call.capture else 0,
        action_url=result.action_url,
        raw_status=result.raw_status,
        refs=refs(result.last4, result.card_type, call.currency) | {"invoice": reference},
    )
