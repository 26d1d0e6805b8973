"""createTransactionRequest: authorize, capture a prior authorization, void, refund.

The request has already passed the schema (sandbox.authorizenet.schema) and the credential
check; what is left is Authorize.net's business rules, each answered with its reason code:

- amounts are decimal strings in major units of ``currencyCode`` (the merchant's USD when
  absent); zero, negative or finer than the currency's minor unit -> 5; a currency the
  sandbox merchant does not process -> 39;
- ``priorAuthCaptureTransaction`` may capture less than was authorized (the rest is released)
  but not more (47); capturing twice -> 311; an unknown or uncapturable refTransId -> 16;
- ``voidTransaction`` works on anything not yet settled (an authorization, a capture with no
  refunds, a refund); voiding twice -> 310;
- ``refundTransaction`` needs refTransId and the card's last four digits (after four X) and
  refunds a captured transaction in as many parts as wanted up to what was captured (55 past
  that). The real gateway refunds only settled transactions (54 before settlement); the
  sandbox never runs a settlement batch, so it treats a capture as refundable at once and
  reports it as capturedPendingSettlement all the same;
- the duplicate window (sandbox.authorizenet.store) applies to authorizations and refunds:
  an identical request inside the window -> 11, with the original's authCode but transId "0".

Declines are recorded (and occupy the duplicate window); errors (response code 3) are not and
carry transId "0", as the real gateway does for requests it refuses before the processor.
Each approved transaction emits its ``net.authorize.payment.*.created`` webhook
(sandbox.webhooks.authorizenet).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sandbox.authorizenet import codes, outcomes, replies, store
from sandbox.authorizenet.store import DuplicateKey, Store, Transaction
from sandbox.core import SimResponse
from sandbox.webhooks import authorizenet as events
from sandbox.webhooks.events import EventSink
from svc_kit.currencies import exponent

MASK: Final = "X" * 4
"""How Authorize.net masks a card number's hidden digits and a whole expiry date."""
MERCHANT_CURRENCY: Final = "USD"
PROCESSED_CURRENCIES: Final = frozenset(
    {"USD", "CAD", "EUR", "GBP", "AUD", "NZD", "CHF", "DKK", "NOK", "PLN", "SEK"}
)
"""The currencies Authorize.net processes (per its supported-currency list); the sandbox
merchant accepts them all."""

_AUTH_TYPES: Final = {store.AUTH_ONLY: False, store.AUTH_CAPTURE: True}
_VOIDABLE: Final = frozenset(
    {store.AUTHORIZED, store.CAPTURED, store.HELD, store.AWAITING_PAYER, store.REFUND_PENDING}
)
"""Everything not yet settled; a capture only while nothing has been refunded from it."""
_Request = Mapping[str, Any]


def auth_code_for(trans_id: str) -> str:
    """A six-character approval code, stable per transaction."""
    return hashlib.sha256(trans_id.encode()).hexdigest()[:6].upper()


def masked(last4: str) -> str:
    """The account number as Authorize.net reports it."""
    return f"{MASK}{last4}" if last4 else ""


def transaction_response(
    reason: int,
    *,
    trans: Transaction | None = None,
    ref_trans_id: str = "",
    auth_code: str = "",
    avs: str = "P",
    cvv: str = "",
    action_url: str = "",
    **fields: str,
) -> dict[str, object]:
    """The ``transactionResponse`` object, keys in the order the real API sends them."""
    response_code = codes.response_code_of(reason)
    text = codes.reason_text(reason, **fields)
    body: dict[str, object] = {
        "responseCode": str(response_code),
        "authCode": auth_code or (trans.auth_code if trans else ""),
        "avsResultCode": avs,
        "cvvResultCode": cvv,
        "cavvResultCode": "",
        "transId": trans.trans_id if trans else "0",
        "refTransID": ref_trans_id,
        "transHash": "",
        "testRequest": "0",
        "accountNumber": masked(trans.last4) if trans else "",
        "accountType": trans.card_type if trans else "",
    }
    if response_code in (codes.APPROVED, codes.HELD, codes.PAYER_CONSENT):
        body["messages"] = [{"code": str(reason), "description": text}]
    else:
        body["errors"] = [{"errorCode": str(reason), "errorText": text}]
    if action_url:
        body["secureAcceptance"] = {"SecureAcceptanceUrl": action_url}
    body["transHashSha2"] = ""
    body["SupplementalDataQualificationIndicator"] = 0
    return body


def to_minor(amount: Decimal, currency: str) -> int | None:
    """``amount`` in minor units, or None when it is not a positive multiple of one."""
    minor = amount.scaleb(exponent(currency))
    if minor <= 0 or minor != minor.to_integral_value():
        return None
    return int(minor)


