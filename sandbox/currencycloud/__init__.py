"""A simulated Currencycloud (v2): login tokens, rates, conversions, beneficiaries, payments.

Mounted by the sandbox server under ``/currencycloud``; ``make_sim`` is the registry's
factory. Modules: ``sim`` (routing, token check, sandbox controls, faults, snapshots),
``auth`` (login, token idle expiry, failed-login lockout), ``rates`` (the fixed mid-market
table, spread and rounding), ``conversions``, ``payments``, ``beneficiaries`` with
``bank_rules`` (required bank details and their checks), ``wire`` (form bodies, error
shapes, money). Choices where the real API could not be confirmed are written in each
module's docstring.
"""

from __future__ import annotations

from sandbox.config import SandboxConfig
from sandbox.core import ProviderSim
from sandbox.currencycloud.sim import CurrencycloudSim

__all__ = ["CurrencycloudSim", "make_sim"]


def make_sim(config: SandboxConfig) -> ProviderSim:
    """The Currencycloud simulator for one sandbox process."""
    return CurrencycloudSim(config)
