"""The API key format: ``pm_<env>_<key id>_<secret><checksum>``.

    pm_test_4Jq9XcVbN2kLm8Tz_h7Gf3Kp9QwErTy2UiOpAsDfGhJkLzXcVbNm0aB1c2
    |  |    |                |                               |
    |  |    key id (16)      secret (32 base62, ~190 bits)   CRC32 checksum (6 base62)
    |  environment: test | live
    prefix: anyone (and secret scanners) can tell a paymesh key

* The checksum is CRC32 over everything before it, as GitHub's tokens do: any
  one-character typo changes it (CRC32 catches every burst error up to 32
  bits), so a mistyped key is refused without touching the database.
* The key id is public: it names the key in logs, audit records and the
  cache. The secret is ``secrets.token_bytes``-random; 32 base62 characters
  carry 190 bits, above the 128 the guide asks for.
* Only ``HMAC-SHA256(pepper, whole token)`` is stored. The pepper lives in the
  service's configuration, not the database, so a stolen table alone does not
  allow an offline check. Comparison is ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

from . import errors as e

PREFIX = "pm"
ENVIRONMENTS = ("test", "live")
KEY_ID_LEN = 16
SECRET_LEN = 32
CHECKSUM_LEN = 6
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN_RE = re.compile(
    rf"^{PREFIX}_(test|live)_([0-9A-Za-z]{{{KEY_ID_LEN}}})"
    rf"_([0-9A-Za-z]{{{SECRET_LEN + CHECKSUM_LEN}}})$"
)
KEY_ID_RE = re.compile(rf"^[0-9A-Za-z]{{{KEY_ID_LEN}}}$")
TOKEN_LEN = len(PREFIX) + 1 + 4 + 1 + KEY_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A token whose shape and checksum are right; nothing about it is verified yet."""

    environment: str
    key_id: str
    token: str


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    chars = []
    for _ in range(CHECKSUM_LEN):
        value, rem = divmod(value, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars))


def new_key_id() -> str:
    """A fresh public key id: 16 base62 characters (~95 bits, so collisions are moot)."""
    return _random_base62(KEY_ID_LEN)


def new_token(environment: str, key_id: str) -> str:
    """A fresh secret token for ``key_id``. Show it once; store only its hash."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, not {environment!r}")
    if not KEY_ID_RE.fullmatch(key_id):
        raise ValueError(f"key id {key_id!r} is not {KEY_ID_LEN} base62 characters")
    body = f"{PREFIX}_{environment}_{key_id}_{_random_base62(SECRET_LEN)}"
    return body + _checksum(body)


def secret_prefix(environment: str, key_id: str) -> str:
    """The part of a token that is safe to display: ``pm_<env>_<key id>``."""
    return f"{PREFIX}_{environment}_{key_id}"


def parse_token(token: str) -> ParsedKey:
    """Check shape and checksum, offline. Raises CredentialsMalformed or ChecksumMismatch."""
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise e.CredentialsMalformed(
            f"the API key is not a paymesh key (expected {PREFIX}_test_... or {PREFIX}_live_..., "
            f"{TOKEN_LEN} characters)"
        )
    body, checksum = token[:-CHECKSUM_LEN], token[-CHECKSUM_LEN:]
    if not hmac.compare_digest(_checksum(body), checksum):
        raise e.ChecksumMismatch("the API key's checksum does not match: check it for a typo")
    return ParsedKey(environment=match.group(1), key_id=match.group(2), token=token)


def hash_token(pepper: bytes, token: str) -> bytes:
    """The only thing stored about a secret: HMAC-SHA256 keyed with the server pepper."""
    return hmac.new(pepper, token.encode("ascii"), hashlib.sha256).digest()


def hash_matches(candidate: bytes, stored: bytes) -> bool:
    """Constant-time comparison of two token hashes."""
    return hmac.compare_digest(candidate, stored)