class Transactions:
    """The createTransaction rules over one merchant account (``Store``)."""

    def __init__(
        self, accounts: Store, action_url: Callable[[str], str], webhooks: EventSink
    ) -> None:
        self.store = accounts
        self._action_url = action_url
        self._webhooks = webhooks

    def notify(self, kind: str, trans: Transaction, amount_minor: int) -> None:
        """Emit webhook ``kind`` about ``trans`` (an approved transaction)."""
        self._webhooks.emit(lambda: events.anet_event(kind, trans, amount_minor))

    def create(self, request: _Request, ref_id: str | None) -> SimResponse:
        """Answer a createTransactionRequest (already schema- and credential-checked)."""
        tx: _Request = request["transactionRequest"]
        transaction_type = str(tx["transactionType"])
        capture = _AUTH_TYPES.get(transaction_type)
        if capture is not None:
            body = self._authorize(tx, capture=capture)
        elif transaction_type == store.PRIOR_AUTH_CAPTURE:
            body = self._capture(tx)
        elif transaction_type == store.VOID:
            body = self._void(tx)
        elif transaction_type == store.REFUND:
            body = self._refund(tx)
        else:
            # A transactionType outside the XSD's enumeration is a schema error.
            return replies.api_error(
                (
                    codes.SCHEMA_ERROR,
                    f"The '{codes.NAMESPACE}:transactionType' element is invalid - The value"
                    f" '{transaction_type}' is invalid according to its datatype"
                    f" '{codes.NAMESPACE}:transactionTypeEnum' - The Enumeration constraint"
                    " failed.",
                )
            )
        ok = body["responseCode"] in ("1", "4", "5")
        return replies.transaction_reply(body, ref_id, ok=ok)

    def _authorize(self, tx: _Request, *, capture: bool) -> dict[str, object]:
        currency = str(tx.get("currencyCode") or MERCHANT_CURRENCY)
        if currency not in PROCESSED_CURRENCIES:
            return transaction_response(39)
        amount = _decimal(tx.get("amount"))
        amount_minor = to_minor(amount, currency) if amount is not None else None
        if amount is None or amount_minor is None:
            return transaction_response(5)
        if tx.get("payment") is None:
            return transaction_response(33, field="Credit card number")
        card = _card(tx.get("payment"))
        if card is None:
            return transaction_response(17)
        zip_code = str((tx.get("billTo") or {}).get("zip", ""))
        invoice, description = _order(tx)
        key = DuplicateKey(
            store.AUTH_CAPTURE if capture else store.AUTH_ONLY,
            store.card_digest(card.number),
            amount_minor,
            currency,
            invoice,
            zip_code,
        )
        earlier = self.store.duplicate_of(key, store.clamp_window(_setting(tx, "duplicateWindow")))
        if earlier is not None:
            approved = earlier.response_code == codes.APPROVED
            return transaction_response(11, auth_code=earlier.auth_code if approved else "")
        decision = outcomes.decide(card, amount, zip_code)
        response_code = codes.response_code_of(decision.reason)
        if response_code == codes.ERROR:
            return transaction_response(decision.reason, avs=decision.avs, cvv=decision.cvv)
        trans_id = self.store.next_id()
        status, settle = _auth_status(response_code, capture, amount_minor)
        trans = Transaction(
            trans_id=trans_id,
            transaction_type=key.transaction_type,
            status=status,
            response_code=response_code,
            reason_code=decision.reason,
            currency=currency,
            auth_minor=amount_minor if response_code != codes.DECLINED else 0,
            settle_minor=settle,
            last4=card.number[-4:],
            card_type=decision.card_type,
            invoice_number=invoice,
            description=description,
            auth_code=auth_code_for(trans_id) if response_code == codes.APPROVED else "",
            zip_code=zip_code,
            submitted_utc=store.utc_now(),
        )
        self.store.add(trans, key)
        if response_code == codes.APPROVED:
            kind = events.AUTHCAPTURE_CREATED if capture else events.AUTHORIZATION_CREATED
            self.notify(kind, trans, amount_minor)
        action_url = self._action_url(trans_id) if response_code == codes.PAYER_CONSENT else ""
        return transaction_response(
            decision.reason, trans=trans, avs=decision.avs, cvv=decision.cvv, action_url=action_url
        )

    def _capture(self, tx: _Request) -> dict[str, object]:
        trans, problem = self._referenced(tx)
        if trans is None:
            return problem
        if trans.transaction_type != store.AUTH_ONLY:
            return transaction_response(16)
        if trans.status == store.CAPTURED:
            return transaction_response(311)
        if trans.status == store.VOIDED:
            return transaction_response(310)
        if trans.status != store.AUTHORIZED:
            return transaction_response(16)
        amount_minor = trans.auth_minor
        if tx.get("amount") is not None:
            amount = _decimal(tx.get("amount"))
            parsed = to_minor(amount, trans.currency) if amount is not None else None
            if parsed is None:
                return transaction_response(5)
            if parsed > trans.auth_minor:
                return transaction_response(47)
            amount_minor = parsed
        trans.status = store.CAPTURED
        trans.settle_minor = amount_minor
        self.notify(events.CAPTURE_CREATED, trans, amount_minor)
        return transaction_response(1, trans=trans, ref_trans_id=trans.trans_id)

    def _void(self, tx: _Request) -> dict[str, object]:
        trans, problem = self._referenced(tx)
        if trans is None:
            return problem
        if trans.status == store.VOIDED:
            return transaction_response(310)
        refunded_capture = trans.status == store.CAPTURED and trans.refunded_minor > 0
        if trans.status not in _VOIDABLE or refunded_capture:
            return transaction_response(16)
        if trans.status == store.REFUND_PENDING:
            original = self.store.get(trans.ref_trans_id)
            if original is not None:
                original.refunded_minor -= trans.settle_minor
        trans.status = store.VOIDED
        trans.settle_minor = 0
        self.notify(events.VOID_CREATED, trans, trans.auth_minor)
        return transaction_response(1, trans=trans, ref_trans_id=trans.trans_id)

    def _refund(self, tx: _Request) -> dict[str, object]:
        original, problem = self._referenced(tx, missing_reason=54)
        if original is None:
            return problem
        card = _card(tx.get("payment"), masked_ok=True)
        if card is None:
            return transaction_response(33, field="Credit card number")
        currency = str(tx.get("currencyCode") or original.currency)
        refundable = (
            original.transaction_type in _AUTH_TYPES
            and original.status == store.CAPTURED
            and card.number[-4:] == original.last4
            and currency == original.currency
        )
        if not refundable:
            return transaction_response(54)
        amount = _decimal(tx.get("amount"))
        amount_minor = to_minor(amount, currency) if amount is not None else None
        if amount_minor is None:
            return transaction_response(5)
        invoice, description = _order(tx)
        key = DuplicateKey(
            store.REFUND,
            store.card_digest(original.last4),
            amount_minor,
            currency,
            invoice,
            "",
            original.trans_id,
        )
        if self.store.duplicate_of(key, store.clamp_window(_setting(tx, "duplicateWindow"))):
            return transaction_response(11)
        if original.refunded_minor + amount_minor > original.settle_minor:
            return transaction_response(55)
        original.refunded_minor += amount_minor
        refund = Transaction(
            trans_id=self.store.next_id(),
            transaction_type=store.REFUND,
            status=store.REFUND_PENDING,
            response_code=codes.APPROVED,
            reason_code=1,
            currency=currency,
            auth_minor=amount_minor,
            settle_minor=amount_minor,
            last4=original.last4,
            card_type=original.card_type,
            invoice_number=invoice,
            description=description,
            auth_code="",
            zip_code="",
            submitted_utc=store.utc_now(),
            ref_trans_id=original.trans_id,
        )
        self.store.add(refund, key)
        self.notify(events.REFUND_CREATED, refund, amount_minor)
        return transaction_response(1, trans=refund, ref_trans_id=original.trans_id)

    def _referenced(
        self, tx: _Request, missing_reason: int = 33
    ) -> tuple[Transaction | None, dict[str, object]]:
        """The transaction ``refTransId`` names, or the reply refusing the request."""
        ref = tx.get("refTransId")
        if not ref:
            if missing_reason == 33:
                return None, transaction_response(33, field="refTransId")
            return None, transaction_response(missing_reason)
        trans = self.store.get(str(ref))
        if trans is None:
            return None, transaction_response(16)
        return trans, {}


