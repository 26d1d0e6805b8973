"""Fixtures for tests against a running sandbox: ``sandbox_server`` (TLS) and ``sandbox_plain``.

    from sandbox.testing import SandboxHandle

    async def test_x(sandbox_server: SandboxHandle) -> None:
        async with sandbox_server.client("stripe") as client:      # trusts the dev CA
            reply = await client.post("/v1/payment_intents", data={...}, headers={...})
        await sandbox_server.control.add_fault(provider="stripe", kind="error", status=503)
        state = await sandbox_server.control.state("stripe")
        sandbox_server.base_url("stripe")   # https://127.0.0.1:<port>/stripe
        sandbox_server.ca_file              # the dev CA's PEM, for a gateway's settings
        sandbox_server.config               # SandboxConfig, public_url filled in
        sandbox_server.sim("stripe")        # the in-process simulator object

``control`` (sandbox.control_client.SandboxControl) has add_fault(**spec), faults(),
clear_faults(provider=None), state(provider), reset() and stats(); a refused call raises
ControlRefused with the sandbox's reason. Fault kinds and matching: sandbox.faults.

Each test gets a fresh server (fresh simulator state) on 127.0.0.1:0; the dev PKI is made once
per session (``sandbox_pki``). Mounted: the ``echo`` stand-in (sandbox.testing.EchoSim) and the
providers of ``sandbox_providers``: by default (None) every one in sandbox.registry whose
package exists; a list names them, and a named one without a package is an error. A
provider's tests should mount only their own provider, so another simulator still being
written cannot fail them, by overriding the fixture in the test module::

    @pytest.fixture
    def sandbox_providers() -> list[str]:
        return ["stripe"]

``sandbox_config`` can be overridden the same way (other credentials, a shorter token TTL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig
from sandbox.registry import SimFactory, load_factories
from sandbox.testing import ECHO, EchoSim, SandboxHandle, running_sandbox
from sandbox.tls import ensure_pki_cert
from svc_kit.pki import write_dev_pki

# Long enough for any client timeout a test sets, short enough not to stall teardown.
TEST_HOLD_CAP_S = 10.0


@pytest.fixture(scope="session")
def sandbox_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(ca.pem, sandbox.pem, sandbox-key.pem) in a dev PKI made once per session."""
    pki_dir = tmp_path_factory.mktemp("sandbox-pki")
    write_dev_pki(pki_dir, workloads=())  # the CA only; the sandbox issues its own leaf
    cert, key = ensure_pki_cert(pki_dir)
    return pki_dir / "ca.pem", cert, key


@pytest.fixture
def sandbox_providers() -> list[str] | None:
    """The providers to mount; None: every registered one whose package exists."""
    return None


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """The simulators' credentials: the defaults the gateway's settings use too."""
    return SandboxConfig()


def _factories(providers: list[str] | None) -> dict[str, SimFactory]:
    factories, missing = load_factories(providers)
    if missing and providers is not None:
        # Asked for by name: a test of a provider that is not mounted must fail, not pass.
        raise LookupError(f"sandbox: no package for {missing} (sandbox.registry.PROVIDERS)")
    return {ECHO: EchoSim, **factories}


@pytest.fixture
async def sandbox_server(
    sandbox_pki: tuple[Path, Path, Path],
    sandbox_providers: list[str] | None,
    sandbox_config: SandboxConfig,
) -> AsyncIterator[SandboxHandle]:
    """A sandbox over TLS from the session's dev PKI, stopped after the test."""
    ca_file, cert, key = sandbox_pki
    async with running_sandbox(
        _factories(sandbox_providers),
        sandbox_config,
        cert=(cert, key),
        ca_file=ca_file,
        hold_cap_s=TEST_HOLD_CAP_S,
    ) as handle:
        yield handle


@pytest.fixture
async def sandbox_plain(
    sandbox_providers: list[str] | None, sandbox_config: SandboxConfig
) -> AsyncIterator[SandboxHandle]:
    """The same over plaintext HTTP (no TLS handshake; ``ca_file`` is None)."""
    async with running_sandbox(
        _factories(sandbox_providers), sandbox_config, hold_cap_s=TEST_HOLD_CAP_S
    ) as handle:
        yield handle
