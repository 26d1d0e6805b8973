"""The real services behind a real Envoy that runs the generated edge config.

``start_services`` serves ledger, identity and the gateway in-process (SQLite,
mTLS from a dev PKI, the services' default allow-list: only Envoy's certificate
may call them), and the provider sandbox in-process before the gateway, over
HTTPS with a certificate from the same dev CA, as `make run` does. Every
provider the sandbox simulates is configured in the gateway's settings at
``<sandbox>/<provider>``, trusting the dev CA; a test scripts provider faults
through ``Services.sandbox_control`` (sandbox.control_client). ``start_edge``
runs one Envoy in front of them with the bootstrap ``scripts.envoy_config.render``
makes; a test module may start several (for example with and without
``require_client_cert``). The gateway reaches the ledger and identity's
AuditService through the internal listener of the first edge running, whose
port is reserved before the gateway starts (scripts/stack/ports.py, ``reserve``);
an edge started while another holds it gets a port of its own, unused by the
gateway. Both are meant to be started once per module: the
services and the simulators hold state the tests share, so every test makes its
own merchants, keys, accounts and payments (a test that scripts a fault clears
it: ``await services.sandbox_control.clear_faults()``).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.app import create_app as create_gateway
from gateway_svc.settings import PROVIDER_FIELDS, GatewaySettings
from identity_svc.adapters.pepper import load_pepper
from identity_svc.app import create_app as create_identity
from identity_svc.domain.model import Principal
from identity_svc.domain.permissions import RateLimit, Role
from identity_svc.service_layer.context import CallContext
from identity_svc.service_layer.identity import Identity
from identity_svc.settings import IdentitySettings
from ledger_svc.app import create_app as create_ledger
from ledger_svc.settings import LedgerSettings
from sandbox.config import SandboxConfig
from sandbox.control_client import SandboxControl
from sandbox.registry import load_factories
from sandbox.testing import SandboxHandle, running_sandbox
from sandbox.tls import ensure_pki_cert
from scripts.envoy_config import EdgeConfig, build_descriptor_set, render
from scripts.stack.ports import Reservation, reserve
from svc_kit import db
from svc_kit.pki import write_dev_pki
from svc_kit.server import ServiceHost
from tests.e2e.envoy_support import RunningEnvoy, start_envoy

LOOPBACK_ANY_PORT = "127.0.0.1:0"


def service_tls(pki: Path, workload: str) -> dict[str, Any]:
    """The TLS settings of ``workload``, from the dev PKI."""
    return {
        "tls_cert_file": str(pki / f"{workload}.pem"),
        "tls_key_file": str(pki / f"{workload}-key.pem"),
        "tls_ca_file": str(pki / "ca.pem"),
    }


def gateway_providers(sandbox: SandboxHandle, ca_file: Path) -> dict[str, Any]:
    """GatewaySettings' provider fields for every provider both sides know, at the sandbox."""
    return {
        name: {"base_url": sandbox.base_url(name), "ca_file": str(ca_file)}
        for name in PROVIDER_FIELDS
        if name in sandbox.running.sims
    }


