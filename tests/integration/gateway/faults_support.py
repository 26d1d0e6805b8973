"""Helpers of the fault and idempotency tests: a gateway of the test's own, and the money facts.

A fault test changes what a gateway remembers about its providers (a breaker opened, a retry
budget spent, a provider timeout shortened, a provider pointed at a closed port), so it must
not use the package's gateway, which every other test shares. ``own_gateway`` starts one for
the test alone: the same ``build_parts``/``create_app`` the process runs, its own SQLite file,
its own Envoy in front (REST with an API key, ext_authz against the stack's identity), and
the stack's ledger, identity and provider sandbox behind. ``OwnGateway.restart`` stops its
host and starts a new one on the same database and the same port, so the same Envoy reaches
it, as a supervisor restarts a crashed replica.

The money facts are read where the money is, never from the gateway's own answer: the
sandbox's simulator state (one PaymentIntent per charge), its request counts (a call that
never happened), and the ledger's transactions through its REST API.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from gateway_svc.app import GatewayParts, build_parts, create_app
from gateway_svc.service_layer.runtime import GatewayRuntime
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from gateway_svc.settings import GatewaySettings
from sandbox.testing import SandboxHandle
from svc_kit.server import ServiceHost
from tests.e2e.stack_fixture import Edge, gateway_providers, start_edge
from tests.integration.gateway.payments_support import Merchant, minor
from tests.integration.gateway.support import GatewayStack

STRIPE_CREATE = "POST /v1/payment_intents"
"""The sandbox's request-count key of Stripe's authorize (one per PaymentIntent asked for)."""
STRIPE_AUTHORIZE = {"provider": "stripe", "path": "/v1/payment_intents", "method": "POST"}
"""Where a fault aimed at Stripe's authorize applies. A fault without a method would also hit
the reconcilers' reads (GET .../search), which other gateways may send at any moment."""

Tune = Callable[[GatewayRuntime], None]
"""Changes a test makes to the runtime before the host serves (a shorter breaker cool-down:
GatewayRuntime is where the process injects its policies, clocks and randomness)."""


def _build_settings(
    stack: GatewayStack,
    providers: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Any],
) -> GatewaySettings:
    ca = stack.services.pki / "ca.pem"
    nested = gateway_providers(stack.services.sandbox, ca)
    for name, fields in providers.items():
        nested[name] = {**nested[name], **fields}
    # A reconciler pass every hour unless the test asks otherwise: a background pass must
    # not settle, mid-test, what the test is still looking at.
    return stack.gateway_settings(**{"reconciler_interval_s": 3600, **nested, **overrides})


@dataclass
class OwnGateway:
    """One test's gateway host, its parts and the Envoy in front of it."""

    stack: GatewayStack
    settings: GatewaySettings
    host: ServiceHost
    parts: GatewayParts
    edge: Edge
    rest: httpx.AsyncClient
    tune: Tune | None = None

    @property
    def runtime(self) -> GatewayRuntime:
        """The use cases' runtime (its breakers, budgets and clocks)."""
        return self.parts.payments.service.runtime

    def merchant(self, merchant: Merchant) -> Merchant:
        """``merchant`` calling this gateway's Envoy (identity is the stack's: same key)."""
        return replace(merchant, rest=self.rest)

    async def drain(self) -> None:
        """Wait until the outbox has delivered every posting and audit record."""
        await self.parts.payments.relay.drain()

    async def tries(self, attempt_id: str) -> list[dict[str, Any]]:
        """Each call an attempt made (its retries of the same request), as the gateway's
        database keeps them: the REST view shows the attempt, not its tries."""
        async with GatewayUnitOfWork(self.runtime.engine, read_only=True) as uow:
            return await uow.attempts.tries(attempt_id)

    async def restart(self, **changes: Any) -> None:
        """Stop the host (its workers and clients too), then serve a new one built from the
        same settings (but ``changes``) on the same database and the same port, behind the
        same Envoy."""
        port = self.host.port
        await self.host.stop(0)
        update = {**changes, "listen_addr": f"127.0.0.1:{port}"}
        self.settings = self.settings.model_copy(update=update)
        self.host, self.parts = await _serve(self.settings, self.tune)


async def _serve(settings: GatewaySettings, tune: Tune | None) -> tuple[ServiceHost, GatewayParts]:
    parts = await build_parts(settings)
    if tune is not None:
        tune(parts.payments.service.runtime)
    host = await create_app(settings, parts)
    await host.start()
    return host, parts


