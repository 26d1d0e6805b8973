"""Stripe's error replies, built in one place so every refusal has Stripe's exact shape.

Every Stripe error body is ``{"error": {"type", "message", "code"?, "decline_code"?, "param"?,
"doc_url"?, ...}}``; ``type`` is one of ``api_error``, ``card_error``, ``idempotency_error``,
``invalid_request_error``. The HTTP status says the family: 400 invalid, 401 bad key, 402 card
error, 404 unknown object or URL, 409 idempotency conflict, 429 rate limited, 5xx Stripe's
fault.

``StripeError`` is raised for a refusal that changed nothing (shape, auth, unknown object, a
state that forbids the call). Stripe saves an idempotent result only once an endpoint "began
executing", so these are never replayed: a retry after fixing the cause runs again. Card
declines are not raised: they change state (a failed charge, ``last_payment_error``) and are
returned as ordinary replies, which the idempotency layer saves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.core import SimResponse

DOCS = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """A refusal answered with Stripe's error body; nothing was changed, nothing is saved."""

    def __init__(
        self, status: int, error: dict[str, object], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(str(error.get("message", "")))
        self.status = status
        self.error = error
        self.headers = dict(headers or {})

    def response(self) -> SimResponse:
        """The reply as Stripe sends it."""
        return SimResponse.of_json(self.status, {"error": self.error}, self.headers)


def error_body(
    kind: str,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    decline_code: str | None = None,
) -> dict[str, object]:
    """One ``error`` object, with only the keys Stripe includes for this kind of error."""
    body: dict[str, object] = {"message": message, "type": kind}
    if code is not None:
        body["code"] = code
        body["doc_url"] = DOCS + code.replace("_", "-")
    if decline_code is not None:
        body["decline_code"] = decline_code
    if param is not None:
        body["param"] = param
    return body


def invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    """An ``invalid_request_error`` (400 unless told otherwise)."""
    return StripeError(status, error_body("invalid_request_error", message, code=code, param=param))


def missing(param: str) -> StripeError:
    """A required parameter is absent."""
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def unknown_param(param: str) -> StripeError:
    """A parameter the endpoint does not take."""
    return invalid(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def no_such(kind: str, object_id: str, *, param: str | None = None) -> StripeError:
    """An object that does not exist: 404 for the URL's object, 400 for a parameter's."""
    message = f"No such {kind}: '{object_id}'"
    status = 400 if param is not None else 404
    return invalid(message, param=param, code="resource_missing", status=status)


def unrecognized_url(method: str, path: str) -> StripeError:
    """Stripe's answer to a path (or a method on it) it does not serve."""
    return invalid(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )


def unexpected_state(
    verb: str, participle: str, status: str, allowed: tuple[str, ...]
) -> StripeError:
    """A PaymentIntent call its current status forbids (``capture``/``captured`` ...)."""
    if len(allowed) == 1:
        rule = f"Only a PaymentIntent with status {allowed[0]} may be {participle}."
    else:
        rule = (
            f"Only a PaymentIntent with one of the following statuses may be {participle}: "
            + ", ".join(allowed)
            + "."
        )
    return invalid(
        f"You cannot {verb} this PaymentIntent because it has a status of {status}. {rule}",
        code="payment_intent_unexpected_state",
    )


@dataclass(frozen=True, slots=True)
class DeclineSpec:
    """What Stripe says for one way a card fails: ``code``, ``decline_code``, message, param."""

    code: str
    decline_code: str | None
    message: str
    param: str | None = None
    outcome_type: str = "issuer_declined"
    """The charge's ``outcome.type``: issuer_declined, blocked (Radar) or invalid."""


_DECLINED = "Your card was declined."

# Keyed by the simulator's behaviour names (sandbox/cards.py Outcome values for the shared ones).
# Codes, decline codes and messages are Stripe's documented ones for its test cards.
DECLINES: dict[str, DeclineSpec] = {
    "generic_decline": DeclineSpec("card_declined", "generic_decline", _DECLINED),
    "insufficient_funds": DeclineSpec(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "lost_card": DeclineSpec("card_declined", "lost_card", _DECLINED),
    "stolen_card": DeclineSpec("card_declined", "stolen_card", _DECLINED),
    "fraudulent": DeclineSpec("card_declined", "fraudulent", _DECLINED, outcome_type="blocked"),
    "expired_card": DeclineSpec(
        "expired_card", "expired_card", "Your card has expired.", "exp_month"
    ),
    "incorrect_cvc": DeclineSpec(
        "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc"
    ),
    "processing_error": DeclineSpec(
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "authentication_required": DeclineSpec(
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
    # Raised while the card itself is read, before any network sees it: no decline_code.
    "incorrect_number": DeclineSpec(
        "incorrect_number", None, "Your card number is incorrect.", "number", "invalid"
    ),
    "invalid_expiry_month": DeclineSpec(
        "invalid_expiry_month",
        None,
        "Your card's expiration month is invalid.",
        "exp_month",
        "invalid",
    ),
    "invalid_expiry_year": DeclineSpec(
        "invalid_expiry_year",
        None,
        "Your card's expiration year is invalid.",
        "exp_year",
        "invalid",
    ),
    "invalid_cvc": DeclineSpec(
        "invalid_cvc", None, "Your card's security code is invalid.", "cvc", "invalid"
    ),
}

AUTHENTICATION_FAILURE = error_body(
    "invalid_request_error",
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
    code="payment_intent_authentication_failure",
)
"""``last_payment_error`` after the payer failed 3D Secure."""


def card_error(spec: DeclineSpec) -> dict[str, object]:
    """The ``card_error`` object for a decline (the caller adds charge, payment_intent ...)."""
    return error_body(
        "card_error", spec.message, code=spec.code, param=spec.param, decline_code=spec.decline_code
    )


_FAULT_MESSAGES = {
    429: "Too many requests hit the API too quickly. We recommend an exponential backoff of "
    "your requests.",
    500: "An unknown error occurred",
    502: "An unknown error occurred",
    503: "Stripe is temporarily unavailable. Please try again later.",
    504: "The request timed out before Stripe could finish processing it.",
}


def fault_reply(status: int, retry_after_s: float | None) -> SimResponse:
    """Stripe's reply for a scripted 429 or 5xx.

    ``Stripe-Should-Retry`` is Stripe's own verdict: ``false`` on a 500 (its idempotency layer
    would replay the same 500, and the work may have been done), ``true`` on a 503 (nothing was
    done), absent otherwise, as Stripe leaves it absent when it has no opinion.
    """
    headers: dict[str, str] = {}
    if retry_after_s is not None:
        headers["retry-after"] = f"{retry_after_s:g}"
    if status == 429:
        body = error_body("invalid_request_error", _FAULT_MESSAGES[429], code="rate_limit")
    else:
        message = _FAULT_MESSAGES.get(status, "An unknown error occurred")
        body = error_body("api_error", message)
        if status == 500:
            headers["stripe-should-retry"] = "false"
        elif status == 503:
            headers["stripe-should-retry"] = "true"
    return SimResponse.of_json(status, {"error": body}, headers)
