"""Helpers for the Stripe simulator's unit tests: requests straight into ``handle``.

Holds no tests; it is named like them so it sits with the Stripe simulator's test files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest
from sandbox.stripe import StripeSim, make_sim

CONFIG = SandboxConfig(public_url="https://127.0.0.1:8443")
BEARER = f"Bearer {CONFIG.stripe_secret_key}"
VISA = "4242424242424242"
NEXT_YEARS = dt.datetime.now(dt.UTC).year + 3

Form = Mapping[str, object] | Sequence[tuple[str, object]]


@dataclass(frozen=True)
class Reply:
    """One answer: status, parsed JSON (or None), headers, the exact bytes."""

    status: int
    body: Any
    headers: Mapping[str, str]
    raw: bytes

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of an error reply."""
        error: dict[str, Any] = self.body["error"]
        return error


def new_sim() -> StripeSim:
    return make_sim(CONFIG)


async def send(
    sim: StripeSim,
    method: str,
    path: str,
    form: Form | None = None,
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: str | None = BEARER,
) -> Reply:
    all_headers = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
    if auth is not None:
        all_headers["authorization"] = auth
    body = urlencode(list(form.items()) if isinstance(form, Mapping) else list(form or [])).encode()
    reply = await sim.handle(SimRequest(method, path, query or {}, all_headers, body))
    parsed = None
    if reply.headers.get("content-type", "").startswith("application/json"):
        parsed = json.loads(reply.body)
    return Reply(reply.status, parsed, reply.headers, reply.body)


def intent_form(**fields: object) -> dict[str, object]:
    """A create-and-confirm form: 10.00 USD, manual capture, pm_card_visa, unless overridden."""
    form: dict[str, object] = {
        "amount": 1000,
        "currency": "usd",
        "confirm": "true",
        "capture_method": "manual",
        "payment_method": "pm_card_visa",
    }
    form.update(fields)
    return {key: value for key, value in form.items() if value is not None}


def card_form(number: str = VISA, **fields: object) -> dict[str, object]:
    """A create-and-confirm form paying with raw card data."""
    card: dict[str, object] = {
        "payment_method_data[type]": "card",
        "payment_method_data[card][number]": number,
        "payment_method_data[card][exp_month]": 12,
        "payment_method_data[card][exp_year]": NEXT_YEARS,
        "payment_method_data[card][cvc]": "123",
    }
    card.update(fields)
    return intent_form(payment_method=None, **card)


async def create(
    sim: StripeSim,
    form: Form | None = None,
    *,
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """``POST /v1/payment_intents`` (``intent_form()`` by default), with an idempotency key."""
    all_headers = {**(headers or {}), **({"idempotency-key": key} if key else {})}
    body = intent_form() if form is None else form
    return await send(sim, "POST", "/v1/payment_intents", body, headers=all_headers)


async def authorized(sim: StripeSim, amount: int = 1000, currency: str = "usd") -> str:
    """A PaymentIntent in requires_capture; its id."""
    reply = await create(sim, intent_form(amount=amount, currency=currency))
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "requires_capture"
    return str(reply.body["id"])


async def captured(sim: StripeSim, amount: int = 1000) -> str:
    """A PaymentIntent captured in full at once; its id."""
    reply = await create(sim, intent_form(amount=amount, capture_method="automatic"))
    assert reply.body["status"] == "succeeded", reply.body
    return str(reply.body["id"])


def action_params(url: str) -> dict[str, str]:
    """The query of a 3DS action URL, single-valued."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
