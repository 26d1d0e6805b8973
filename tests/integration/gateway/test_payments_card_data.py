"""No card number or CVC is stored or logged (PCI DSS 4.0.1; reliability.md, "Security").

Raw test cards go through the whole path over REST (an approval, a decline, a 3DS card, a
request refused by validation), then everything the gateway keeps is searched for them: every
row of its database, every log record any paymesh or gateway logger emitted meanwhile, and
Envoy's access log. Only the last four digits may appear. The sandbox is the provider here,
so what it receives is its own business and is not searched.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.integration.gateway.payments_support import Merchant, card, payment_body
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")

CARDS = {
    "4242424242424242": "731",  # approved
    "4000000000000002": "842",  # generic decline
    "4000002500003155": "953",  # 3DS required
}
BAD_EXPIRY = "4000000000009995"
"""Sent with an expiry in the past: refused by validation before any provider call."""


def _database_text(stack: GatewayStack) -> str:
    url = make_url(stack.parts.settings.database_url or "")
    assert url.database, "the gateway under test keeps a SQLite file"
    with sqlite3.connect(url.database) as db:
        return "\n".join(db.iterdump())


def _access_log(stack: GatewayStack) -> str:
    path = Path(stack.edge.config.access_log_path or "")
    assert path.is_file(), "the package's Envoy writes an access log"
    return path.read_text()


def _leaks(text: str) -> list[str]:
    found = [number for number in (*CARDS, BAD_EXPIRY) if number in text]
    for cvc in CARDS.values():
        # A CVC is three digits that may occur by chance; one next to a cvc-like key may not.
        if re.search(rf"(cvc|cvv|security_code|card_code)\W{{0,4}}{cvc}\b", text, re.I):
            found.append(f"cvc {cvc}")
    return found


async def test_no_card_number_or_cvc_reaches_the_database_or_the_logs(
    stack: GatewayStack, merchant: Merchant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for number, cvc in CARDS.items():
        method = card(number, cvc)
        reply = await merchant.create(payment_body(1_234, "USD", method, provider="stripe"))
        assert reply.status_code == 200, reply.text
        shown = reply.json()["payment"]["payment_method"]["card"]
        assert shown["last4"] == number[-4:]
        assert number not in reply.text
    expired = card(BAD_EXPIRY, "123")
    expired["card"]["exp_year"] = 2020
    refused = await merchant.create(payment_body(1_234, "USD", expired))
    assert refused.status_code == 400
    assert BAD_EXPIRY not in refused.text
    await stack.parts.payments.relay.drain()

    assert _leaks(_database_text(stack)) == []
    ours = [r for r in caplog.records if not r.name.startswith("sandbox")]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert _leaks(logged) == []
    assert _leaks(_access_log(stack)) == []
    # The test would see a leak: the last four digits are where they belong.
    assert "4242" in _database_text(stack)
