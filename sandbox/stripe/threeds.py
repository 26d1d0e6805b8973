"""The payer's side of 3D Secure: the page an intent's ``next_action`` URL opens.

Real Stripe sends the payer to ``hooks.stripe.com`` and its test page offers "Complete" and
"Fail" buttons. The sandbox serves the same choice under its own URL (no API key: it is the
payer's browser that calls it)::

    GET  /stripe/3d_secure_2/hosted?payment_intent=pi_..&client_secret=..   the page
    POST /stripe/3d_secure_2/hosted   form: payment_intent, client_secret, outcome=complete|fail

Completing authorizes the intent (``requires_capture``, or ``succeeded`` when capture is
automatic); failing returns it to ``requires_payment_method`` with
``payment_intent_authentication_failure``. When the intent has a ``return_url`` the POST
redirects there with Stripe's ``payment_intent``, ``payment_intent_client_secret`` and
``redirect_status`` query parameters; otherwise it answers JSON.
"""

from __future__ import annotations

import hmac
from html import escape
from urllib.parse import urlencode

from sandbox.core import SimRequest, SimResponse
from sandbox.stripe.errors import StripeError, invalid, missing, no_such
from sandbox.stripe.intents import Intents
from sandbox.stripe.model import Intent, Store
from sandbox.stripe.params import nest, parse_pairs, query_params

PATH = "/3d_secure_2/hosted"
_OUTCOMES = ("complete", "fail")


def action_url(provider_url: str, intent: Intent) -> str:
    """Where the payer authenticates ``intent`` (``provider_url`` is ``<sandbox>/stripe``)."""
    query = urlencode({"payment_intent": intent.id, "client_secret": intent.client_secret})
    return f"{provider_url}{PATH}?{query}"


def handle(request: SimRequest, store: Store, intents: Intents) -> SimResponse:
    """Serve the page (GET) or the payer's choice (POST)."""
    try:
        if request.method == "GET":
            intent = _intent(query_params(request.query), store)
            return _page(intent)
        if request.method == "POST":
            params = nest(parse_pairs(request.body))
            intent = _intent(params, store)
            outcome = params.get("outcome")
            if outcome not in _OUTCOMES:
                raise invalid("outcome must be complete or fail", param="outcome")
            intents.authenticate(intent, outcome == "complete")
            return _finished(intent, outcome == "complete")
        raise invalid(f"Unrecognized request URL ({request.method}: {PATH}).", status=404)
    except StripeError as exc:
        return exc.response()


def _intent(params: dict[str, object], store: Store) -> Intent:
    intent_id = params.get("payment_intent")
    secret = params.get("client_secret")
    if not isinstance(intent_id, str):
        raise missing("payment_intent")
    if not isinstance(secret, str):
        raise missing("client_secret")
    intent = store.intents.get(intent_id)
    if intent is None or not hmac.compare_digest(secret, intent.client_secret):
        raise no_such("payment_intent", intent_id)
    return intent


def _page(intent: Intent) -> SimResponse:
    amount = f"{intent.amount} {intent.currency.upper()}"
    hidden = (
        f'<input type="hidden" name="payment_intent" value="{escape(intent.id)}">'
        f'<input type="hidden" name="client_secret" value="{escape(intent.client_secret)}">'
    )
    buttons = "".join(
        f'<form method="post">{hidden}<button name="outcome" value="{outcome}">'
        f"{outcome.title()} authentication</button></form>"
        for outcome in _OUTCOMES
    )
    html = (
        "<!doctype html><title>3D Secure 2 test page</title>"
        f"<h1>Paymesh sandbox: authenticate {escape(amount)}</h1>{buttons}"
    )
    return SimResponse(200, html.encode(), {"content-type": "text/html; charset=utf-8"})


def _finished(intent: Intent, passed: bool) -> SimResponse:
    status = "succeeded" if passed else "failed"
    if intent.return_url:
        query = urlencode(
            {
                "payment_intent": intent.id,
                "payment_intent_client_secret": intent.client_secret,
                "redirect_status": status,
            }
        )
        separator = "&" if "?" in intent.return_url else "?"
        return SimResponse(302, b"", {"location": f"{intent.return_url}{separator}{query}"})
    return SimResponse.of_json(
        200, {"payment_intent": intent.id, "status": intent.status, "redirect_status": status}
    )
