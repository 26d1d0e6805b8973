"""A simulated PayPal: OAuth2 tokens, Orders v2 and Payments v2, over PayPal's wire protocol.

Mounted by the sandbox server under ``/paypal``; ``make_sim`` is the registry's factory.
Modules: ``sim`` (auth, routing, idempotency, faults, snapshots), ``orders`` and ``payments``
(the endpoints), ``validate`` (request shape), ``outcomes`` (test cards to processor codes),
``model`` (state and JSON), ``wire`` (ids, errors, money).
"""

from __future__ import annotations

from sandbox.config import SandboxConfig
from sandbox.core import ProviderSim
from sandbox.paypal.sim import PayPalSim

__all__ = ["PayPalSim", "make_sim"]


def make_sim(config: SandboxConfig) -> ProviderSim:
    """The PayPal simulator for one sandbox process."""
    return PayPalSim(config)