def _auth_status(response_code: int, capture: bool, amount_minor: int) -> tuple[str, int]:
    """(transactionStatus, settled minor units) of a new authorization."""
    if response_code == codes.DECLINED:
        return store.DECLINED, 0
    if response_code == codes.HELD:
        return store.HELD, 0
    if response_code == codes.PAYER_CONSENT:
        return store.AWAITING_PAYER, 0
    if capture:
        return store.CAPTURED, amount_minor
    return store.AUTHORIZED, 0


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _card(payment: object, *, masked_ok: bool = False) -> outcomes.CardInput | None:
    """The card a ``payment`` element carries (an Accept.js nonce stands for a test card)."""
    if not isinstance(payment, Mapping):
        return None
    card = payment.get("creditCard")
    if isinstance(card, Mapping):
        number = str(card.get("cardNumber", ""))
        if masked_ok:
            number = number.removeprefix(MASK)
        code = str(card.get("cardCode", ""))
        return outcomes.CardInput(number, str(card.get("expirationDate", "")), code)
    opaque = payment.get("opaqueData")
    if isinstance(opaque, Mapping) and not masked_ok:
        number = outcomes.card_for_token(str(opaque.get("dataValue", "")))
        return outcomes.CardInput(number, "2099-12", "")
    return None


def _order(tx: _Request) -> tuple[str, str]:
    order = tx.get("order") or {}
    return str(order.get("invoiceNumber", "")), str(order.get("description", ""))


def _setting(tx: _Request, name: str) -> str | None:
    """A ``transactionSettings`` value (JSON sends ``setting`` as one object or a list)."""
    settings = (tx.get("transactionSettings") or {}).get("setting")
    for item in settings if isinstance(settings, list) else [settings]:
        if isinstance(item, Mapping) and item.get("settingName") == name:
            value = item.get("settingValue")
            return None if value is None else str(value)
    return None
