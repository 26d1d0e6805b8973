"""Sealing small secrets at rest (webhook signing secrets) with AES-256-GCM.

A sealed blob is ``<key id>:<12-byte random nonce><ciphertext and 16-byte tag>``. The key id
names the key that sealed it, so keys can rotate: a box holds one current key (it seals) and
any number of older ones (they still open), and rows re-sealed on their next write move to
the current key. GCM authenticates as well as encrypts: a flipped bit, a blob sealed under
another key, or a blob moved to another row (the row's id is the associated data) fails to
open instead of yielding garbage.

The key comes from the gateway's settings (``GATEWAY_WEBHOOK_SECRET_KEY``, see
``from_setting``); an empty setting gives the development key, derived from a published
label like the sandbox credentials are, and fit only for ``make run`` and tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
DEVELOPMENT_KEY_ID = "dev"
DEVELOPMENT_KEY = hashlib.sha256(b"paymesh development webhook secret key, not secret").digest()
"""Anyone can derive this key: it protects nothing, it only keeps development like production."""
DEFAULT_KEY_ID = "k1"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_SEPARATOR = b":"


class SecretBoxError(ValueError):
    """Raised when a blob does not open (tampered, truncated, or sealed under a key this box
    lacks) or a key setting is malformed. An operational fault, never a client's mistake."""


class SecretBox:
    """Seals and opens bytes with AES-256-GCM under named keys."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise SecretBoxError(f"the current key id {current!r} is not among the keys")
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise SecretBoxError(f"key id {key_id!r} is not 1-16 of [A-Za-z0-9_-]")
            if len(key) != KEY_BYTES:
                raise SecretBoxError(f"key {key_id!r} is not {KEY_BYTES} bytes")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        """A box from a setting: ``<base64 key>``, or ``<id>:<base64 key>,<id>:<base64 key>``
        with the sealing key first; empty: the development key.

        Each key is 32 bytes of standard base64 (``openssl rand -base64 32``).
        """
        value = value.strip()
        if not value:
            return cls.development()
        keys: dict[str, bytes] = {}
        for entry in value.split(","):
            named, _, encoded = entry.strip().rpartition(":")
            key_id = named or DEFAULT_KEY_ID
            if key_id in keys:
                raise SecretBoxError(f"key id {key_id!r} is given twice")
            keys[key_id] = _decode_key(key_id, encoded)
        return cls(keys, next(iter(keys)))  # dicts keep order: the first one listed seals

    @classmethod
    def development(cls) -> SecretBox:
        """The box of ``make run`` and the tests (``DEVELOPMENT_KEY``)."""
        return cls({DEVELOPMENT_KEY_ID: DEVELOPMENT_KEY}, DEVELOPMENT_KEY_ID)

    @property
    def current_key_id(self) -> str:
        """The id of the key that seals."""
        return self._current

    def seal(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """``plaintext`` encrypted under the current key with a fresh random nonce, bound to
        ``associated_data`` (which ``open`` must be given again)."""
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._current.encode()
        sealed = self._keys[self._current].encrypt(nonce, plaintext, _aad(key_id, associated_data))
        return key_id + _SEPARATOR + nonce + sealed

    def open(self, blob: bytes, associated_data: bytes = b"") -> bytes:
        """The plaintext of a blob ``seal`` made; raises SecretBoxError if it does not open."""
        key_id, separator, rest = blob.partition(_SEPARATOR)
        if not separator or len(rest) < NONCE_BYTES + 16:
            raise SecretBoxError("sealed data is malformed")
        aead = self._keys.get(key_id.decode("ascii", errors="replace"))
        if aead is None:
            raise SecretBoxError(f"sealed under key {key_id[:16]!r}, which this box lacks")
        try:
            return aead.decrypt(
                rest[:NONCE_BYTES], rest[NONCE_BYTES:], _aad(key_id, associated_data)
            )
        except InvalidTag as exc:
            raise SecretBoxError(
                "sealed data failed authentication (tampered, or another key)"
            ) from exc

    def key_id_of(self, blob: bytes) -> str:
        """The id of the key that sealed ``blob`` (to find rows to re-seal after a rotation)."""
        return blob.partition(_SEPARATOR)[0].decode("ascii", errors="replace")


def _aad(key_id: bytes, associated_data: bytes) -> bytes:
    # The key id is authenticated too, and the NUL keeps ("a", "b:c") and ("a:b", "c") apart.
    return key_id + b"\x00" + associated_data


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        # The message names the key, never its value: settings errors end up in logs.
        raise SecretBoxError(f"key {key_id!r} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise SecretBoxError(f"key {key_id!r} is {len(key)} bytes, not {KEY_BYTES}")
    return key
