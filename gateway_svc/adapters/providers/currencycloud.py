"""Currencycloud (v2): FX quotes, conversions, beneficiaries and payouts, in the domain's terms.

Pointing this adapter at the real Currencycloud is configuration only
(``HttpConfig.base_url = "https://devapi.currencycloud.com"`` for the demo environment,
``https://api.currencycloud.com`` for production, and the account's login id and API key).

    get_rate              GET  /v2/rates/detailed
    create_conversion     POST /v2/conversions/create      (unique_request_id)
    get_conversion        GET  /v2/conversions/{id}
    find_conversion       GET  /v2/conversions/find?unique_request_id=
    validate_beneficiary  POST /v2/beneficiaries/validate
    create_beneficiary    POST /v2/beneficiaries/create    (beneficiary_external_reference)
    get_beneficiary       GET  /v2/beneficiaries/{id}
    find_beneficiary      GET  /v2/beneficiaries/find?beneficiary_external_reference=
    delete_beneficiary    POST /v2/beneficiaries/{id}/delete
    create_payment        POST /v2/payments/create         (unique_request_id)
    get_payment           GET  /v2/payments/{id}?with_deleted=true
    find_payment          GET  /v2/payments/find?unique_request_id=&with_deleted=true
    cancel_payment        POST /v2/payments/{id}/delete

Idempotency. Every create is keyed by our request id: ``unique_request_id`` (conversions,
payments) or ``beneficiary_external_reference`` (beneficiaries have no request id at
Currencycloud), derived deterministically (``currencycloud_wire.provider_request_id``). A
retried create therefore never makes a second object:

- conversions and payments: Currencycloud refuses a used ``unique_request_id`` with
  ``duplicate_request``; the adapter then finds what the id created (``find_*``) and returns
  it when its terms are the ones asked for, else raises the refusal (INVALID: the request id
  was reused for something else). The paymesh sandbox answers an identical retry with the
  original object directly; either way the caller gets the one object.
- beneficiaries: ``create_beneficiary`` first looks for a beneficiary with the reference and
  returns it when found. Two concurrent creates under one request id could both miss; the
  gateway's own idempotency (one in-flight execution per key) prevents that.
- ``find_*`` are the reconciliation lookups after an UNKNOWN outcome (a timeout after
  sending): they read, never create.

Session, re-login and lockout guard: ``currencycloud_auth``. The two repeats the adapter makes
itself (401 re-login, 429 backoff): ``currencycloud_transport``. Errors: ``currencycloud_errors``
(one table). Amounts: ``currencycloud_money``. JSON: ``currencycloud_wire``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway_svc.adapters.providers.currencycloud_auth import SessionTokens
from gateway_svc.adapters.providers.currencycloud_errors import is_duplicate_request
from gateway_svc.adapters.providers.currencycloud_money import to_amount, unreadable
from gateway_svc.adapters.providers.currencycloud_transport import (
    Params,
    RetryPolicy,
    Transport,
)
from gateway_svc.adapters.providers.currencycloud_wire import (
    beneficiary_form,
    beneficiary_view,
    conversion_view,
    payout_view,
    provider_request_id,
    rate_quote,
)
from gateway_svc.adapters.providers.http import HttpConfig, make_client
from gateway_svc.domain.fx_provider import (
    BeneficiaryDetails,
    BeneficiaryView,
    ConversionTerms,
    ConversionView,
    FixedSide,
    PayoutRequest,
    PayoutView,
    RateQuote,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError

_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True, slots=True)
class CurrencycloudConfig:
    """How to reach one Currencycloud account; the API key never appears in ``repr``."""

    http: HttpConfig
    login_id: str
    api_key: str = field(repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_failed_logins: int = 3
    """Failed logins in a row before the adapter stops trying (Currencycloud locks at 4)."""
    login_cooldown_s: float | None = None
    """None: after ``max_failed_logins`` no login until restart (see currencycloud_auth)."""


class CurrencycloudClient:
    """The Currencycloud adapter: one pooled client, one shared session token."""

    def __init__(
        self,
        config: CurrencycloudConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._config = config
        self._client = make_client(config.http, transport=transport)
        self.tokens = SessionTokens(
            self._client,
            config.login_id,
            config.api_key,
            max_failed_logins=config.max_failed_logins,
            cooldown_s=config.login_cooldown_s,
            clock=clock,
        )
        self.transport = Transport(
            self._client, self.tokens, config.retry, sleep=sleep or asyncio.sleep
        )

    async def get_rate(
        self, buy_currency: str, sell_currency: str, fixed_side: FixedSide, amount_minor: int
    ) -> RateQuote:
        """A quote for ``amount_minor`` of the fixed side's currency (nothing is booked)."""
        fixed_currency = buy_currency if fixed_side is FixedSide.BUY else sell_currency
        params = [
            ("buy_currency", buy_currency),
            ("sell_currency", sell_currency),
            ("fixed_side", fixed_side.value),
            ("amount", to_amount(amount_minor, fixed_currency)),
        ]
        return rate_quote(
            _object(await self.transport.call("GET", "/v2/rates/detailed", params=params))
        )

    async def create_conversion(self, terms: ConversionTerms, request_id: str) -> ConversionView:
        """Book a conversion at the current rate (idempotent under ``request_id``)."""
        unique = provider_request_id("conversion", request_id)
        form = [
            ("buy_currency", terms.buy_currency),
            ("sell_currency", terms.sell_currency),
            ("fixed_side", terms.fixed_side.value),
            ("amount", to_amount(terms.amount_minor, terms.amount_currency)),
            ("term_agreement", "true"),
            ("unique_request_id", unique),
        ]
        if terms.reason:
            form.append(("reason", terms.reason))
        try:
            body = await self.transport.call("POST", "/v2/conversions/create", form=form)
        except ProviderError as error:
            if not is_duplicate_request(error):
                raise
            found = await self._find_conversion(unique)
            if found is None or not _same_conversion(found, terms):
                raise
            return found
        return conversion_view(_object(body))

    async def get_conversion(self, conversion_id: str) -> ConversionView:
        """The conversion as Currencycloud holds it now."""
        body = await self.transport.call("GET", f"/v2/conversions/{_path_id(conversion_id)}")
        return conversion_view(_object(body))

    async def find_conversion(self, request_id: str) -> ConversionView | None:
        """The conversion ``create_conversion(…, request_id)`` made, or None (reads only)."""
        return await self._find_conversion(provider_request_id("conversion", request_id))

    async def validate_beneficiary(self, details: BeneficiaryDetails) -> BeneficiaryView:
        """Currencycloud's verdict on bank details, without saving anything."""
        form = beneficiary_form(details)
        body = await self.transport.call("POST", "/v2/beneficiaries/validate", form=form)
        return beneficiary_view(_object(body))

    async def create_beneficiary(
        self, details: BeneficiaryDetails, request_id: str
    ) -> BeneficiaryView:
        """Register a beneficiary (idempotent under ``request_id``: see the docstring)."""
        existing = await self.find_beneficiary(request_id)
        if existing is not None:
            return existing
        reference = provider_request_id("beneficiary", request_id)
        form = beneficiary_form(details, reference)
        body = await self.transport.call("POST", "/v2/beneficiaries/create", form=form)
        return beneficiary_view(_object(body))

    async def get_beneficiary(self, beneficiary_id: str) -> BeneficiaryView:
        """The beneficiary; ProviderNotFound once deleted."""
        body = await self.transport.call("GET", f"/v2/beneficiaries/{_path_id(beneficiary_id)}")
        return beneficiary_view(_object(body))

    async def find_beneficiary(self, request_id: str) -> BeneficiaryView | None:
        """The beneficiary ``create_beneficiary(…, request_id)`` made, or None (reads only)."""
        reference = provider_request_id("beneficiary", request_id)
        params = [("beneficiary_external_reference", reference)]
        body = await self.transport.call("GET", "/v2/beneficiaries/find", params=params)
        found = _listed(body, "beneficiaries")
        return beneficiary_view(found[0]) if found else None

    async def delete_beneficiary(self, beneficiary_id: str) -> BeneficiaryView:
        """Delete the beneficiary; answers its last state."""
        path = f"/v2/beneficiaries/{_path_id(beneficiary_id)}/delete"
        return beneficiary_view(_object(await self.transport.call("POST", path, form=[])))

    async def create_payment(self, payout: PayoutRequest, request_id: str) -> PayoutView:
        """Send a payout (idempotent under ``request_id``)."""
        unique = provider_request_id("payment", request_id)
        form = _payment_form(payout, unique)
        try:
            body = await self.transport.call("POST", "/v2/payments/create", form=form)
        except ProviderError as error:
            if not is_duplicate_request(error):
                raise
            found = await self._find_payment(unique)
            if found is None or not _same_payment(found, payout):
                raise
            return found
        return payout_view(_object(body))

    async def get_payment(self, payment_id: str) -> PayoutView:
        """The payout as Currencycloud holds it now (cancelled ones included)."""
        path = f"/v2/payments/{_path_id(payment_id)}"
        body = await self.transport.call("GET", path, params=[("with_deleted", "true")])
        return payout_view(_object(body))

    async def find_payment(self, request_id: str) -> PayoutView | None:
        """The payout ``create_payment(…, request_id)`` made, or None (reads only)."""
        return await self._find_payment(provider_request_id("payment", request_id))

    async def cancel_payment(self, payment_id: str) -> PayoutView:
        """Cancel a payout still PENDING; a refusal (already sent) is a ProviderValidationError."""
        path = f"/v2/payments/{_path_id(payment_id)}/delete"
        return payout_view(_object(await self.transport.call("POST", path, form=[])))

    async def aclose(self) -> None:
        """Retire the session (best effort) and close the connection pool."""
        try:
            await self.tokens.close()
        finally:
            await self._client.aclose()

    async def _find_conversion(self, unique: str) -> ConversionView | None:
        params = [("unique_request_id", unique)]
        body = await self.transport.call("GET", "/v2/conversions/find", params=params)
        found = _listed(body, "conversions")
        return conversion_view(found[0]) if found else None

    async def _find_payment(self, unique: str) -> PayoutView | None:
        params = [("unique_request_id", unique), ("with_deleted", "true")]
        body = await self.transport.call("GET", "/v2/payments/find", params=params)
        found = _listed(body, "payments")
        return payout_view(found[0]) if found else None


