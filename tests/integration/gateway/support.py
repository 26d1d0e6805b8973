"""Helpers of the gateway's integration tests: its host, certificates, and clients via Envoy.

The gateway under test is the one ``python -m gateway_svc`` assembles (``create_app``), with
its four card provider adapters and its FX provider (Currencycloud) pointed at the stack's
sandbox and its ledger and audit clients going through an Envoy with the gateway's
certificate. Its parts are kept
(``GatewayStack.parts``) so a test can drain the outbox relay instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway_svc.adapters.audit_client import AuditClient
from gateway_svc.adapters.internal_rpc import ClientTls
from gateway_svc.adapters.ledger_client import AccountOpening, LedgerClient
from gateway_svc.app import GatewayParts, build_parts, create_app
from gateway_svc.settings import CurrencycloudSettings, GatewaySettings
from sandbox.testing import SandboxHandle
from svc_kit.pki import generate_ca, issue_cert
from svc_kit.server import ServiceHost
from tests.e2e.stack_fixture import (
    LOOPBACK_ANY_PORT,
    Edge,
    Services,
    gateway_providers,
    service_tls,
)

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Pki:
    """The dev PKI of the stack, and certificates our edge must refuse."""

    directory: Path

    def tls(self, workload: str) -> ClientTls:
        """``workload``'s own pair from the dev PKI (gateway, identity, client ...)."""
        d = self.directory
        return ClientTls(str(d / f"{workload}.pem"), str(d / f"{workload}-key.pem"), self.ca)

    @property
    def ca(self) -> str:
        return str(self.directory / "ca.pem")

    def foreign(self) -> ClientTls:
        """A "gateway" certificate from another CA: Envoy refuses the handshake."""
        other_ca, other_key = generate_ca("not paymesh")
        return self._write("foreign", issue_cert(other_ca, other_key, "gateway"))

    def expired(self) -> ClientTls:
        """The gateway's name, our CA, but expired yesterday."""
        ca = (self.directory / "ca.pem").read_bytes()
        ca_key = (self.directory / "ca-key.pem").read_bytes()
        now = dt.datetime.now(dt.UTC)
        pair = issue_cert(
            ca,
            ca_key,
            "gateway",
            valid_from=now - dt.timedelta(days=2),
            valid_until=now - dt.timedelta(days=1),
        )
        return self._write("expired", pair)

    def _write(self, name: str, pair: tuple[bytes, bytes]) -> ClientTls:
        out = self.directory.parent / "extra-certs"
        out.mkdir(exist_ok=True)
        (out / f"{name}.pem").write_bytes(pair[0])
        (out / f"{name}-key.pem").write_bytes(pair[1])
        return ClientTls(str(out / f"{name}.pem"), str(out / f"{name}-key.pem"), self.ca)


@dataclass
class GatewayStack:
    """ledger + identity (``services``), the gateway's host, and Envoy in front of them."""

    services: Services
    edge: Edge
    gateway: ServiceHost
    pki: Pki
    parts: GatewayParts
    """The gateway's parts: ``parts.payments.relay.drain()`` waits for the outbox."""

    def ledger(self, workload: str = "gateway") -> LedgerClient:
        """A ledger client through Envoy's internal listener with ``workload``'s certificate."""
        return LedgerClient.connect(
            self.edge.internal_target, self.pki.tls(workload), timeout_s=TIMEOUT_S
        )

    def audit(self, workload: str = "gateway") -> AuditClient:
        """An audit client through Envoy's internal listener with ``workload``'s certificate."""
        return AuditClient.connect(
            self.edge.internal_target, self.pki.tls(workload), timeout_s=TIMEOUT_S
        )

    def gateway_settings(self, **overrides: object) -> GatewaySettings:
        """The gateway's settings for this stack: its certificate, Envoy for both hops."""
        fields: dict[str, object] = {
            "listen_addr": LOOPBACK_ANY_PORT,
            "database_url": f"sqlite+aiosqlite:///{self.pki.directory.parent / uuid.uuid4().hex}",
            "ledger_addr": self.edge.internal_target,
            "identity_addr": self.edge.internal_target,
            **service_tls(self.pki.directory, "gateway"),
            **overrides,
        }
        return GatewaySettings(**fields)  # type: ignore[arg-type]


async def point_callbacks(services: Services, edge: Edge, *, enabled: bool) -> None:
    """Point the sandbox's provider callbacks at ``edge``'s REST listener, the gateway's
    public route through the real Envoy, trusting the dev CA that issued Envoy's certificate
    (as ``make run`` does); sending only while ``enabled``."""
    await services.sandbox_control.set_webhooks(
        target=edge.rest_url, ca_file=str(services.pki / "ca.pem"), enabled=enabled
    )


def chart(merchant: str, currency: str = "EUR") -> list[AccountOpening]:
    """A small chart of accounts like the domain's: clearing (asset), payable (liability,
    never negative), fees (revenue)."""
    base = f"gw/{merchant}/{currency}"
    return [
        AccountOpening(f"{base}/clearing", currency, "ASSET", owner=merchant),
        AccountOpening(
            f"{base}/payable",
            currency,
            "LIABILITY",
            owner=merchant,
            debits_must_not_exceed_credits=True,
        ),
        AccountOpening(f"{base}/fees", currency, "REVENUE", owner=merchant),
    ]


def new_merchant() -> str:
    return f"mer_{uuid.uuid4().hex[:12]}"


def currencycloud_at(sandbox: SandboxHandle, ca_file: Path) -> CurrencycloudSettings:
    """GatewaySettings' ``currencycloud`` for the sandbox's simulator (the stack sets the
    same GATEWAY_CURRENCYCLOUD__BASE_URL and __CA_FILE)."""
    return CurrencycloudSettings(base_url=sandbox.base_url("currencycloud"), ca_file=str(ca_file))


@dataclass(frozen=True)
class RunningGateway:
    """The gateway's host and the parts it was built from."""

    host: ServiceHost
    parts: GatewayParts


@asynccontextmanager
async def start_gateway(services: Services, hops_target: str) -> AsyncIterator[RunningGateway]:
    """The gateway's host as ``python -m gateway_svc`` builds it, with its own certificate.

    Its providers are the stack's sandbox (trusting the dev CA that issued its certificate),
    Currencycloud included, so the FX, beneficiary and payout RPCs are served; its ledger and
    audit clients go through the Envoy at ``hops_target`` (internal listener). The reconciler
    runs every 0.2 s, so a test that waits for it does not wait long.
    """
    settings = GatewaySettings(
        listen_addr=LOOPBACK_ANY_PORT,
        database_url=f"sqlite+aiosqlite:///{services.pki.parent / 'gateway-under-test.db'}",
        ledger_addr=hops_target,
        identity_addr=hops_target,
        reconciler_interval_s=0.2,
        **service_tls(services.pki, "gateway"),
        **gateway_providers(services.sandbox, services.pki / "ca.pem"),
        currencycloud=currencycloud_at(services.sandbox, services.pki / "ca.pem"),
    )
    parts = await build_parts(settings)
    host = await create_app(settings, parts)
    await host.start()
    try:
        yield RunningGateway(host, parts)
    finally:
        await host.stop(0)
