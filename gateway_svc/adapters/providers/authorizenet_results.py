"""Reading Authorize.net's replies into the gateway's types.

A createTransaction reply is read into ``TransactionResult`` (response code, reason code, ids,
masked card); the reporting API's transaction details into a ``ProviderCharge`` through
``STATUSES``, Authorize.net's ``transactionStatus`` words mapped to ``ChargeStatus``:

- authorizedPendingCapture -> AUTHORIZED; the capture and settlement states -> CAPTURED (with
  ``settleAmount`` as the captured amount); voided and expired -> CANCELED;
- declined, failedReview and the error states -> DECLINED (the reason code says why);
- the review states and anything unlisted -> PENDING (a person or a batch decides later);
- response code 5 (waiting for the payer) -> REQUIRES_ACTION, whatever the status word.

What the details cannot say: the currency (the merchant account has one; the adapter keeps
the one it sent in ``refs["currency"]``), the payer-approval URL (only the first reply has
it), and the refunds (each is its own transaction), so a fetched charge's ``refunded_minor``
is 0 and the gateway's own refund records stay authoritative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gateway_svc.adapters.providers import authorizenet_errors as errors
from gateway_svc.adapters.providers.authorizenet_wire import Json, first_message, to_minor
from gateway_svc.domain.providers import (
    ChargeStatus,
    Decline,
    DeclineCode,
    ErrorKind,
    ProviderCharge,
    ProviderError,
)

APPROVED: Final = "1"
DECLINED: Final = "2"
HELD: Final = "4"
PAYER_CONSENT: Final = "5"

_C = ChargeStatus
STATUSES: Final[dict[str, ChargeStatus]] = {
    "authorizedPendingCapture": _C.AUTHORIZED,
    "capturedPendingSettlement": _C.CAPTURED,
    "settledSuccessfully": _C.CAPTURED,
    "pendingSettlement": _C.CAPTURED,
    "pendingFinalSettlement": _C.CAPTURED,
    "updatingSettlement": _C.CAPTURED,
    "returnedItem": _C.CAPTURED,
    "chargeback": _C.CAPTURED,
    "chargebackReversal": _C.CAPTURED,
    "voided": _C.CANCELED,
    "expired": _C.CANCELED,
    "declined": _C.DECLINED,
    "failedReview": _C.DECLINED,
    "generalError": _C.DECLINED,
    "communicationError": _C.DECLINED,
    "settlementError": _C.DECLINED,
    "FDSPendingReview": _C.PENDING,
    "FDSAuthorizedPendingReview": _C.PENDING,
    "underReview": _C.PENDING,
    "approvedReview": _C.PENDING,
    "couldNotVoid": _C.PENDING,
    "authorizedPendingRelease": _C.PENDING,
}


@dataclass(frozen=True, slots=True)
class TransactionResult:
    """The parts of a ``transactionResponse`` the adapter acts on."""

    response_code: str
    reason: str
    trans_id: str
    ref_trans_id: str
    last4: str
    card_type: str
    action_url: str

    @property
    def raw_status(self) -> str:
        """Authorize.net's own words for the outcome, kept for support."""
        return f"responseCode {self.response_code}, reason {self.reason}"


def raise_api_error(reply: Json) -> None:
    """Raise the ProviderError an ``Error`` result means, if the reply is one."""
    result_code, code, text = first_message(reply)
    if result_code == "Ok":
        return
    translation = errors.for_message(code)
    detail = f": {errors.scrub(text)}" if text and code == "E00003" else ""
    raise ProviderError(
        translation.kind,
        translation.code,
        f"{translation.message} ({code or 'no code'}){detail}",
        raw_code=code,
        http_status=200,
    )


def read_transaction(reply: Json) -> TransactionResult:
    """The ``transactionResponse`` of a createTransaction reply.

    Raises the API-level error when the request was refused before any transaction.
    """
    body = reply.get("transactionResponse")
    response_code = str(body.get("responseCode", "")) if isinstance(body, dict) else ""
    if not isinstance(body, dict) or not response_code:
        raise_api_error(reply)
        raise ProviderError(
            ErrorKind.UNKNOWN,
            DeclineCode.UNKNOWN_OUTCOME,
            "Authorize.net's reply has no transaction result",
            http_status=200,
        )
    succeeded = response_code in (APPROVED, HELD, PAYER_CONSENT)
    listed = body.get("messages" if succeeded else "errors")
    first: Any = listed[0] if isinstance(listed, list) and listed else {}
    reason = str(first.get("code") or first.get("errorCode") or "")
    secure = body.get("secureAcceptance")
    return TransactionResult(
        response_code=response_code,
        reason=reason,
        trans_id=str(body.get("transId", "")),
        ref_trans_id=str(body.get("refTransID", "")),
        last4=str(body.get("accountNumber", ""))[-4:],
        card_type=str(body.get("accountType", "")),
        action_url=str(secure.get("SecureAcceptanceUrl", "")) if isinstance(secure, dict) else "",
    )


def failure(result: TransactionResult) -> ProviderError:
    """The error a failed transaction (response code 2 or 3) is, per the reason table."""
    translation = errors.for_reason(result.reason, result.response_code)
    return ProviderError(
        translation.kind,
        translation.code,
        f"{translation.message} (reason {result.reason or 'none'})",
        raw_code=result.reason,
        http_status=200,
    )


def decline_of(reason: str, response_code: str) -> Decline | None:
    """The Decline for a reason code whose row is a card decline, else None."""
    translation = errors.for_reason(reason, response_code)
    if translation.kind is not ErrorKind.DECLINED:
        return None
    return Decline(translation.code, translation.message, reason)


def charge_from_details(transaction: Json, currency: str) -> ProviderCharge:
    """A ProviderCharge from getTransactionDetails' ``transaction`` object."""
    word = str(transaction.get("transactionStatus", ""))
    response_code = str(transaction.get("responseCode", ""))
    reason = str(transaction.get("responseReasonCode", ""))
    status = STATUSES.get(word, ChargeStatus.PENDING)
    if response_code == PAYER_CONSENT:
        status = ChargeStatus.REQUIRES_ACTION
    try:
        authorized = to_minor(transaction.get("authAmount", 0), currency)
        settled = to_minor(transaction.get("settleAmount", 0), currency)
    except ValueError as exc:
        raise ProviderError(
            ErrorKind.RETRIABLE,
            DeclineCode.PROVIDER_UNAVAILABLE,
            f"Authorize.net reported an unreadable amount ({exc})",
            http_status=200,
        ) from None
    decline = None
    if status is ChargeStatus.DECLINED:
        decline = decline_of(reason, DECLINED) or Decline(
            DeclineCode.PROCESSING_ERROR, "The transaction failed at the processor.", reason
        )
    card = (transaction.get("payment") or {}).get("creditCard") or {}
    order = transaction.get("order") or {}
    return ProviderCharge(
        provider_ref=str(transaction.get("transId", "")),
        status=status,
        authorized_minor=authorized if status is not ChargeStatus.DECLINED else 0,
        captured_minor=settled if status is ChargeStatus.CAPTURED else 0,
        decline=decline,
        raw_status=word,
        refs=refs(str(card.get("cardNumber", ""))[-4:], str(card.get("cardType", "")), currency)
        | ({"invoice": str(order["invoiceNumber"])} if order.get("invoiceNumber") else {}),
    )


def refs(last4: str, card_type: str, currency: str) -> dict[str, str]:
    """What later calls need: the card's last four (refunds name the card by them), its
    type, and the currency the amounts are in."""
    return {"last4": last4, "card_type": card_type, "currency": currency}
