"""Stripe's error and decline codes in the gateway's terms: one table, one translation.

Stripe's error body is ``{"error": {"type", "code", "decline_code", "message", "param"}}``
(https://stripe.com/docs/error-codes, https://stripe.com/docs/declines/codes). ``CODES`` maps
a ``decline_code``, else a ``code``, else (for ``idempotency_error`` only) a ``type`` to a
``DeclineCode`` and an ``ErrorKind``; a body with none of them known falls back to its HTTP
status. How the kinds are chosen:

- every card error (HTTP 402, ``type: card_error``) is ``DECLINED``: the issuer or Stripe's
  card checks refused, so the adapter returns a DECLINED charge rather than raising. That
  includes ``processing_error`` and ``try_again_later``: Stripe reports them as declines of
  this attempt, and the gateway's routing may still choose another provider for a new one;
- request, key and state problems (400, 401, 403, 404) are ``INVALID``: our input or
  configuration is wrong, retrying the same call cannot help;
- ``rate_limit`` and ``lock_timeout`` (429) are ``RETRIABLE``: nothing was done;
- 5xx and other 429s come from ``http.shared_status_error`` (503 RETRIABLE, others UNKNOWN);
- ``idempotency_key_in_use`` (409) is ``UNKNOWN``: the first request with our key is still
  running at Stripe and may charge. Retrying the same key later is safe (it replays), but
  failing over to another provider is not, which is what RETRIABLE would allow.

``Stripe-Should-Retry`` is Stripe's own verdict and wins over the table where it is sent:
``true`` makes the error RETRIABLE (Stripe says nothing was done), ``false`` turns a RETRIABLE
5xx into UNKNOWN (Stripe's idempotency layer would replay the same failure; the work may have
happened). ``idempotency_key_in_use`` ignores it, for the reason above.

Messages are Stripe's (safe to show a merchant) with anything that looks like a card number or
an API key removed, and for 401/403 replaced altogether: no secret ever reaches an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from gateway_svc.adapters.providers.http import retry_after_s, shared_status_error
from gateway_svc.domain.providers import Decline, DeclineCode, ErrorKind, ProviderError


@dataclass(frozen=True, slots=True)
class Translation:
    """What one Stripe code means for the gateway."""

    code: DeclineCode
    kind: ErrorKind
    honour_retry_header: bool = True


_D = ErrorKind.DECLINED
_I = ErrorKind.INVALID
_R = ErrorKind.RETRIABLE
_C = DeclineCode


def _declines(code: DeclineCode, *raw: str) -> dict[str, Translation]:
    return dict.fromkeys(raw, Translation(code, _D))


def _invalid(code: DeclineCode, *raw: str) -> dict[str, Translation]:
    return dict.fromkeys(raw, Translation(code, _I))


CODES: dict[str, Translation] = {
    # Card declines (decline_code, or code for the card errors that have no decline_code).
    **_declines(
        _C.GENERIC_DECLINE,
        "generic_decline",
        "card_declined",
        "do_not_honor",
        "do_not_try_again",
        "call_issuer",
        "pickup_card",
        "restricted_card",
        "security_violation",
        "service_not_allowed",
        "stop_payment_order",
        "transaction_not_allowed",
        "not_permitted",
        "no_action_taken",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "new_account_information_available",
        "invalid_account",
        "card_not_supported",
        "card_velocity_exceeded",
        "withdrawal_count_limit_exceeded",
        "testmode_decline",
        "duplicate_transaction",
        "approve_with_id",
        "offline_pin_required",
        "online_or_offline_pin_required",
        "incorrect_pin",
        "invalid_pin",
        "pin_try_exceeded",
        "incorrect_zip",
        "card_decline_rate_limit_exceeded",
    ),
    **_declines(_C.INSUFFICIENT_FUNDS, "insufficient_funds"),
    **_declines(_C.EXPIRED_CARD, "expired_card", "invalid_expiry_month", "invalid_expiry_year"),
    **_declines(_C.INCORRECT_CVC, "incorrect_cvc", "invalid_cvc"),
    **_declines(_C.INCORRECT_NUMBER, "incorrect_number", "invalid_number"),
    **_declines(_C.LOST_CARD, "lost_card"),
    **_declines(_C.STOLEN_CARD, "stolen_card"),
    **_declines(_C.FRAUD_SUSPECTED, "fraudulent", "merchant_blacklist"),
    **_declines(
        _C.PROCESSING_ERROR,
        "processing_error",
        "try_again_later",
        "issuer_not_available",
        "reenter_transaction",
    ),
    **_declines(
        _C.AUTHENTICATION_REQUIRED,
        "authentication_required",
        "payment_intent_authentication_failure",
    ),
    **_declines(_C.CURRENCY_NOT_SUPPORTED, "currency_not_supported"),
    **_declines(_C.AMOUNT_INVALID, "invalid_amount"),
    # Requests Stripe refused: our input, configuration or the object's state.
    **_invalid(
        _C.PROVIDER_REJECTED,
        "parameter_missing",
        "parameter_invalid_integer",
        "parameter_invalid_empty",
        "parameter_invalid_string_blank",
        "parameter_invalid_string_empty",
        "parameter_unknown",
        "parameters_exclusive",
        "url_invalid",
        "resource_missing",
        "payment_intent_unexpected_state",
        "payment_method_unexpected_state",
        "charge_already_captured",
        "charge_not_refundable",
        "charge_expired_for_capture",
        "charge_disputed",
        "api_key_expired",
        "secret_key_required",
        "testmode_charges_only",
        "livemode_mismatch",
        "platform_api_key_expired",
        "account_invalid",
        "idempotency_error",
    ),
    **_invalid(
        _C.AMOUNT_INVALID,
        "amount_too_small",
        "amount_too_large",
        "invalid_charge_amount",
        "invalid_charge_amount_no_decimal_compatible",
        "charge_already_refunded",
        "charge_exceeds_source_limit",
        "balance_insufficient",
    ),
    "rate_limit": Translation(_C.RATE_LIMITED, _R),
    "lock_timeout": Translation(_C.PROVIDER_UNAVAILABLE, _R),
    "idempotency_key_in_use": Translation(
        _C.UNKNOWN_OUTCOME, ErrorKind.UNKNOWN, honour_retry_header=False
    ),
}

_PARAM_CODES = {
    "currency": _C.CURRENCY_NOT_SUPPORTED,
    "amount": _C.AMOUNT_INVALID,
    "amount_to_capture": _C.AMOUNT_INVALID,
}
"""A refusal naming these parameters says more than PROVIDER_REJECTED."""

_PAN = re.compile(r"\d{12,19}")
_KEY = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_\w*")


def safe_message(text: object) -> str:
    """Stripe's message with card-number-like digit runs and API keys removed."""
    return _KEY.sub("[key]", _PAN.sub("[number]", str(text or "")))[:500]