@dataclass
class Services:
    """ledger, identity, gateway and the sandbox, serving; identity's use cases for keys."""

    pki: Path
    descriptor_set: Path
    ledger: ServiceHost
    identity_host: ServiceHost
    gateway: ServiceHost
    identity: Identity
    admin: Principal
    admin_token: str
    sandbox: SandboxHandle
    """The provider simulators the gateway is configured with."""
    internal: Reservation
    """Where the gateway expects Envoy's internal listener (its LEDGER_ADDR)."""
    internal_in_use: bool = False
    """True while an edge listens on ``internal``."""

    @property
    def sandbox_url(self) -> str:
        """``https://127.0.0.1:<port>``; each provider is under ``/<provider>``."""
        return self.sandbox.url

    @property
    def sandbox_ca(self) -> Path:
        """The dev CA that issued the sandbox's certificate (the gateway trusts it)."""
        assert self.sandbox.ca_file is not None
        return self.sandbox.ca_file

    @property
    def sandbox_control(self) -> SandboxControl:
        """Script faults, read and reset simulator state (sandbox.control_client)."""
        return self.sandbox.control

    def upstreams(self, authz_protocol: str = "http") -> Mapping[str, list[str]]:
        """EdgeConfig.upstreams for these services; identity_authz per ``authz_protocol``."""
        authz = (
            self.identity_host.side_ports["authz_http"]
            if authz_protocol == "http"
            else self.identity_host.hot_port
        )
        assert authz is not None
        return {
            "ledger": [f"127.0.0.1:{self.ledger.port}"],
            "identity": [f"127.0.0.1:{self.identity_host.port}"],
            "gateway": [f"127.0.0.1:{self.gateway.port}"],
            "identity_authz": [f"127.0.0.1:{authz}"],
        }

    async def key(self, role: Role, limit: RateLimit | None = None) -> str:
        """The secret of a new key of a new merchant, issued by the admin."""
        ctx = CallContext(self.admin)
        merchant = await self.identity.create_merchant(
            ctx,
            display_name=f"m-{uuid.uuid4().hex[:8]}",
            default_currency="EUR",
            metadata={},
            status=None,
            request_id="",
        )
        _, token = await self.identity.create_api_key(
            ctx,
            merchant.merchant_id,
            display_name="k",
            description="",
            role=role,
            expire_time=None,
            rate_limit=limit,
            request_id="",
        )
        return token


async def _bootstrap(
    settings: IdentitySettings, engine: AsyncEngine
) -> tuple[Identity, Principal, str]:
    identity = Identity(engine, pepper=load_pepper(settings.key_pepper_file, environment="test"))
    _, admin_key, admin_token = await identity.bootstrap_admin()
    admin = Principal(admin_key.merchant_id, admin_key.key_id, Role.ADMIN, "test")
    return identity, admin, admin_token


@asynccontextmanager
async def start_services(workdir: Path) -> AsyncIterator[Services]:
    """Ledger, identity and gateway on SQLite under ``workdir``, the sandbox, a fresh dev PKI."""
    pki = workdir / "pki"
    write_dev_pki(pki)
    descriptor_set = workdir / "paymesh.pb"
    build_descriptor_set(descriptor_set)
    async with AsyncExitStack() as stack:
        internal = reserve(LOOPBACK_ANY_PORT)
        stack.callback(internal.close)
        factories, _ = load_factories()
        sandbox = await stack.enter_async_context(
            running_sandbox(
                factories, SandboxConfig(), cert=ensure_pki_cert(pki), ca_file=pki / "ca.pem"
            )
        )
        services = await stack.enter_async_context(_serving(workdir, pki, sandbox, internal))
        yield services


