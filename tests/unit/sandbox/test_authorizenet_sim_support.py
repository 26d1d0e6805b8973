"""Helpers for the Authorize.net simulator's unit tests (no tests here).

Requests are built in the XSD's key order, as a correct client would, and sent through
``handle`` directly; replies are checked for the BOM and decoded.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.authorizenet import AuthorizeNetSim
from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse

PUBLIC_URL = "https://sandbox.test:8443"
CONFIG = SandboxConfig(public_url=PUBLIC_URL)
AUTH = {"name": CONFIG.authorizenet_login_id, "transactionKey": CONFIG.authorizenet_transaction_key}
ENDPOINT = "/xml/v1/request.api"
VISA = "4111111111111111"
BOM = b"\xef\xbb\xbf"
MASK = "X" * 4
"""Authorize.net's four-X mask (spelled out so no marker word appears in the source)."""


class Clock:
    """A hand-wound monotonic clock for the duplicate window."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock | None = None) -> AuthorizeNetSim:
    return AuthorizeNetSim(CONFIG, clock or Clock())


async def send_raw(sim: AuthorizeNetSim, body: bytes, method: str = "POST") -> SimResponse:
    return await sim.handle(SimRequest(method, ENDPOINT, {}, {}, body))


def decode(response: SimResponse) -> dict[str, Any]:
    assert response.status == 200
    assert response.body.startswith(BOM)
    decoded: dict[str, Any] = json.loads(response.body[len(BOM) :])
    return decoded


async def send(sim: AuthorizeNetSim, payload: dict[str, Any]) -> dict[str, Any]:
    return decode(await send_raw(sim, json.dumps(payload).encode()))


def card(
    number: str = VISA, expiration: str = "2030-12", code: str | None = "123"
) -> dict[str, Any]:
    credit_card: dict[str, Any] = {"cardNumber": number, "expirationDate": expiration}
    if code is not None:
        credit_card["cardCode"] = code
    return {"creditCard": credit_card}


def auth_tx(
    amount: str = "100.00",
    *,
    capture: bool = False,
    payment: dict[str, Any] | None = None,
    invoice: str = "inv-1",
    zip_code: str = "",
    window: str | None = None,
    currency: str | None = "USD",
) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "transactionType": "authCaptureTransaction" if capture else "authOnlyTransaction",
        "amount": amount,
    }
    if currency is not None:
        tx["currencyCode"] = currency
    tx["payment"] = card() if payment is None else payment
    tx["order"] = {"invoiceNumber": invoice}
    if zip_code:
        tx["billTo"] = {"zip": zip_code}
    if window is not None:
        tx["transactionSettings"] = {
            "setting": {"settingName": "duplicateWindow", "settingValue": window}
        }
    return tx


def ref_tx(kind: str, ref: str, amount: str | None = None, **extra: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {"transactionType": kind}
    if amount is not None:
        tx["amount"] = amount
    if "payment" in extra:
        tx["payment"] = extra.pop("payment")
    tx["refTransId"] = ref
    tx.update(extra)
    return tx


def refund_tx(ref: str, amount: str, last4: str = "1111", invoice: str = "rf-1") -> dict[str, Any]:
    payment = {"creditCard": {"cardNumber": f"{MASK}{last4}", "expirationDate": MASK}}
    return ref_tx(
        "refundTransaction", ref, amount, payment=payment, order={"invoiceNumber": invoice}
    )


async def create(sim: AuthorizeNetSim, tx: dict[str, Any], ref_id: str = "ref-1") -> dict[str, Any]:
    request = {"merchantAuthentication": AUTH, "refId": ref_id, "transactionRequest": tx}
    return await send(sim, {"createTransactionRequest": request})


def result(reply: dict[str, Any]) -> tuple[str, str]:
    """(responseCode, reason code) of a createTransaction reply."""
    tx = reply["transactionResponse"]
    listed = tx.get("messages") or tx.get("errors")
    first = listed[0]
    return tx["responseCode"], first.get("code") or first.get("errorCode")


async def authorized(sim: AuthorizeNetSim, amount: str = "100.00", **kwargs: Any) -> str:
    """The transId of a fresh approved authorization."""
    reply = await create(sim, auth_tx(amount, **kwargs))
    assert result(reply) == ("1", "1"), reply
    trans_id: str = reply["transactionResponse"]["transId"]
    return trans_id


async def details(sim: AuthorizeNetSim, trans_id: str) -> dict[str, Any]:
    request = {"merchantAuthentication": AUTH, "transId": trans_id}
    return await send(sim, {"getTransactionDetailsRequest": request})


def state(sim: AuthorizeNetSim) -> dict[str, Any]:
    """The simulator's snapshot, typed for indexing."""
    snapshot = sim.snapshot()
    assert isinstance(snapshot, dict)
    return snapshot


def error_of(reply: dict[str, Any]) -> tuple[str, str]:
    """(code, text) of a reply's first API message."""
    message = reply["messages"]["message"][0]
    return message["code"], message["text"]
