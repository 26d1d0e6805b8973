"""One stack for the whole package: the real ledger and identity, the provider sandbox, the
gateway under test with its real provider adapters, and a real Envoy in front of them.

The gateway and Envoy each need the other's address: Envoy routes REST to the gateway, and
the gateway reaches the ledger and identity through Envoy's internal listener. Rather than
guess a free port for one of them, a first Envoy ("hops") serves the gateway's own calls;
the gateway starts on port 0 behind it; then the Envoy the tests call starts with the
gateway's real port.

The services are started once per package (they hold state the tests share), so every test
opens its own merchants, accounts and payments under fresh names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from sandbox.testing import SandboxHandle
from tests.e2e.stack_fixture import Edge, Services, start_edge, start_services
from tests.integration.gateway.fx_support import FxMerchant
from tests.integration.gateway.payments_support import Merchant, new_merchant
from tests.integration.gateway.support import GatewayStack, Pki, point_callbacks, start_gateway


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("gateway")
    async with (
        start_services(workdir) as services,
        start_edge(services, workdir / "hops") as hops,
        start_gateway(services, hops.internal_target) as gateway,
    ):
        upstreams = {**services.upstreams(), "gateway": [f"127.0.0.1:{gateway.host.port}"]}
        edge_dir = workdir / "edge"
        async with start_edge(
            services, edge_dir, upstreams=upstreams, access_log_path=str(edge_dir / "access.log")
        ) as edge:
            # The sandbox's callbacks go to this edge, as make run points them; they are sent
            # only while a test turns them on (test_provider_webhooks_rest.py), so no other
            # test sees a callback it did not ask for.
            await point_callbacks(services, edge, enabled=False)
            yield GatewayStack(services, edge, gateway.host, Pki(services.pki), gateway.parts)


@pytest.fixture(scope="package")
def services(stack: GatewayStack) -> Services:
    return stack.services


@pytest.fixture(scope="package")
def edge(stack: GatewayStack) -> Edge:
    return stack.edge


@pytest.fixture(scope="package")
def pki(stack: GatewayStack) -> Pki:
    return stack.pki


@pytest.fixture(scope="package")
def pki_dir(stack: GatewayStack) -> Path:
    return stack.pki.directory


@pytest.fixture(scope="package")
def sandbox(stack: GatewayStack) -> SandboxHandle:
    return stack.services.sandbox


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def rest(stack: GatewayStack) -> AsyncIterator[httpx.AsyncClient]:
    """One HTTPS client for the package: REST through Envoy, trusting the dev CA."""
    async with stack.edge.rest_client() as client:
        yield client


@pytest_asyncio.fixture(loop_scope="package")
async def merchant(stack: GatewayStack, rest: httpx.AsyncClient) -> Merchant:
    """A fresh merchant with an OWNER key, so no test sees another's payments."""
    return await new_merchant(stack.services, rest)


@pytest_asyncio.fixture(loop_scope="package")
async def fx_merchant(stack: GatewayStack, rest: httpx.AsyncClient) -> FxMerchant:
    """A fresh merchant with an OWNER key (fx, beneficiaries, payouts, balances), calling
    the FX, beneficiary and payout services over REST."""
    return FxMerchant(await new_merchant(stack.services, rest))
