"""One stack for the whole package: the real ledger and identity, a gateway host, and a real
Envoy whose internal listener the gateway's clients call with the gateway's certificate.

The services are started once per package (they hold state the tests share), so every test
opens its own accounts and events under fresh names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.stack_fixture import Edge, Services, start_edge, start_services
from tests.integration.gateway.support import GatewayStack, Pki, start_gateway


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[GatewayStack]:
    workdir = tmp_path_factory.mktemp("gateway")
    async with start_services(workdir) as services, start_gateway(services) as gateway:
        upstreams = {**services.upstreams(), "gateway": [f"127.0.0.1:{gateway.port}"]}
        edge_dir = workdir / "edge"
        async with start_edge(
            services, edge_dir, upstreams=upstreams, access_log_path=str(edge_dir / "access.log")
        ) as edge:
            yield GatewayStack(services, edge, gateway, Pki(services.pki))


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
