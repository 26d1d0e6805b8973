"""The Transaction Reporting API: getTransactionDetails and getUnsettledTransactionList.

Shapes follow the XSD's transactionDetailsType and transactionSummaryType (key order
included); ``responseCode`` and ``responseReasonCode`` are JSON numbers here, unlike in
createTransaction replies, and money (``authAmount``, ``settleAmount``) is a JSON number in
the currency's major unit, both as the real API sends them. Neither reply carries a currency
code (the merchant account has one), and the details of a transaction do not list its
refunds: each refund is its own transaction with ``refTransId`` naming the original.

The simulator never settles, so every transaction stays in the unsettled list (the real
gateway moves them out at the daily batch cut-off). The list is in submission order; the
``sorting`` element can reverse it, and ``paging`` (limit 1-1000, offset = page number from 1)
slices it. Without ``paging`` the first 1000 are returned, like the real API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

from sandbox.authorizenet import codes, replies, store
from sandbox.authorizenet.store import Store, Transaction
from sandbox.authorizenet.transactions import MASK, masked
from sandbox.core import SimResponse
from svc_kit.currencies import exponent

MAX_PAGE: Final = 1000
_MOUNTAIN: Final = timedelta(hours=-7)
"""Authorize.net reports ``submitTimeLocal`` in the merchant's zone; the sandbox merchant is
in Mountain Standard Time, Authorize.net's own default."""
_PENDING_APPROVAL: Final = frozenset({store.HELD})


def major(minor: int, currency: str) -> Decimal:
    """Minor units as the decimal number Authorize.net reports (1050 USD -> 10.50)."""
    return Decimal(minor).scaleb(-exponent(currency))


def _times(trans: Transaction) -> tuple[str, str]:
    utc = trans.submitted_utc
    local = utc + _MOUNTAIN
    return (
        utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z",
        local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}",
    )


def details(trans: Transaction) -> dict[str, object]:
    """One transaction as getTransactionDetails reports it."""
    submitted_utc, submitted_local = _times(trans)
    body: dict[str, object] = {"transId": trans.trans_id}
    if trans.ref_trans_id:
        body["refTransId"] = trans.ref_trans_id
    body |= {
        "submitTimeUTC": submitted_utc,
        "submitTimeLocal": submitted_local,
        "transactionType": trans.transaction_type,
        "transactionStatus": trans.status,
        "responseCode": trans.response_code,
        "responseReasonCode": trans.reason_code,
        "responseReasonDescription": codes.DETAIL_DESCRIPTIONS.get(
            trans.reason_code, codes.reason_text(trans.reason_code, field="field")
        ),
    }
    if trans.auth_code:
        body["authCode"] = trans.auth_code
    body["AVSResponse"] = "Y" if trans.zip_code else "P"
    if trans.invoice_number or trans.description:
        body["order"] = {
            "invoiceNumber": trans.invoice_number,
            "description": trans.description,
        }
    body |= {
        "authAmount": major(trans.auth_minor, trans.currency),
        "settleAmount": major(trans.settle_minor, trans.currency),
        "taxExempt": False,
        "payment": {
            "creditCard": {
                "cardNumber": masked(trans.last4),
                "expirationDate": MASK,
                "cardType": trans.card_type,
            }
        },
    }
    if trans.zip_code:
        body["billTo"] = {"zip": trans.zip_code}
    body |= {"recurringBilling": False, "product": "Card Not Present", "marketType": "eCommerce"}
    return body


def summary(trans: Transaction) -> dict[str, object]:
    """One transaction as getUnsettledTransactionList reports it."""
    submitted_utc, submitted_local = _times(trans)
    if trans.status in (store.CAPTURED, store.REFUND_PENDING):
        amount = trans.settle_minor
    elif trans.status in (store.AUTHORIZED, store.HELD, store.AWAITING_PAYER):
        amount = trans.auth_minor
    else:
        amount = 0
    body: dict[str, object] = {
        "transId": trans.trans_id,
        "submitTimeUTC": submitted_utc,
        "submitTimeLocal": submitted_local,
        "transactionStatus": trans.status,
    }
    if trans.invoice_number:
        body["invoiceNumber"] = trans.invoice_number
    body |= {
        "accountType": trans.card_type,
        "accountNumber": masked(trans.last4),
        "settleAmount": major(amount, trans.currency),
        "marketType": "eCommerce",
        "product": "Card Not Present",
    }
    return body


class Reports:
    """The two reporting methods over one merchant account."""

    def __init__(self, accounts: Store) -> None:
        self.store = accounts

    def transaction_details(self, request: Mapping[str, Any], ref_id: str | None) -> SimResponse:
        """getTransactionDetailsRequest -> the transaction, or E00040 for an unknown id."""
        trans = self.store.get(str(request["transId"]))
        if trans is None:
            return replies.api_error(codes.NOT_FOUND, ref_id)
        return replies.ok_reply({"transaction": details(trans)}, ref_id)

    def unsettled(self, request: Mapping[str, Any], ref_id: str | None) -> SimResponse:
        """getUnsettledTransactionListRequest -> one page of summaries, newest last by default."""
        paging = request.get("paging") or {"limit": MAX_PAGE, "offset": 1}
        limit, page = int(paging["limit"]), int(paging["offset"])
        if not 1 <= limit <= MAX_PAGE or page < 1:
            name, value = ("limit", limit) if not 1 <= limit <= MAX_PAGE else ("offset", page)
            return replies.api_error(
                (
                    codes.SCHEMA_ERROR,
                    f"The '{codes.NAMESPACE}:{name}' element is invalid - The value '{value}'"
                    " is invalid according to its datatype 'Int' - The MinInclusive or"
                    " MaxInclusive constraint failed.",
                )
            )
        sorting = request.get("sorting") or {}
        descending = str(sorting.get("orderDescending", "false")).lower() == "true"
        pending_only = request.get("status") == "pendingApproval"
        ordered = (
            list(self.store.newest_first())
            if descending
            else list(self.store.transactions.values())
        )
        if pending_only:
            ordered = [trans for trans in ordered if trans.status in _PENDING_APPROVAL]
        start = (page - 1) * limit
        body: dict[str, object] = {}
        window = ordered[start : start + limit]
        if window:
            body["transactions"] = [summary(trans) for trans in window]
        body["totalNumInResultSet"] = len(ordered)
        return replies.ok_reply(body, ref_id)