def _payment_form(payout: PayoutRequest, unique: str) -> Params:
    form = [
        ("currency", payout.currency),
        ("beneficiary_id", _path_id(payout.beneficiary_id)),
        ("amount", to_amount(payout.amount_minor, payout.currency)),
        ("reason", payout.reason),
        ("reference", payout.reference),
        ("payment_type", payout.payment_type.value),
        ("unique_request_id", unique),
    ]
    if payout.conversion_id:
        form.append(("conversion_id", _path_id(payout.conversion_id)))
    return form


def _same_conversion(found: ConversionView, terms: ConversionTerms) -> bool:
    amount = (
        found.buy_amount_minor if terms.fixed_side is FixedSide.BUY else found.sell_amount_minor
    )
    return (found.buy_currency, found.sell_currency, found.fixed_side, amount) == (
        terms.buy_currency,
        terms.sell_currency,
        terms.fixed_side,
        terms.amount_minor,
    )


def _same_payment(found: PayoutView, payout: PayoutRequest) -> bool:
    return (found.beneficiary_id, found.currency, found.amount_minor, found.reference) == (
        payout.beneficiary_id,
        payout.currency,
        payout.amount_minor,
        payout.reference,
    )


def _path_id(value: str) -> str:
    """An id safe to put in a path (Currencycloud's are UUIDs); refused before any I/O."""
    if not _ID.match(value):
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.PROVIDER_REJECTED,
            "not a Currencycloud id",
            raw_code="INVALID_ID",
            sent=False,
        )
    return value


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise unreadable("the reply is not a JSON object")
    return body


def _listed(body: Any, key: str) -> list[Mapping[str, Any]]:
    items = _object(body).get(key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise unreadable(f"the find reply has no {key} list")
    return items
