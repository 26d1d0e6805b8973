"""The callback settings changeable at runtime, and the checks on what the control API sends.

``target`` (base URL, empty: off), the trust for an https target (``ca_file`` path or
``ca_pem`` text, neither: the default trust store), ``enabled``, and one ``Mode`` per
provider. Anything malformed raises ``InvalidSetting`` with the reason, which the control
API answers as 400, so a typo fails the test at the line that made it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from sandbox.webhooks.providers import SIGNERS, TIMESTAMPED

PROVIDERS: tuple[str, ...] = tuple(SIGNERS)
_FIELDS = ("target", "ca_file", "ca_pem", "enabled")


class InvalidSetting(ValueError):
    """A control request the sender cannot apply; ``str()`` says why."""


class Mode(StrEnum):
    """How a provider's callbacks are sent (the mode in force when the state changed)."""

    NORMAL = "normal"
    DUPLICATE = "duplicate"
    """Each event sent twice, same event id and body."""
    REVERSE = "reverse"
    """Held until a flush, then sent newest first (out of order)."""
    BAD_SIGNATURE = "bad_signature"
    """The signature corrupted (one bit of the MAC flipped)."""
    STALE = "stale"
    """Signed with a timestamp ten minutes old (timestamped schemes only)."""


@dataclass(frozen=True, slots=True)
class Trust:
    """What an https target's certificate must chain to."""

    ca_file: str = ""
    ca_pem: str = ""

    def context(self) -> ssl.SSLContext | bool:
        """httpx's ``verify``; InvalidSetting when the file or PEM cannot be loaded."""
        if not (self.ca_file or self.ca_pem):
            return True
        try:
            if self.ca_file:
                return ssl.create_default_context(cafile=self.ca_file)
            return ssl.create_default_context(cadata=self.ca_pem)
        except (OSError, ssl.SSLError, ValueError) as exc:
            source = f"ca_file {self.ca_file!r}" if self.ca_file else "ca_pem"
            raise InvalidSetting(f"{source} is not a loadable PEM CA bundle: {exc}") from None


@dataclass(slots=True)
class Settings:
    """The sender's current settings."""

    target: str
    trust: Trust
    enabled: bool = True
    modes: dict[str, Mode] = field(default_factory=lambda: dict.fromkeys(PROVIDERS, Mode.NORMAL))

    @property
    def active(self) -> bool:
        """True when state changes make callbacks (enabled, with a target)."""
        return self.enabled and bool(self.target)

    def to_json(self) -> dict[str, object]:
        """The settings as the control API shows them (the PEM text itself is not echoed)."""
        return {
            "target": self.target,
            "ca_file": self.trust.ca_file,
            "ca_pem": bool(self.trust.ca_pem),
            "enabled": self.enabled,
            "active": self.active,
            "modes": {name: str(mode) for name, mode in self.modes.items()},
        }


def check_target(raw: str) -> str:
    """A base URL (http or https, a host, no query) without its trailing slash, or ""."""
    if raw == "":
        return raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSetting(f"target must be an http(s) URL with a host, got {raw!r}")
    if parts.query or parts.fragment:
        raise InvalidSetting(f"target takes no query or fragment, got {raw!r}")
    return raw.rstrip("/")


def patched(current: Settings, spec: Mapping[str, object]) -> tuple[str, Trust, bool]:
    """(target, trust, enabled) once ``spec`` (the control API's JSON) is applied."""
    unknown = sorted(set(spec) - set(_FIELDS))
    if unknown:
        raise InvalidSetting(f"unknown field {unknown[0]!r}; known: {', '.join(_FIELDS)}")
    for name in ("target", "ca_file", "ca_pem"):
        if name in spec and not isinstance(spec[name], str):
            raise InvalidSetting(f"{name} must be a string")
    if "enabled" in spec and not isinstance(spec["enabled"], bool):
        raise InvalidSetting("enabled must be true or false")
    target = check_target(str(spec.get("target", current.target)))
    trust = current.trust
    if "ca_file" in spec or "ca_pem" in spec:
        trust = Trust(str(spec.get("ca_file", "")), str(spec.get("ca_pem", "")))
        if trust.ca_file and trust.ca_pem:
            raise InvalidSetting("give ca_file or ca_pem, not both")
        trust.context()  # refused here, not at the first delivery
    return target, trust, bool(spec.get("enabled", current.enabled))


def parsed_mode(spec: Mapping[str, object]) -> tuple[Mode, str | None]:
    """(mode, provider or None for every provider) from ``{"mode", "provider"?}``."""
    unknown = sorted(set(spec) - {"mode", "provider"})
    if unknown:
        raise InvalidSetting(f"unknown field {unknown[0]!r}; known: mode, provider")
    raw = spec.get("mode")
    try:
        mode = Mode(str(raw))
    except ValueError:
        known = ", ".join(m.value for m in Mode)
        raise InvalidSetting(f"mode must be one of {known}; got {raw!r}") from None
    provider = spec.get("provider")
    if provider is None:
        return mode, None
    if provider not in PROVIDERS:
        raise InvalidSetting(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    if mode is Mode.STALE and provider not in TIMESTAMPED:
        raise InvalidSetting(f"{provider}'s signature carries no timestamp: stale cannot apply")
    return mode, str(provider)
