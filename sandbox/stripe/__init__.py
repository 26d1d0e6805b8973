"""A stateful simulator of Stripe's PaymentIntents, Refunds and Search APIs.

It speaks Stripe's wire protocol (Bearer secret key, form-encoded bodies with bracket nesting,
Stripe's JSON objects, error bodies, statuses and ``Idempotency-Key``) so the gateway's Stripe
adapter talks to it exactly as to ``https://api.stripe.com``. Modules:

- ``sim``: authentication, routing, reply headers, ``fault_reply``, ``snapshot``, ``reset``;
- ``intents``: the PaymentIntent state machine (``intent_params``: what each endpoint takes);
  ``refunds``: refunds and charges;
- ``search``: the Search API subset ``lookup`` uses; ``threeds``: the payer's 3DS page;
- ``methods``: test tokens and raw cards; ``money``: currencies, amount rules and fee;
- ``idempotency``: saved replies; ``errors``: Stripe's error shapes and decline table;
- ``model``: the records; ``render``: their JSON and ``expand[]``; ``params``: form decoding.

Choices where the real API could not be confirmed are written in each module's docstring.
"""

from __future__ import annotations

from sandbox.config import SandboxConfig
from sandbox.stripe.sim import StripeSim


def make_sim(config: SandboxConfig) -> StripeSim:
    """The simulator the sandbox mounts at ``/stripe``."""
    return StripeSim(config)


__all__ = ["StripeSim", "make_sim"]
