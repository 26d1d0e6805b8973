"""The Authorizer's fast path for tokens it verified before never outlives what it verified."""

from __future__ import annotations

from datetime import timedelta

import pytest

from identity_svc.domain import errors as e
from identity_svc.domain.keys import hash_token
from identity_svc.domain.model import MerchantStatus
from identity_svc.service_layer import authorizer as authorizer_module
from tests.unit.identity.fakes import NOW, issue_key, key_id_of
from tests.unit.identity.test_identity_authorizer import World, bearer, world  # noqa: F401


async def test_a_repeated_token_is_hashed_once(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = issue_key(world.store)
    hashed: list[str] = []

    def counting(pepper: bytes, value: str) -> bytes:
        hashed.append(value)
        return hash_token(pepper, value)

    monkeypatch.setattr(authorizer_module, "hash_token", counting)

    results = [(await world.decide(**bearer(token))).allowed for _ in range(5)]

    assert results == [True] * 5
    assert len(hashed) == 1


async def test_a_verified_key_is_refused_once_its_expire_time_passes(
    world: World,  # noqa: F811
) -> None:
    token = issue_key(world.store, expire_time=NOW + timedelta(minutes=5))
    assert (await world.decide(**bearer(token))).allowed

    world.wall.now = NOW + timedelta(minutes=5)

    assert isinstance((await world.decide(**bearer(token))).error, e.CredentialsExpired)


async def test_a_verified_key_is_refused_once_its_revocation_is_followed(
    world: World,  # noqa: F811
) -> None:
    token = issue_key(world.store)
    assert (await world.decide(**bearer(token))).allowed

    world.store.update_key(key_id_of(token), revoke_time=NOW)
    await world.cache.sync_once()

    assert isinstance((await world.decide(**bearer(token))).error, e.CredentialsRevoked)


async def test_a_verified_key_is_refused_once_its_merchant_suspension_is_followed(
    world: World,  # noqa: F811
) -> None:
    token = issue_key(world.store, merchant_id="mer_s")
    assert (await world.decide(**bearer(token))).allowed

    world.store.set_merchant_status("mer_s", MerchantStatus.SUSPENDED)
    await world.cache.sync_once()

    assert isinstance((await world.decide(**bearer(token))).error, e.MerchantSuspended)


async def test_a_near_miss_of_a_verified_token_takes_the_full_path(
    world: World,  # noqa: F811
) -> None:
    token = issue_key(world.store)
    assert (await world.decide(**bearer(token))).allowed
    typo = token[:-1] + ("A" if token[-1] != "A" else "B")

    decision = await world.decide(**bearer(typo))

    assert isinstance(decision.error, e.ChecksumMismatch)
