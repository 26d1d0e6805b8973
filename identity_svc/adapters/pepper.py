"""The server pepper: the HMAC key of every stored API-key hash.

It lives in a file outside the database, so a copy of the database alone
cannot be used to test guessed keys offline. In the test environment a missing
file is created (32 random bytes, hex, mode 0600) so that ``make run`` works on
a fresh machine; in live it must be provisioned, because a new pepper silently
invalidates every key issued under the old one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_PEPPER_BYTES = 32


def load_pepper(path: str, *, environment: str) -> bytes:
    """The pepper from ``path``; created there first in the test environment."""
    file = Path(path)
    if not file.exists():
        if environment != "test":
            raise FileNotFoundError(
                f"key pepper file {path!r} does not exist; provision it (at least "
                f"{MIN_PEPPER_BYTES} random bytes, hex) before starting a live identity service"
            )
        file.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two replicas starting together must not each write their own pepper.
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(MIN_PEPPER_BYTES) + "\n")
    pepper = bytes.fromhex(file.read_text(encoding="ascii").strip())
    if len(pepper) < MIN_PEPPER_BYTES:
        raise ValueError(f"key pepper in {path!r} is shorter than {MIN_PEPPER_BYTES} bytes")
    return pepper
