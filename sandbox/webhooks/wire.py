"""What every provider's callback scheme is built from: JSON bytes, ids, HMACs, timestamps.

``Signing`` is what a signer is told about one delivery attempt: the config (secrets, the
sandbox's URL), the Unix time to put in the signature (ten minutes in the past in ``stale``
mode) and whether to corrupt it (``bad_signature`` mode). A corrupted signature is the true
one with one bit of its last byte flipped: same length, same encoding, wrong value, so only
a receiver that really compares the whole MAC refuses it.
"""

from __future__ import annotations

import hmac
import json
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.config import SandboxConfig

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_UPPER_ALNUM = string.digits + string.ascii_uppercase


@dataclass(frozen=True, slots=True)
class Signing:
    """How to sign one delivery attempt (see the module docstring)."""

    config: SandboxConfig
    unix_s: int
    corrupt: bool


def compact_json(payload: object) -> bytes:
    """JSON as the providers send it: no spaces, UTF-8, keys in the order built."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_json(payload: object) -> bytes:
    """The canonical form (sorted keys, compact, UTF-8): PayPal's body and its CRC input."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def random_id(prefix: str, length: int, alphabet: str = _BASE62) -> str:
    """``prefix`` and ``length`` random characters (``evt_``, ``WH-`` ...)."""
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def upper_id(length: int) -> str:
    """Upper-case letters and digits, as PayPal's ids are."""
    return random_id("", length, _UPPER_ALNUM)


def mac(key: bytes, message: bytes, digest: str, *, corrupt: bool) -> bytes:
    """HMAC(key, message), corrupted when asked (see the module docstring)."""
    value = hmac.new(key, message, digest).digest()
    if corrupt:
        value = value[:-1] + bytes([value[-1] ^ 0x01])
    return value


def timestamped(secret: str, body: bytes, how: Signing) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``: Stripe's scheme, which the
    sandbox's Currencycloud scheme reuses on purpose (sandbox/README.md)."""
    signed = f"{how.unix_s}.".encode() + body
    digest = mac(secret.encode(), signed, "sha256", corrupt=how.corrupt).hex()
    return f"t={how.unix_s},v1={digest}"


def iso_utc(moment: datetime | None = None, *, millis: bool = False) -> str:
    """``2024-06-20T12:34:56Z`` (with ``.123`` when ``millis``), UTC."""
    moment = moment or datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds" if millis else "seconds").replace("+00:00", "Z")