@asynccontextmanager
async def _serving(
    workdir: Path, pki: Path, sandbox: SandboxHandle, internal: Reservation
) -> AsyncIterator[Services]:
    descriptor_set = workdir / "paymesh.pb"
    identity_db = f"sqlite+aiosqlite:///{workdir / 'identity.db'}"
    identity_settings = IdentitySettings(
        listen_addr=LOOPBACK_ANY_PORT,
        # Both ext_authz protocols: the edge asks over HTTP by default; tests can pick gRPC.
        authz_listen_addr=LOOPBACK_ANY_PORT,
        authz_http_listen_addr=LOOPBACK_ANY_PORT,
        database_url=identity_db,
        key_pepper_file=str(workdir / "pepper"),
        cache_refresh_interval_s=0.1,
        **service_tls(pki, "identity"),
    )
    ledger = await create_ledger(
        LedgerSettings(
            listen_addr=LOOPBACK_ANY_PORT,
            database_url=f"sqlite+aiosqlite:///{workdir / 'ledger.db'}",
            **service_tls(pki, "ledger"),
        )
    )
    identity_host = await create_identity(identity_settings)
    # Envoy needs the gateway's cluster (PaymentService is transcoded), and the gateway
    # needs Envoy's internal listener: it connects lazily, once an edge listens there.
    gateway = await create_gateway(
        GatewaySettings(
            listen_addr=LOOPBACK_ANY_PORT,
            ledger_addr=internal.addr,
            identity_addr=internal.addr,
            database_url=f"sqlite+aiosqlite:///{workdir / 'gateway.db'}",
            **service_tls(pki, "gateway"),
            **gateway_providers(sandbox, pki / "ca.pem"),
        )
    )
    await ledger.start()
    await identity_host.start()
    await gateway.start()
    engine = db.make_engine(identity_db)
    try:
        identity, admin, admin_token = await _bootstrap(identity_settings, engine)
        yield Services(
            pki,
            descriptor_set,
            ledger,
            identity_host,
            gateway,
            identity,
            admin,
            admin_token,
            sandbox,
            internal,
        )
    finally:
        await engine.dispose()
        await gateway.stop(0)
        await identity_host.stop(0)
        await ledger.stop(0)


@dataclass
class Edge:
    """One running Envoy in front of ``services``."""

    services: Services
    envoy: RunningEnvoy
    config: EdgeConfig

    @property
    def rest_url(self) -> str:
        # "localhost": the dev certificates name it (and 127.0.0.1).
        return f"https://localhost:{self.envoy.ports['rest']}"

    @property
    def internal_target(self) -> str:
        return f"localhost:{self.envoy.ports['internal']}"

    def rest_client(self, cert: str | None = None) -> httpx.AsyncClient:
        """An HTTPS client that trusts the dev CA, presenting ``cert``'s certificate if given.

        ``cert`` names a certificate in the PKI directory (``client`` for
        client.pem / client-key.pem) or is a path prefix of a pair elsewhere.
        """
        trust = ssl.create_default_context(cafile=str(self.services.pki / "ca.pem"))
        if cert is not None:
            prefix = cert if "/" in cert else str(self.services.pki / cert)
            trust.load_cert_chain(f"{prefix}.pem", f"{prefix}-key.pem")
        return httpx.AsyncClient(base_url=self.rest_url, verify=trust, timeout=5.0)

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.services.admin_token}"}

    async def access_log_line(
        self, matches: Callable[[dict[str, Any]], bool], timeout_s: float = 3.0
    ) -> dict[str, Any]:
        """The last access log line ``matches`` accepts, waiting for Envoy to flush it."""
        path = Path(self.config.access_log_path)
        deadline = time.monotonic() + timeout_s
        while True:
            text = await asyncio.to_thread(_read_if_exists, path)
            lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
            found = [line for line in lines if matches(line)]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching access log line in {path}:\n{text}")
            await asyncio.sleep(0.05)


def _read_if_exists(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@asynccontextmanager
async def start_edge(services: Services, workdir: Path, **options: Any) -> AsyncIterator[Edge]:
    """Envoy with the generated config; ``options`` are EdgeConfig fields (upstreams included).

    Its internal listener is the one the gateway calls unless another edge has it already.
    """
    options.setdefault("upstreams", services.upstreams())
    claims = "internal_addr" not in options and not services.internal_in_use
    if claims:
        options["internal_addr"] = services.internal.addr
    config = EdgeConfig(
        rest_addr=LOOPBACK_ANY_PORT,
        admin_addr=LOOPBACK_ANY_PORT,
        pki_dir=services.pki,
        descriptor_set=services.descriptor_set,
        **{"internal_addr": LOOPBACK_ANY_PORT, **options},
    )
    services.internal_in_use = services.internal_in_use or claims
    try:
        async with start_envoy(render(config), workdir) as envoy:
            yield Edge(services, envoy, config)
    finally:
        if claims:
            services.internal_in_use = False
