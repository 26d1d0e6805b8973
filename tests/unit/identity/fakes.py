"""An in-memory AuthStore that keeps the Protocol's promises, plus key-making helpers,
manual clocks, and Envoy-shaped CheckRequests.

FakeAuthStore records every call so tests can assert what reached "storage",
and can be told to fail (``fail_*``) or to hold loads until released (``gate``).
Every mutation helper appends a Change, as the real store's triggers do.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from identity_svc.domain.keys import hash_token, new_key_id, new_token
from identity_svc.domain.model import ApiKey, AuthRecord, KeySecret, MerchantStatus
from identity_svc.domain.permissions import RateLimit, Role
from identity_svc.service_layer.ports import AuthStore, Change, UsageDelta
from paymesh.third_party.envoy import attribute_context_pb2, core_pb2
from paymesh.third_party.envoy.external_auth_pb2 import CheckRequest

PEPPER = b"unit-test-pepper-0123456789abcdef"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class StoreDown(ConnectionError):
    """What the fake raises when told to fail."""


class FakeAuthStore:
    """AuthStore in memory."""

    def __init__(self) -> None:
        self.records: dict[str, AuthRecord] = {}
        self.changes: list[Change] = []
        self.usage: list[UsageDelta] = []
        self.load_calls: list[str] = []
        self.fail_loads = False
        self.fail_changes = False
        self.fail_usage = 0
        """How many of the next add_usage calls raise (before applying anything)."""
        self.lose_usage_replies = 0
        """How many of the next add_usage calls apply the counts, then raise anyway."""
        self.batches: list[str] = []
        """Every batch id add_usage was given, in order, re-sends included."""
        self.applied_batches: set[str] = set()
        self.gate: asyncio.Event | None = None
        """When set to an unset Event, loads wait for it (to overlap concurrent misses)."""
        self.loading = asyncio.Event()
        """Set by every load_auth_record call, as it starts."""
        self.polled = asyncio.Event()
        """Set by every successful changes_since."""
        self.delivered = asyncio.Event()
        """Set by every successful add_usage."""

    # ------------------------------------------------------------- AuthStore
    async def load_auth_record(self, key_id: str) -> AuthRecord | None:
        self.load_calls.append(key_id)
        self.loading.set()
        if self.fail_loads:
            raise StoreDown("load_auth_record")
        record = self.records.get(key_id)
        if self.gate is not None:  # the row is read; only the reply is late
            await self.gate.wait()
        return record

    async def change_cursor(self) -> int:
        if self.fail_changes:
            raise StoreDown("change_cursor")
        return self.changes[-1].seq if self.changes else 0

    async def changes_since(self, cursor: int, limit: int = 1000) -> list[Change]:
        if self.fail_changes:
            raise StoreDown("changes_since")
        self.polled.set()
        return [c for c in self.changes if c.seq > cursor][:limit]

    async def add_usage(self, deltas: Sequence[UsageDelta], *, batch_id: str = "") -> bool:
        self.batches.append(batch_id)
        if self.fail_usage:
            self.fail_usage -= 1
            raise StoreDown("add_usage")
        if batch_id and batch_id in self.applied_batches:
            return False
        self.applied_batches.add(batch_id)
        self.usage.extend(deltas)
        self.delivered.set()
        if self.lose_usage_replies:
            self.lose_usage_replies -= 1
            raise StoreDown("add_usage committed, but the reply was lost")
        return True

    # ---------------------------------------------------------- test helpers
    def _changed(self, merchant_id: str, key_id: str | None) -> None:
        self.changes.append(Change(len(self.changes) + 1, merchant_id, key_id))

    def put(self, record: AuthRecord) -> None:
        """Create or replace a key's record (a change to that key)."""
        self.records[record.key.key_id] = record
        self._changed(record.key.merchant_id, record.key.key_id)

    def update_key(self, key_id: str, **fields: Any) -> None:
        """Change fields of a key, e.g. ``revoke_time=NOW``."""
        record = self.records[key_id]
        self.put(dataclasses.replace(record, key=dataclasses.replace(record.key, **fields)))

    def set_merchant_status(self, merchant_id: str, status: MerchantStatus) -> None:
        """Suspend or reactivate a merchant: one merchant-level change."""
        for key_id, record in self.records.items():
            if record.key.merchant_id == merchant_id:
                self.records[key_id] = dataclasses.replace(record, merchant_status=status)
        self._changed(merchant_id, None)


def _as_store(store: FakeAuthStore) -> AuthStore:
    return store  # mypy checks here that the fake satisfies the Protocol


def issue_key(
    store: FakeAuthStore,
    *,
    role: Role = Role.OWNER,
    merchant_id: str = "mer_1",
    rate_limit: RateLimit | None = None,
    expire_time: datetime | None = None,
    environment: str = "test",
) -> str:
    """Add an active key to ``store``; returns its token (the secret shown once)."""
    key_id = new_key_id()
    token = new_token(environment, key_id)
    key = ApiKey(
        key_id=key_id,
        merchant_id=merchant_id,
        display_name="test key",
        description="",
        role=role,
        environment=environment,
        create_time=NOW - timedelta(days=1),
        expire_time=expire_time,
        rate_limit=rate_limit,
    )
    secret = KeySecret(hash_token(PEPPER, token), NOW - timedelta(days=1), None)
    store.put(AuthRecord(key=key, merchant_status=MerchantStatus.ACTIVE, secrets=(secret,)))
    return token


def rotate_key(store: FakeAuthStore, token: str, overlap_until: datetime) -> str:
    """Give the key of ``token`` a new secret; the old one is accepted until ``overlap_until``."""
    key_id = key_id_of(token)
    record = store.records[key_id]
    new = new_token(record.key.environment, key_id)
    old = dataclasses.replace(record.secrets[0], not_after=overlap_until)
    store.put(
        dataclasses.replace(record, secrets=(KeySecret(hash_token(PEPPER, new), NOW, None), old))
    )
    return new


def key_id_of(token: str) -> str:
    """The public key id inside a token."""
    return token.split("_")[2]


class ManualClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WallClock:
    """A UTC wall clock that moves only when told."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def envoy_check(path: str, method: str = "GET", **headers: str) -> CheckRequest:
    """A CheckRequest shaped as Envoy sends it: lower-case headers, pseudo-headers, path+query."""
    ctx = attribute_context_pb2.AttributeContext
    socket = core_pb2.SocketAddress(address="203.0.113.7", port_value=50123)
    http = ctx.HttpRequest(
        id="envoy-req-1",
        method=method,
        path=path,
        host="api.paymesh.local",
        scheme="https",
        protocol="HTTP/1.1",
        headers={
            ":authority": "api.paymesh.local",
            ":method": method,
            ":path": path,
            "x-request-id": "envoy-req-1",
            "user-agent": "curl/8.5",
            **headers,
        },
    )
    return CheckRequest(
        attributes=ctx(
            source=ctx.Peer(address=core_pb2.Address(socket_address=socket)),
            request=ctx.Request(http=http),
        )
    )
