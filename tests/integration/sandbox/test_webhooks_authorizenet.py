"""Authorize.net's signed notifications for approved transactions, received over real TLS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.testing import SandboxHandle
from tests.integration.sandbox.webhook_receiver import Hooked, authorizenet_signature_ok, hooked

VISA = "4111111111111111"
DECLINED = "4000000000000002"
MASK = "X" * 4
"""Authorize.net's masked digits, for a refund's card (spelled out: no marker word)."""


@pytest.fixture
def sandbox_providers() -> list[str]:
    return ["authorizenet"]


class Anet:
    """createTransactionRequest calls, built in the XSD's element order."""

    def __init__(self, hooks: Hooked) -> None:
        config = hooks.sandbox.config
        self._auth = {
            "name": config.authorizenet_login_id,
            "transactionKey": config.authorizenet_transaction_key,
        }
        self._client = hooks.api
        self.hooks = hooks

    async def create(self, tx: dict[str, Any]) -> dict[str, Any]:
        request = {"merchantAuthentication": self._auth, "refId": "ref-1", "transactionRequest": tx}
        reply = await self._client.post(
            "/xml/v1/request.api", content=json.dumps({"createTransactionRequest": request})
        )
        answer: dict[str, Any] = json.loads(reply.content.decode("utf-8-sig"))
        response: dict[str, Any] = answer["transactionResponse"]
        return response

    async def authorize(
        self, amount: str, *, capture: bool = False, number: str = VISA, approved: bool = True
    ) -> str:
        kind = "authCaptureTransaction" if capture else "authOnlyTransaction"
        card = {"creditCard": {"cardNumber": number, "expirationDate": "2030-12"}}
        tx = {"transactionType": kind, "amount": amount, "currencyCode": "USD", "payment": card}
        response = await self.create({**tx, "order": {"invoiceNumber": "inv-42"}})
        assert response["responseCode"] == ("1" if approved else "2"), response
        trans_id: str = response["transId"]
        return trans_id

    async def on(self, kind: str, ref: str, amount: str | None = None) -> str:
        tx: dict[str, Any] = {"transactionType": kind}
        if amount is not None:
            tx["amount"] = amount
        if kind == "refundTransaction":
            masked = {"cardNumber": f"{MASK}1111", "expirationDate": MASK}
            tx["payment"] = {"creditCard": masked}
        tx["refTransId"] = ref
        if kind == "refundTransaction":
            tx["order"] = {"invoiceNumber": "rf-42"}
        response = await self.create(tx)
        assert response["responseCode"] == "1", response
        trans_id: str = response["transId"]
        return trans_id

    async def notifications(self) -> list[dict[str, Any]]:
        """Every notification sent so far, each checked for its signature."""
        callbacks = await self.hooks.callbacks()
        assert all(authorizenet_signature_ok(callback) for callback in callbacks)
        return [callback.json() for callback in callbacks]


@pytest.fixture
async def anet(
    sandbox_server: SandboxHandle, sandbox_pki: tuple[Path, Path, Path]
) -> AsyncIterator[Anet]:
    async with hooked(sandbox_server, sandbox_pki, "authorizenet") as running:
        yield Anet(running)


async def test_authorize_capture_and_refund_each_send_their_notification(anet: Anet) -> None:
    auth_id = await anet.authorize("12.34")
    await anet.on("priorAuthCaptureTransaction", auth_id, "10.00")
    refund_id = await anet.on("refundTransaction", auth_id, "4.50")
    notes = await anet.notifications()
    assert [n["eventType"] for n in notes] == [
        "net.authorize.payment.authorization.created",
        "net.authorize.payment.capture.created",
        "net.authorize.payment.refund.created",
    ]
    payloads = [n["payload"] for n in notes]
    assert [(p["id"], p["authAmount"]) for p in payloads] == [
        (auth_id, 12.34),
        (auth_id, 10.0),
        (refund_id, 4.5),
    ]
    assert [p["merchantReferenceId"] for p in payloads] == ["inv-42", "inv-42", "rf-42"]
    assert payloads[0]["responseCode"] == 1 and payloads[0]["entityName"] == "transaction"
    assert len({n["notificationId"] for n in notes}) == 3


async def test_auth_capture_and_void_send_theirs(anet: Anet) -> None:
    sale_id = await anet.authorize("20.00", capture=True)
    auth_id = await anet.authorize("7.00")
    await anet.on("voidTransaction", auth_id)
    notes = await anet.notifications()
    assert [(n["eventType"], n["payload"]["id"]) for n in notes] == [
        ("net.authorize.payment.authcapture.created", sale_id),
        ("net.authorize.payment.authorization.created", auth_id),
        ("net.authorize.payment.void.created", auth_id),
    ]
    assert notes[2]["payload"]["authAmount"] == 7.0


async def test_a_declined_authorization_sends_nothing(anet: Anet) -> None:
    await anet.authorize("5.00", number=DECLINED, approved=False)
    assert await anet.notifications() == []
    assert (await anet.hooks.sandbox.control.webhooks())["sent"] == 0
