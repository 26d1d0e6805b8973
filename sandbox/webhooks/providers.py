"""The five callback schemes by provider name: each one's signer and whether it is timestamped."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sandbox.webhooks import authorizenet, currencycloud, paypal, razorpay, stripe
from sandbox.webhooks.events import Event
from sandbox.webhooks.wire import Signing

Signer = Callable[[Event, Signing], dict[str, str]]

_MODULES = (stripe, authorizenet, razorpay, paypal, currencycloud)

SIGNERS: Mapping[str, Signer] = {module.NAME: module.sign for module in _MODULES}
"""Provider name -> the function making one attempt's signature headers."""

TIMESTAMPED: frozenset[str] = frozenset(m.NAME for m in _MODULES if m.TIMESTAMPED)
"""The schemes that carry a time (``stale`` mode means something only for these)."""
