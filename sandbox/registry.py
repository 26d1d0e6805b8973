"""Which simulators exist: provider name -> the factory that builds it.

Each provider package exports ``make_sim(config: SandboxConfig) -> ProviderSim``. A provider
whose package does not exist yet (no ``__init__.py``) is skipped (the caller warns), so the sandbox
runs while simulators are still being written; an existing package that fails to import is
an error, raised as is, because silently serving without it would look like a network fault.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable

from sandbox.config import SandboxConfig
from sandbox.core import ProviderSim

SimFactory = Callable[[SandboxConfig], ProviderSim]

PROVIDERS: dict[str, str] = {
    "stripe": "sandbox.stripe:make_sim",
    "authorizenet": "sandbox.authorizenet:make_sim",
    "razorpay": "sandbox.razorpay:make_sim",
    "paypal": "sandbox.paypal:make_sim",
    "currencycloud": "sandbox.currencycloud:make_sim",
}


TEST_PROVIDERS: dict[str, str] = {
    "echo": "sandbox.testing:EchoSim",
}
"""Mounted only when named (``--providers echo``): stand-ins for tests of the host itself."""


class UnknownProvider(ValueError):
    """A provider name that is not in PROVIDERS."""


def load_factories(
    names: Iterable[str] | None = None,
) -> tuple[dict[str, SimFactory], list[str]]:
    """(factories by name, names skipped because their package does not exist).

    ``names`` defaults to every provider in PROVIDERS (TEST_PROVIDERS only when named). Raises
    UnknownProvider for a name in neither, and whatever an existing package raises on import.
    """
    chosen = list(PROVIDERS if names is None else names)
    known = PROVIDERS | TEST_PROVIDERS
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UnknownProvider(f"unknown provider {unknown[0]!r}; known: {', '.join(known)}")
    factories: dict[str, SimFactory] = {}
    missing: list[str] = []
    for name in chosen:
        module_name, _, attribute = known[name].partition(":")
        if not _package_exists(module_name):
            missing.append(name)
            continue
        factory = getattr(importlib.import_module(module_name), attribute)
        if not callable(factory):
            raise TypeError(f"{known[name]} is not callable")
        factories[name] = factory
    return factories, missing


def _package_exists(module_name: str) -> bool:
    """True once the package has its ``__init__.py``: a bare directory (a namespace package,
    ``spec.origin`` None) is a simulator still being written, whose ``__init__`` comes last.
    find_spec only looks, so an ImportError inside an existing package surfaces on import."""
    spec = importlib.util.find_spec(module_name)
    return spec is not None and spec.origin is not None