@asynccontextmanager
async def own_gateway(
    stack: GatewayStack,
    workdir: Path,
    *,
    providers: Mapping[str, Mapping[str, Any]] | None = None,
    tune: Tune | None = None,
    **overrides: Any,
) -> AsyncIterator[OwnGateway]:
    """A gateway for one test: ``providers`` merges into each provider's settings (stripe:
    {"timeout_s": 0.3}), ``overrides`` are other GatewaySettings fields."""
    settings = _build_settings(stack, providers or {}, overrides)
    host, parts = await _serve(settings, tune)
    gateway: OwnGateway | None = None
    try:
        async with AsyncExitStack() as exits:
            upstreams = {**stack.services.upstreams(), "gateway": [f"127.0.0.1:{host.port}"]}
            edge = await exits.enter_async_context(
                start_edge(stack.services, workdir / "edge", upstreams=upstreams)
            )
            rest = await exits.enter_async_context(edge.rest_client())
            gateway = OwnGateway(stack, settings, host, parts, edge, rest, tune)
            yield gateway
    finally:
        await (gateway.host if gateway is not None else host).stop(0)


class NoJitter:
    """Full jitter's lowest draw, so every backoff is zero: for tests about what retries do,
    not about how long they wait (``GatewayRuntime.rng``)."""

    def uniform(self, a: float, b: float) -> float:
        del b
        return a


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port where every connection is refused: bound (so no one else gets it)
    but never listening, for as long as the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextmanager
def black_hole() -> Iterator[str]:
    """A loopback address that accepts TCP connections (the kernel's backlog) and never says
    a word: a TLS handshake, and so every gRPC call, waits there until its deadline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


# --- the money facts -------------------------------------------------------------------------


async def stripe_intents(sandbox: SandboxHandle, reference: str) -> dict[str, dict[str, Any]]:
    """The sandbox's Stripe PaymentIntents for a merchant reference, by intent id."""
    state = await sandbox.control.state("stripe")
    return {
        intent_id: intent
        for intent_id, intent in state["payments"].items()
        if intent["metadata"].get("paymesh_reference") == reference
    }


async def anet_transaction(sandbox: SandboxHandle, trans_id: str) -> dict[str, Any] | None:
    """The sandbox's Authorize.net transaction ``trans_id``, or None."""
    state = await sandbox.control.state("authorizenet")
    found: dict[str, Any] | None = state["payments"].get(trans_id)
    return found


async def faults_fired(sandbox: SandboxHandle, provider: str, kind: str) -> int:
    """How many times a fault of ``kind`` fired for ``provider`` since the sandbox started."""
    fired = (await sandbox.control.stats())["faults_fired"]
    return int(fired.get(provider, {}).get(kind, 0))


async def requests_to(sandbox: SandboxHandle, provider: str, key: str | None = None) -> int:
    """How many requests the sandbox received for ``provider`` (all, or one "METHOD /path")."""
    requests = (await sandbox.control.stats())["requests"]
    stats = requests.get(provider, {"total": 0, "paths": {}})
    return int(stats["total"] if key is None else stats["paths"].get(key, 0))


@dataclass(frozen=True)
class Posting:
    """One ledger transaction of a payment, as the ledger's REST API shows it."""

    transaction_id: str
    status: str
    clearing_debit: int
    """Minor units it debits the provider clearing account (money in from the provider)."""
    clearing_credit: int
    """Minor units it credits it (a provider fee, a refund paid out)."""


async def postings_of(
    edge: Edge, rest: httpx.AsyncClient, payment: Mapping[str, Any]
) -> list[Posting]:
    """Every ledger transaction whose external_ref is the payment, read through the ledger's
    REST API with the platform admin's key, via the clearing account of its books."""
    currency = payment["amount"]["currency_code"]
    code = f"gw/{payment['merchant_id']}/{currency}/clearing"
    auth = edge.auth()
    listed = await rest.get("/v1/ledger/accounts", params={"code_prefix": code}, headers=auth)
    assert listed.status_code == 200, listed.text
    accounts = [a for a in listed.json().get("accounts", []) if a["code"] == code]
    if not accounts:
        return []
    clearing = accounts[0]["id"]
    reply = await rest.get(
        "/v1/ledger/transactions",
        params={"account_id": clearing, "page_size": "500"},
        headers=auth,
    )
    assert reply.status_code == 200, reply.text
    out = []
    for txn in reply.json().get("transactions", []):
        if txn.get("external_ref") != payment["id"]:
            continue
        legs = [e for e in txn["entries"] if e["account_id"] == clearing]
        out.append(
            Posting(
                txn["id"],
                txn["status"],
                sum(minor(e["amount"]) for e in legs if e["direction"] == "DIRECTION_DEBIT"),
                sum(minor(e["amount"]) for e in legs if e["direction"] == "DIRECTION_CREDIT"),
            )
        )
    return out
