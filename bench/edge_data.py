"""What the edge bench calls with, made through the stack's REST API as any client would.

The bootstrap admin key carries the admin role's default rate limit (1,000 req/s, burst
2,000): the REST rows run faster than that, and identity would answer 429 for part of each
row. So the bench asks, with that admin key, for another admin key of the platform merchant
with the highest override identity accepts (100,000/s), and calls with that one: the same
role, the same Check, and no rate limiting in the way. It also opens one ledger account,
which the GetAccount rows read.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from bench.edge_stack import Stack
from svc_kit.principal import EdgePrincipal

BENCH_RATE = {"requests_per_second": 100_000, "burst": 100_000}
_POLL_S = 0.01


@dataclass(frozen=True)
class BenchData:
    """The key the rows send, who it is, and the account they read."""

    token: str
    key_id: str
    merchant_id: str
    role: str
    environment: str
    account_id: str

    def principal(self, source_address: str = "127.0.0.1:0") -> str:
        """The x-paymesh-principal value identity's Check sets for this key."""
        return EdgePrincipal(
            self.merchant_id, self.key_id, self.role, self.environment, source_address
        ).to_header()


def rest_client(stack: Stack, token: str | None = None) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(stack.pki / "ca.pem"))
    headers = {"authorization": f"Bearer {token or stack.admin_key}"}
    return httpx.Client(base_url=stack.rest_url, verify=trust, headers=headers, timeout=10.0)


def _ok(reply: httpx.Response) -> dict[str, object]:
    if reply.status_code != 200:
        raise RuntimeError(f"{reply.request.method} {reply.request.url}: {reply.status_code} "
                           f"{reply.text[:500]}")  # fmt: skip
    body: dict[str, object] = reply.json()
    return body


def create_key(client: httpx.Client, merchant_id: str, role: str, name: str) -> tuple[str, str]:
    """(secret, key id) of a new key of ``merchant_id`` with the bench's rate limit."""
    body = {"display_name": name, "role": role, "rate_limit": BENCH_RATE}
    created = _ok(client.post(f"/v1/merchants/{merchant_id}/api-keys", json=body))
    key = created["api_key"]
    assert isinstance(key, dict)
    return str(created["secret"]), str(key["key_id"])


def prepare(stack: Stack) -> BenchData:
    """The bench key and account, made with the stack's admin key."""
    with rest_client(stack) as admin:
        me = _ok(admin.get("/v1/me"))["principal"]
        assert isinstance(me, dict)
        merchant = str(me["merchant_id"])
        token, key_id = create_key(admin, merchant, "ROLE_ADMIN", "edge bench")
        account = {
            "code": f"bench/edge/{uuid.uuid4().hex[:8]}/USD",
            "currency_code": "USD",
            "type": "ACCOUNT_TYPE_ASSET",
        }
        created = _ok(admin.post("/v1/ledger/accounts", json=account))["account"]
        assert isinstance(created, dict)
    with rest_client(stack, token) as bench:
        who = _ok(bench.get("/v1/me"))["principal"]
        assert isinstance(who, dict)
    role = str(who["role"]).removeprefix("ROLE_").lower()  # the header carries Role.value
    return BenchData(token, key_id, merchant, role, str(who["environment"]), str(created["id"]))


def revocation_delays(
    stack: Stack,
    rest_ports: Mapping[str, int],
    mint: Callable[[str], str] | None = None,
    minted: frozenset[str] = frozenset(),
    timeout_s: float = 5.0,
) -> dict[str, float | None]:
    """Revoke a fresh key; per Envoy, seconds until its REST call is refused (None: never).

    Envoys named in ``minted`` are called with ``mint(principal)`` (a signed token for the
    same key) instead of the key itself. Every Envoy is asked in turn every 10 ms from the
    moment RevokeApiKey returned, so each delay is what a client would see, to about 10 ms.
    """
    with rest_client(stack) as admin:
        me = _ok(admin.get("/v1/me"))["principal"]
        assert isinstance(me, dict)
        token, key_id = create_key(admin, str(me["merchant_id"]), "ROLE_VIEWER", "revoke probe")
        principal = EdgePrincipal(str(me["merchant_id"]), key_id, "viewer", str(me["environment"]),
                                  "127.0.0.1:0").to_header()  # fmt: skip
        trust = ssl.create_default_context(cafile=str(stack.pki / "ca.pem"))
        auth = {
            name: f"Bearer {mint(principal) if mint and name in minted else token}"
            for name in rest_ports
        }
        with httpx.Client(verify=trust, timeout=2.0) as probe:

            def status(name: str) -> int:
                url = f"https://127.0.0.1:{rest_ports[name]}/v1/me"
                return probe.get(url, headers={"authorization": auth[name]}).status_code

            for name in rest_ports:  # every path accepts the key before
                if status(name) != 200:
                    raise RuntimeError(f"revocation probe: {name} refused the fresh key")
            _ok(admin.post(f"/v1/api-keys/{key_id}:revoke", json={}))
            revoked_at = time.monotonic()
            delays: dict[str, float | None] = dict.fromkeys(rest_ports)
            while time.monotonic() - revoked_at < timeout_s:
                for name in rest_ports:
                    if delays[name] is None and status(name) == 401:
                        delays[name] = time.monotonic() - revoked_at
                if all(d is not None for d in delays.values()):
                    break
                time.sleep(_POLL_S)
    return delays