def raw_code(error: Mapping[str, object]) -> str:
    """Stripe's most specific code for an error: decline_code, else code, else type."""
    for name in ("decline_code", "code", "type"):
        value = error.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def lookup(error: Mapping[str, object]) -> Translation | None:
    """The table's entry for an error body, most specific code first."""
    for name in ("decline_code", "code"):
        value = error.get(name)
        if isinstance(value, str) and value in CODES:
            return _refined(CODES[value], error)
    if error.get("type") == "idempotency_error":
        return CODES["idempotency_error"]
    return None


def _refined(entry: Translation, error: Mapping[str, object]) -> Translation:
    param = error.get("param")
    if entry.code is _C.PROVIDER_REJECTED and isinstance(param, str) and param in _PARAM_CODES:
        return Translation(_PARAM_CODES[param], entry.kind, entry.honour_retry_header)
    return entry


def decline_of(error: Mapping[str, object]) -> Decline:
    """A card error (or an intent's ``last_payment_error``) as a normalized decline."""
    entry = lookup(error)
    code = entry.code if entry is not None and entry.kind is _D else _C.GENERIC_DECLINE
    return Decline(code, safe_message(error.get("message")), raw_code(error))


def error_of(response: httpx.Response, error: Mapping[str, object]) -> ProviderError:
    """The ``ProviderError`` for a non-2xx reply that is not a card decline."""
    status = response.status_code
    raw = raw_code(error) or str(status)
    shared = shared_status_error(response, raw)
    entry = lookup(error)
    if entry is None:
        if shared is not None:
            entry = Translation(shared.code, shared.kind)
        else:
            entry = _by_status(status, error)
    kind = entry.kind
    verdict = response.headers.get("stripe-should-retry")
    if entry.honour_retry_header and verdict == "true":
        kind = _R
    elif entry.honour_retry_header and verdict == "false" and kind is _R and status >= 500:
        kind = ErrorKind.UNKNOWN
    code = _C.UNKNOWN_OUTCOME if kind is ErrorKind.UNKNOWN and status >= 500 else entry.code
    if status in (401, 403):
        message = f"Stripe refused our API key or its permissions (HTTP {status})"
    else:
        message = f"Stripe: {safe_message(error.get('message')) or f'HTTP {status}'}"
    return ProviderError(
        kind,
        code,
        message,
        raw_code=raw,
        http_status=status,
        retry_after_s=retry_after_s(response) if kind is _R else None,
    )


def _by_status(status: int, error: Mapping[str, object]) -> Translation:
    if status == 402:
        return Translation(_C.GENERIC_DECLINE, _D)
    if status == 409:
        return Translation(_C.UNKNOWN_OUTCOME, ErrorKind.UNKNOWN, honour_retry_header=False)
    param = error.get("param")
    code = _PARAM_CODES.get(param, _C.PROVIDER_REJECTED) if isinstance(param, str) else None
    return Translation(code or _C.PROVIDER_REJECTED, _I)
