"""The secret box: AES-256-GCM sealing of webhook secrets at rest, keys named so they rotate."""

from __future__ import annotations

import base64

import pytest

from gateway_svc.adapters.secret_box import (
    DEVELOPMENT_KEY_ID,
    KEY_BYTES,
    NONCE_BYTES,
    SecretBox,
    SecretBoxError,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
PLAIN = b'[["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",null]]'


def box(current: str = "a", **keys: bytes) -> SecretBox:
    return SecretBox(keys or {"a": KEY_A}, current)


def test_a_sealed_blob_opens_to_the_plaintext_and_does_not_contain_it() -> None:
    sealed = box().seal(PLAIN, b"we_1")
    assert PLAIN not in sealed and b"whsec_" not in sealed
    assert sealed.startswith(b"a:")
    assert len(sealed) == len(b"a:") + NONCE_BYTES + len(PLAIN) + 16
    assert box().open(sealed, b"we_1") == PLAIN


def test_every_seal_uses_a_fresh_nonce() -> None:
    first, second = box().seal(PLAIN), box().seal(PLAIN)
    assert first != second
    assert box().open(first) == box().open(second) == PLAIN


@pytest.mark.parametrize("position", [0, 2, 2 + NONCE_BYTES, -1])
def test_a_flipped_byte_anywhere_is_detected(position: int) -> None:
    sealed = bytearray(box().seal(PLAIN, b"we_1"))
    sealed[position] ^= 0x01
    with pytest.raises(SecretBoxError):
        box().open(bytes(sealed), b"we_1")


def test_a_blob_moved_to_another_row_does_not_open() -> None:
    sealed = box().seal(PLAIN, b"we_1")
    with pytest.raises(SecretBoxError, match="authentication"):
        box().open(sealed, b"we_2")


def test_the_wrong_key_under_the_same_id_does_not_open() -> None:
    sealed = box().seal(PLAIN)
    with pytest.raises(SecretBoxError, match="authentication"):
        SecretBox({"a": KEY_B}, "a").open(sealed)


def test_a_blob_of_a_key_the_box_lacks_is_refused_by_name() -> None:
    sealed = SecretBox({"old": KEY_A}, "old").seal(PLAIN)
    with pytest.raises(SecretBoxError, match="'old'"):
        SecretBox({"new": KEY_B}, "new").open(sealed)


def test_truncated_or_unlabelled_blobs_are_refused() -> None:
    sealed = box().seal(PLAIN)
    for broken in (sealed[:10], b"", b"no separator here at all, long enough to pass"):
        with pytest.raises(SecretBoxError):
            box().open(broken)


def test_after_a_rotation_old_blobs_open_and_new_ones_use_the_new_key() -> None:
    old = SecretBox({"k1": KEY_A}, "k1").seal(PLAIN)
    rotated = SecretBox({"k2": KEY_B, "k1": KEY_A}, "k2")
    assert rotated.open(old) == PLAIN
    resealed = rotated.seal(rotated.open(old))
    assert (rotated.key_id_of(old), rotated.key_id_of(resealed)) == ("k1", "k2")
    with pytest.raises(SecretBoxError):
        SecretBox({"k1": KEY_A}, "k1").open(resealed)


def test_the_setting_names_keys_and_the_first_one_seals() -> None:
    a, b = base64.b64encode(KEY_A).decode(), base64.b64encode(KEY_B).decode()
    rotated = SecretBox.from_setting(f"k2:{b}, k1:{a}")
    assert rotated.current_key_id == "k2"
    assert rotated.open(SecretBox({"k1": KEY_A}, "k1").seal(PLAIN)) == PLAIN
    plain = SecretBox.from_setting(a)
    assert plain.current_key_id == "k1"
    assert SecretBox({"k1": KEY_A}, "k1").open(plain.seal(PLAIN)) == PLAIN


def test_an_empty_setting_gives_the_development_key() -> None:
    dev = SecretBox.from_setting("  ")
    assert dev.current_key_id == DEVELOPMENT_KEY_ID
    assert SecretBox.development().open(dev.seal(PLAIN)) == PLAIN


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "5 bytes, not 32"),
        (f"a:{base64.b64encode(KEY_A).decode()},a:{base64.b64encode(KEY_B).decode()}", "twice"),
        (f"bad id!:{base64.b64encode(KEY_A).decode()}", "is not 1-16"),
    ],
)
def test_malformed_settings_are_refused_without_echoing_the_key(setting: str, message: str) -> None:
    with pytest.raises(SecretBoxError, match=message) as refused:
        SecretBox.from_setting(setting)
    assert base64.b64encode(KEY_A).decode() not in str(refused.value)


def test_a_box_refuses_keys_of_the_wrong_size_and_an_unknown_current_key() -> None:
    with pytest.raises(SecretBoxError, match=f"not {KEY_BYTES} bytes"):
        SecretBox({"a": KEY_A[:16]}, "a")
    with pytest.raises(SecretBoxError, match="current key id"):
        SecretBox({"a": KEY_A}, "b")
