"""The API key format: shape, checksum, randomness and the stored hash.

parse_token is the edge's first, offline gate: a typo must never reach the key
store, and a mangled key must never be mistaken for another valid one.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import math
import re
import string
import zlib
from collections.abc import Callable

import pytest

from identity_svc.domain import errors as e
from identity_svc.domain import keys
from identity_svc.domain.keys import (
    CHECKSUM_LEN,
    KEY_ID_LEN,
    SECRET_LEN,
    TOKEN_LEN,
    hash_matches,
    hash_token,
    new_key_id,
    new_token,
    parse_token,
    secret_prefix,
)

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
PEPPER = b"pepper-one-0123456789abcdef"
# pm_<env>_<key id 16>_<secret 32><checksum 6>: "pm_test_" and "pm_live_" are both 8 long.
ENV_PREFIX_LEN = len("pm_test_")
KEY_ID_SEPARATOR_AT = ENV_PREFIX_LEN + KEY_ID_LEN


def _fresh(environment: str = "test") -> tuple[str, str]:
    key_id = new_key_id()
    return key_id, new_token(environment, key_id)


def _reference_checksum(body: str) -> str:
    """An independent rendering of the documented checksum: CRC32, 6 base62 digits, big-endian."""
    value = zlib.crc32(body.encode("ascii"))
    digits = ""
    for _ in range(CHECKSUM_LEN):
        value, rem = divmod(value, 62)
        digits = BASE62[rem] + digits
    return digits


# ------------------------------------------------------------------ format


@pytest.mark.parametrize("environment", ["test", "live"])
def test_a_fresh_token_has_the_documented_shape_and_length(environment: str) -> None:
    key_id, token = _fresh(environment)

    assert len(token) == TOKEN_LEN == 63
    pattern = rf"pm_{environment}_{key_id}_[0-9A-Za-z]{{{SECRET_LEN + CHECKSUM_LEN}}}"
    assert re.fullmatch(pattern, token)


def test_the_checksum_is_crc32_of_everything_before_it_in_six_base62_digits() -> None:
    _, token = _fresh()
    body, checksum = token[:-CHECKSUM_LEN], token[-CHECKSUM_LEN:]

    assert checksum == _reference_checksum(body)
    # Six base62 digits hold every CRC32 value, so no two checksums collide by truncation.
    assert 62**CHECKSUM_LEN > 2**32


def test_the_secret_carries_at_least_128_random_bits() -> None:
    assert SECRET_LEN == 32
    assert SECRET_LEN * math.log2(62) >= 128
    assert SECRET_LEN * math.log2(62) > 190


def test_the_secret_draws_from_the_whole_base62_alphabet() -> None:
    seen: set[str] = set()
    for _ in range(300):
        _, token = _fresh()
        seen.update(token[KEY_ID_SEPARATOR_AT + 1 : -CHECKSUM_LEN])

    # 9,600 draws miss one of 62 symbols with probability ~1e-42 when uniform.
    assert seen == set(BASE62)


def test_two_tokens_for_the_same_key_id_differ() -> None:
    key_id = new_key_id()
    tokens = {new_token("live", key_id) for _ in range(100)}

    assert len(tokens) == 100


def test_a_new_key_id_is_sixteen_base62_characters_and_fresh_each_time() -> None:
    ids = {new_key_id() for _ in range(100)}

    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9A-Za-z]{16}", key_id) for key_id in ids)


@pytest.mark.parametrize("environment", ["test", "live"])
def test_parsing_a_fresh_token_returns_its_environment_and_embedded_key_id(
    environment: str,
) -> None:
    key_id, token = _fresh(environment)

    parsed = parse_token(token)

    assert (parsed.environment, parsed.key_id, parsed.token) == (environment, key_id, token)


def test_the_secret_prefix_is_the_displayable_start_of_the_token() -> None:
    key_id, token = _fresh("live")

    prefix = secret_prefix("live", key_id)

    assert prefix == f"pm_live_{key_id}"
    assert token.startswith(prefix + "_")
    assert token[KEY_ID_SEPARATOR_AT + 1 : -CHECKSUM_LEN] not in prefix


@pytest.mark.parametrize("environment", ["prod", "TEST", "", "tst"])
def test_a_token_cannot_be_made_for_an_unknown_environment(environment: str) -> None:
    with pytest.raises(ValueError, match="environment"):
        new_token(environment, new_key_id())


@pytest.mark.parametrize(
    "key_id",
    [
        "short",
        "a" * 17,
        "abcdefgh-jklmnop",
        "abcdefghijklmnö",
        "abcdefghijklmnop\n",  # `$` alone would let a trailing newline into the token
    ],
)
def test_a_token_cannot_be_made_for_a_malformed_key_id(key_id: str) -> None:
    with pytest.raises(ValueError, match="key id"):
        new_token("test", key_id)


# -------------------------------------------------------------- checksum


def test_parse_token_needs_nothing_but_the_token() -> None:
    # No store, cache or pepper: the typo check is offline by construction.
    assert list(inspect.signature(parse_token).parameters) == ["token"]


@pytest.mark.parametrize("environment", ["test", "live"])
def test_a_one_character_typo_anywhere_is_rejected_before_any_lookup(environment: str) -> None:
    _, token = _fresh(environment)
    accepted: list[str] = []
    wrong_reason: list[tuple[int, str, str]] = []

    for position, original in enumerate(token):
        # Inside the checksummed base62 fields the shape survives, so only the
        # checksum can catch the typo; in "pm_<env>_" and at the separator the
        # shape itself breaks.
        in_checked_field = position >= ENV_PREFIX_LEN and position != KEY_ID_SEPARATOR_AT
        expected = e.ChecksumMismatch if in_checked_field else e.CredentialsMalformed
        for replacement in BASE62:
            if replacement == original:
                continue
            typo = token[:position] + replacement + token[position + 1 :]
            try:
                parse_token(typo)
            except (e.ChecksumMismatch, e.CredentialsMalformed) as refused:
                if type(refused) is not expected:
                    wrong_reason.append((position, replacement, type(refused).__name__))
            else:
                accepted.append(typo)

    assert accepted == []
    assert wrong_reason == []


def test_swapping_two_adjacent_characters_is_rejected() -> None:
    _, token = _fresh()
    accepted = []
    for position in range(len(token) - 1):
        a, b = token[position], token[position + 1]
        if a == b:
            continue
        swapped = token[:position] + b + a + token[position + 2 :]
        try:
            parse_token(swapped)
        except (e.ChecksumMismatch, e.CredentialsMalformed):
            continue
        accepted.append(swapped)

    assert accepted == []


def test_a_token_with_a_recomputed_checksum_but_the_other_environment_parses_as_that_env() -> None:
    # The checksum catches typos, not forgery: a deliberately re-checksummed
    # token is well-formed, and only the hash lookup can refuse it.
    key_id, token = _fresh("test")
    body = "pm_live_" + token[ENV_PREFIX_LEN:-CHECKSUM_LEN]

    parsed = parse_token(body + _reference_checksum(body))

    assert (parsed.environment, parsed.key_id) == ("live", key_id)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t[:-1], id="one-short"),
        pytest.param(lambda t: t + "a", id="one-long"),
        pytest.param(lambda t: t + "\n", id="trailing-newline"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: "sk" + t[2:], id="other-vendor-prefix"),
        pytest.param(lambda t: t.replace("pm_test_", "pm_prod_"), id="unknown-env"),
        pytest.param(lambda t: t.upper(), id="upper-cased"),
        pytest.param(lambda t: t[:-1] + "é", id="non-ascii"),
        pytest.param(lambda t: "Bearer " + t, id="scheme-left-in"),
    ],
)
def test_a_token_of_the_wrong_shape_is_malformed(mangle: Callable[[str], str]) -> None:
    _, token = _fresh("test")

    with pytest.raises(e.CredentialsMalformed):
        parse_token(mangle(token))


def test_shape_and_checksum_refusals_are_authentication_failures() -> None:
    assert issubclass(e.CredentialsMalformed, e.AuthenticationFailed)
    assert issubclass(e.ChecksumMismatch, e.AuthenticationFailed)
    assert e.CredentialsMalformed.reason == "API_KEY_MALFORMED"
    assert e.ChecksumMismatch.reason == "API_KEY_CHECKSUM_MISMATCH"


# ------------------------------------------------------------------ hash


def test_the_stored_hash_is_hmac_sha256_of_the_whole_token_under_the_pepper() -> None:
    _, token = _fresh()

    digest = hash_token(PEPPER, token)

    assert len(digest) == 32
    assert digest == hmac.new(PEPPER, token.encode(), hashlib.sha256).digest()
    assert digest == hash_token(PEPPER, token)


def test_the_hash_depends_on_the_pepper() -> None:
    _, token = _fresh()

    assert hash_token(PEPPER, token) != hash_token(b"pepper-two-0123456789abcdef", token)


def test_the_hash_never_equals_or_contains_the_token_or_its_secret() -> None:
    _, token = _fresh()
    secret = token[KEY_ID_SEPARATOR_AT + 1 : -CHECKSUM_LEN]

    digest = hash_token(PEPPER, token)

    for revealing in (token.encode(), secret.encode()):
        assert digest != revealing
        assert revealing not in digest
    assert token not in digest.hex()
    assert digest != hashlib.sha256(token.encode()).digest()  # unkeyed would allow offline checks


def test_hash_matches_accepts_only_the_same_hash() -> None:
    _, token = _fresh()
    _, other = _fresh()
    stored = hash_token(PEPPER, token)

    assert hash_matches(hash_token(PEPPER, token), stored)
    assert not hash_matches(hash_token(PEPPER, other), stored)
    assert not hash_matches(hash_token(b"another pepper", token), stored)


def test_the_module_exposes_the_documented_lengths() -> None:
    assert (keys.PREFIX, keys.ENVIRONMENTS) == ("pm", ("test", "live"))
    assert (KEY_ID_LEN, SECRET_LEN, CHECKSUM_LEN) == (16, 32, 6)
